"""The process's speech engines, built on first use per spec and then shared (models load once)."""

from __future__ import annotations

import threading

from workbench.settings import Settings
from workbench.voice.stt import SpeechToText, build_stt
from workbench.voice.tts import TextToSpeech, build_tts


class SpeechEngines:
    """Speech-to-text and text-to-speech engines by spec; ``None`` means the configured default."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stt: dict[str, SpeechToText] = {}
        self._tts: dict[str, TextToSpeech] = {}
        self._lock = threading.Lock()

    def stt(self, spec: str | None = None) -> SpeechToText:
        spec = spec or self.settings.stt_model
        with self._lock:
            if spec not in self._stt:
                self._stt[spec] = build_stt(spec, self.settings)
            return self._stt[spec]

    def tts(self, spec: str | None = None) -> TextToSpeech:
        spec = spec or self.settings.tts_voice
        with self._lock:
            if spec not in self._tts:
                self._tts[spec] = build_tts(spec, self.settings)
            return self._tts[spec]

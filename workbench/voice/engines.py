"""The process's speech engines, built on first use per spec and then shared (models load once).

Each kind keeps at most ``speech_cache_size`` engines, dropping the least recently used, so the specs clients
send cannot grow the process; a voice and a speech-to-text model must be ones on offer
(:func:`~workbench.voice.tts.check_voice`, :func:`~workbench.voice.stt.check_stt`): no spec a client sends is a path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from cachetools import LRUCache

from workbench.settings import Settings
from workbench.voice.stt import SpeechToText, build_stt, check_stt
from workbench.voice.tts import TextToSpeech, build_tts, check_voice

Engine = TypeVar("Engine")


class EngineCache(LRUCache[str, Engine]):
    """Engines by spec, the least recently used dropped past ``size``."""

    def __init__(self, size: int) -> None:
        super().__init__(maxsize=size)

    def get_or_build(self, spec: str, build: Callable[[], Engine]) -> Engine:
        if spec not in self:
            self[spec] = build()
        return self[spec]  # a read makes it the most recently used


class SpeechEngines:
    """Speech-to-text and text-to-speech engines by spec; ``None`` means the configured default."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stt: EngineCache[SpeechToText] = EngineCache(settings.speech_cache_size)
        self._tts: EngineCache[TextToSpeech] = EngineCache(settings.speech_cache_size)
        self._lock = threading.Lock()

    def stt(self, spec: str | None = None) -> SpeechToText:
        """The speech-to-text model ``spec`` names; :class:`~workbench.errors.ConfigurationError` for one not on
        offer (:func:`~workbench.voice.stt.check_stt`)."""
        spec = check_stt(spec or self.settings.stt_model, self.settings)
        with self._lock:
            return self._stt.get_or_build(spec, lambda: build_stt(spec, self.settings))

    def tts(self, spec: str | None = None) -> TextToSpeech:
        """The voice ``spec`` names; :class:`~workbench.errors.ConfigurationError` for one not on offer."""
        spec = check_voice(spec or self.settings.tts_voice, self.settings)
        with self._lock:
            return self._tts.get_or_build(spec, lambda: build_tts(spec, self.settings))

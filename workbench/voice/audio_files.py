"""Speech from and to files on disk (``workbench transcribe`` and ``workbench say``), under the limits a socket's
audio gets: a recording is read no further than the size limit and decoded no longer than the duration limit."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from workbench.settings import Settings
from workbench.voice.audio import SAMPLE_RATE, AudioError, AudioErrorCode, DecodedAudio, decode_audio, wav_bytes
from workbench.voice.stt import Transcript, build_stt
from workbench.voice.tts import Speech, build_tts, synthesize

LONGEST_SPEECH_S = 24 * 3600
"""No limit in practice on what a voice we chose says: the text bounds it."""


def read_recording(path: Path, settings: Settings) -> DecodedAudio:
    """The recording in ``path`` decoded to 16 kHz mono; :class:`~workbench.voice.audio.AudioError` naming the file
    when it cannot be read, is not audio, or is too large or too long."""
    try:
        with path.open("rb") as source:
            data = source.read(settings.max_audio_bytes + 1)  # one byte over the limit is enough to refuse it
    except OSError as exc:
        raise AudioError("invalid_audio", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return decode_audio(data, None, max_bytes=settings.max_audio_bytes, max_seconds=settings.max_audio_s)
    except AudioError as exc:
        raise AudioError(cast(AudioErrorCode, exc.code), f"{path}: {exc}") from None


def transcribe_file(path: Path, settings: Settings, *, model: str | None, language: str | None) -> Transcript:
    """The words of the recording in ``path``: with the speech-to-text model ``model`` (a spec, or a model path:
    the user named it; default ``settings.stt_model``), in ``language`` ("auto" or "" detects it; default
    ``settings.stt_language``)."""
    if language is not None:
        settings = settings.model_copy(update={"stt_language": None if language in ("", "auto") else language})
    audio = read_recording(path, settings)
    return build_stt(model or settings.stt_model, settings).transcribe(audio)


def mp3_to_wav(audio: bytes) -> bytes:
    """An MP3 clip as 16 kHz mono 16-bit WAV."""
    try:
        decoded = decode_audio(audio, "mp3", max_bytes=len(audio) + 1, max_seconds=LONGEST_SPEECH_S)
    except AudioError as exc:
        raise AudioError(
            cast(AudioErrorCode, exc.code), f"the synthesized audio could not be converted to WAV: {exc}"
        ) from None
    return wav_bytes(decoded.samples, SAMPLE_RATE)


def speak(text: str, output: Path, settings: Settings, *, voice: str | None) -> tuple[Speech, Path, bytes]:
    """``text`` spoken by ``voice`` (a spec or a model path the user named; default ``settings.tts_voice``), as the
    file ``output`` asks for: its MP3 as is for a name ending in .mp3 (gTTS), WAV otherwise (an MP3 voice
    decoded). A WAV voice asked for an .mp3 file is written beside it with the .wav suffix: the speech, the
    path to write and the bytes to write there."""
    speech = synthesize(build_tts(voice or settings.tts_voice, settings), text)
    wants_mp3 = output.suffix.lower() == ".mp3"
    if speech.format == "mp3" and not wants_mp3:
        return speech, output, mp3_to_wav(speech.audio)
    if speech.format == "wav" and wants_mp3:
        return speech, output.with_suffix(".wav"), speech.audio
    return speech, output, speech.audio

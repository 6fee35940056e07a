"""Voice settings: the speech models and voices, the voice sessions, and the bounds on audio input.

A group of :class:`~workbench.settings.Settings`' fields (never built alone: ``Settings`` gives them the
``WORKBENCH_`` environment prefix).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

from workbench.settings.env_lists import split


class SpeechSettings(BaseModel):
    """Speech-to-text and text-to-speech, the personas, and what a voice session keeps."""

    model_config = ConfigDict(defer_build=True)  # never built alone: Settings builds the whole

    stt_model: str = Field(
        default="local/tiny.en",
        description='"local/tiny.en" (bundled), a faster-whisper model folder or size name, "groq/<model>", '
        '"openai/<model>".',
    )
    stt_language: str | None = Field(default="en", description="Spoken language; None lets Whisper detect it.")
    stt_beam_size: int = Field(default=1, ge=1, le=10)
    stt_vad_filter: bool = Field(default=True, description="Skip silence with Silero VAD before decoding.")
    stt_compute_type: str = Field(default="int8", description="CTranslate2 compute type for local Whisper.")
    stt_window_s: float = Field(
        default=10.0,
        ge=10,
        le=30,
        description="Shortest window local Whisper's encoder reads, in seconds (a short utterance is read with this "
        "much silence, not Whisper's 30 s: about a third of the time, the same words); 30 reads every window whole.",
    )
    tts_voice: str = Field(
        default="piper/joe-us", description='"piper/joe-us" (bundled), "piper/<path.onnx>", "gtts/<language>".'
    )
    tts_timeout_s: float = Field(default=10.0, gt=0, description="Network limit for a cloud voice before falling back.")
    voice_persona: str = Field(default="assistant", description="Persona used when a turn names none.")
    personas_dir: Path | None = Field(default=None, description="Extra persona YAML files (override bundled ones).")
    voice_max_history: int = Field(default=20, ge=2, description="Messages kept per voice session.")
    voice_session_ttl_s: float = Field(default=3600.0, gt=0, description="Idle time after which a session restarts.")
    warm_speech: bool = Field(
        default=True,
        description="Load the speech models and the voice persona's model in the background at server start.",
    )
    max_audio_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest audio input accepted.")
    max_audio_s: float = Field(default=120.0, gt=0, description="Longest audio input accepted, in seconds.")
    vad_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Silero VAD speech probability above which a 32 ms window is speech."
    )
    vad_start_ms: int = Field(
        default=96, ge=32, le=1000, description="Speech needed before a streamed turn starts (or barges in)."
    )
    turn_pause_ms: int = Field(
        default=160,
        ge=32,
        le=5000,
        description="Silence after which a streamed turn's speech so far is transcribed, in case the turn is ending.",
    )
    turn_end_silence_ms: int = Field(
        default=500,
        ge=32,
        le=5000,
        description="Trailing silence that ends a streamed turn once its transcript ends a sentence (. ? !).",
    )
    turn_end_max_silence_ms: int = Field(
        default=1500,
        ge=100,
        le=10000,
        description="Trailing silence that ends a streamed turn whatever its transcript (a pause mid-sentence).",
    )
    partial_interval_s: float = Field(
        default=0.8, gt=0, description="Audio time between partial transcripts of a streamed turn."
    )
    barge_in: bool = Field(default=True, description="Speech streamed during a reply interrupts it.")
    reply_ahead: bool = Field(
        default=True,
        description="Begin a streamed turn's reply at the user's pause on a whole sentence, while the silence "
        "confirms the end of the turn (a local model; dropped if the user goes on).",
    )
    speech_cache_size: int = Field(default=4, ge=1, description="Speech engines of each kind kept loaded at once.")
    stt_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Speech-to-text models clients may choose besides local/tiny.en and stt_model (faster-whisper "
        "folders or cached sizes, comma-separated); a client names one exactly as written here.",
    )
    tts_voices: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Voices clients may choose besides piper/joe-us, gTTS, tts_voice and the personas' voices "
        "(comma-separated, e.g. piper//srv/voices/amy.onnx); a client names one exactly as written here.",
    )

    @field_validator("stt_models", "tts_voices", mode="before")
    @classmethod
    def _split_specs(cls, value: object) -> object:
        """Model and voice specs: ``a,b`` (a spec may hold colons and slashes) or JSON."""
        return split(value, r",")

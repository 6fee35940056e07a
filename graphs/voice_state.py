"""State and per-run context of the voice graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.channels import UntrackedValue
from langgraph.graph.message import add_messages

from graphs.context import GraphContext


class VoiceInput(TypedDict, total=False):
    """One turn: recorded speech (base64) or typed text. Send the other key as null: a turn that failed
    before its input was consumed leaves its text in the thread's state (never its audio)."""

    audio: Annotated[str | None, UntrackedValue]
    """The recording, base64-encoded (wav, mp3, webm, ogg or flac). Never checkpointed: it lives in the memory of
    the run that reads it (see :mod:`workbench.voice.private_input`)."""
    audio_format: str | None
    """The declared container format; checked against the data. None: detect it."""
    text: str | None
    """A typed turn instead of audio (skips speech to text), or the transcript of a streamed turn."""
    heard: dict[str, Any] | None
    """How a streamed turn's ``text`` was transcribed while the user spoke: ``model``, ``language``, ``audio_s``,
    ``stt_s``, ``transcript_s`` (end of speech to final transcript); no audio."""
    interrupted: dict[str, str] | None
    """The previous turn, which the user spoke over: ``transcript`` and ``spoken`` (the sentences of its reply that
    were heard), kept in the history as that turn."""


class VoiceOutput(TypedDict, total=False):
    """What a turn produces."""

    transcript: str
    """What the user said (or typed)."""
    reply: str
    """The assistant's answer as text."""
    speech: Annotated[str, UntrackedValue]
    """The answer as audio, base64-encoded; empty when speech is off. Never checkpointed: it reaches the client in
    the run's stream (the ``values`` of its last step, and sentence by sentence as ``audio_chunk`` events) and
    is gone from the thread's state once the run ends."""
    speech_format: str
    """``wav`` (Piper) or ``mp3`` (gTTS)."""
    timings: dict[str, float]
    """Stage timings in seconds: stt_s, llm_ttft_s, llm_s, tts_s, first_audio_s, total_s; audio durations; for a
    streamed turn transcript_s (end of speech to final transcript)."""
    models: dict[str, str]
    """The engines that served the turn: stt, llm, tts, persona."""
    notes: list[str]
    """Fallbacks taken during the turn (e.g. the cloud voice was unreachable)."""


class VoiceState(VoiceInput, VoiceOutput, total=False):
    """The whole state, persisted per session (thread) by the checkpointer, except the recording and the spoken
    reply (untracked channels: they live in the memory of the run)."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation, capped to the persona's (or the settings') history length."""
    started_at: float
    """Wall-clock time the current turn started (end of the user's input)."""
    turn_id: str
    """Id of the current turn (hands the pipelined speaker from ``respond`` to ``synthesize``)."""
    last_active: float
    """Wall-clock time of the last finished turn; a session idle past its TTL starts afresh."""


@dataclass(kw_only=True)
class VoiceContext(GraphContext):
    """Per-run knobs; anything left at None falls back to the persona, then the process settings."""

    persona: str | None = None
    """A persona name (see workbench/voice/personas/)."""
    model: str | None = None
    """A "provider/model" chat model string, as for chat."""
    voice: str | None = None
    """A text-to-speech voice by name: piper/joe-us, gtts/<language>, or one the server configures (a path is
    only ever server configuration: WORKBENCH_TTS_VOICE or a persona's voice)."""
    stt_model: str | None = None
    """A speech-to-text model: local/tiny.en, a faster-whisper folder, groq/<model>, openai/<model>."""
    grounded: bool | None = None
    """Ground answers on the chat collection (default: the persona's choice)."""
    collection: str | None = None
    """The collection a grounded persona searches."""
    speak: bool = True
    """Synthesize the reply; False returns text only."""
    pipeline: bool = True
    """Speak each sentence as soon as the model has finished it, while it writes the rest (lower latency to
    first audio); False speaks the whole reply after it is complete."""
    extra: dict[str, Any] | None = None
    """Free-form labels recorded with the run."""

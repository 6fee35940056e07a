"""Messages of the ``/ws/assistant`` (voice) protocol: the client's, validated on the way in, and the server's, the
turn events of :mod:`workbench.events`; both written as JSON Schema.

In: audio as a binary frame or ``{"type": "audio", "data": "<base64>", "format": ...}``, a typed turn
``{"type": "text", "content": ...}``, or ``{"type": "abort"}``; or a live microphone: ``{"type": "stream_start"}``,
binary frames of 16 kHz ``pcm_s16le``, ``{"type": "stream_stop"}``. Out: ``transcription``, the streamed reply as
``{"role": "assistant", "content": ...}`` chunks, ``response``, ``audio``, ``done``; ``retrieval``,
``notice``, ``audio_chunk`` (when asked for) and ``aborted`` are extra types a plain client may ignore. A stream
adds ``speech_started``, partial ``transcription`` (``"partial": true``), ``speech_stopped`` and, when the user
speaks over a reply, ``interrupted`` and a ``done`` whose status is ``interrupted``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from workbench.events import (
    AbortedEvent,
    AudioChunkEvent,
    AudioEvent,
    InterruptedDoneEvent,
    InterruptedEvent,
    NoticeEvent,
    PartialTranscriptionEvent,
    ResponseEvent,
    RetrievalEvent,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    TokenEvent,
    TranscriptionEvent,
    TurnErrorEvent,
    VoiceDoneEvent,
)
from workbench.server.protocol import Abort, SessionId, titled
from workbench.voice.audio import AUDIO_FORMATS, AudioErrorCode
from workbench.voice.streaming import StreamErrorCode

AudioFormatName = Literal["wav", "mp3", "webm", "ogg", "flac"]
assert set(AUDIO_FORMATS) == set(AudioFormatName.__args__)  # type: ignore[attr-defined]


class TurnOptions(BaseModel):
    """Knobs a turn may set; unset ones fall back to the socket's query parameters, then the server."""

    model_config = ConfigDict(extra="forbid")
    session_id: SessionId | None = Field(default=None, description="The conversation; default: the socket's.")
    persona: str | None = Field(default=None, description="A persona name, e.g. assistant or docs-guide.")
    model: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description='A "provider/model" chat model string this server offers.'
    )
    voice: str | None = Field(
        default=None, description="A voice name: piper/joe-us, gtts/<language> or the server's configured voice."
    )
    grounded: bool | None = Field(default=None, description="Ground the answer on the chat collection.")
    speak: bool = Field(default=True, description="Synthesize the reply (False: text only).")
    stream_audio: bool = Field(default=False, description="Also send each sentence's audio as audio_chunk.")


class AudioMessage(TurnOptions):
    """A spoken turn: the recording, base64-encoded."""

    type: Literal["audio"]
    data: Annotated[str, Field(min_length=1)]
    format: AudioFormatName | None = Field(default=None, description="Declared container; None: detect it.")


class TextMessage(TurnOptions):
    """A typed turn (no speech to text)."""

    type: Literal["text"]
    content: Annotated[str, Field(min_length=1)]


class StreamStart(TurnOptions):
    """Start streaming the microphone: binary frames of raw audio follow (10 to 100 ms each); each turn the
    voice activity detector finds is answered like a spoken turn, with this message's knobs."""

    type: Literal["stream_start"]
    sample_rate: int = Field(default=16000, description="Samples per second; the server takes 16000.")
    format: str = Field(default="pcm_s16le", description="Sample encoding; the server takes pcm_s16le (mono).")
    turn_end_silence_ms: Annotated[int, Field(ge=32, le=5000)] | None = Field(
        default=None, description="Silence that ends a turn whose transcript ends a sentence; default: the server's."
    )
    turn_end_max_silence_ms: Annotated[int, Field(ge=100, le=10000)] | None = Field(
        default=None, description="Silence that ends a turn whatever its transcript; default: the server's."
    )


class StreamStop(BaseModel):
    """Stop streaming: a turn in progress ends here; binary frames are whole recordings again."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["stream_stop"]


ClientMessage = TypeAdapter(
    Annotated[AudioMessage | TextMessage | Abort | StreamStart | StreamStop, Field(discriminator="type")]
)
CLIENT_TYPES = ("audio", "text", "abort", "stream_start", "stream_stop")


ErrorCode = Literal[
    "invalid_json",
    "invalid_message",
    "unknown_type",
    "busy",
    "nothing_to_abort",
    "timeout",
    "model_unavailable",
    "invalid_config",
    "internal_error",
    "storage_unavailable",
    "message_too_large",
    "rate_limited",
    AudioErrorCode,
    StreamErrorCode,
]


class VoiceErrorEvent(TurnErrorEvent):
    model_config = ConfigDict(title="Error")
    code: ErrorCode  # the codes this protocol sends, for its schema


ServerMessages = (
    SpeechStartedEvent
    | PartialTranscriptionEvent
    | SpeechStoppedEvent
    | TranscriptionEvent
    | TokenEvent
    | RetrievalEvent
    | ResponseEvent
    | NoticeEvent
    | AudioChunkEvent
    | AudioEvent
    | VoiceDoneEvent
    | AbortedEvent
    | InterruptedEvent
    | InterruptedDoneEvent
    | VoiceErrorEvent
)


def json_schema() -> dict[str, Any]:
    """The protocol as one JSON Schema document: ``client`` and ``server`` message unions."""
    client = titled(ClientMessage.json_schema(ref_template="#/$defs/{model}"))
    server = titled(TypeAdapter(ServerMessages).json_schema(ref_template="#/$defs/{model}"))
    defs = {**client.pop("$defs", {}), **server.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://agent-workbench.dev/protocols/assistant.schema.json",
        "title": "Agent Workbench /ws/assistant protocol",
        "description": "Messages a client sends (client; audio may also be a binary frame) and the server sends "
        "(server) over /ws/assistant.",
        "$defs": {**defs, "client": client, "server": server},
        "oneOf": [{"$ref": "#/$defs/client"}, {"$ref": "#/$defs/server"}],
    }

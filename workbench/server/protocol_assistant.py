"""Messages of the ``/ws/assistant`` (voice) protocol: the client's, validated on the way in, and the server's, the
turn events of :mod:`workbench.events`; both written as JSON Schema.

In: audio as a binary frame or ``{"type": "audio", "data": "<base64>", "format": ...}``, a typed turn
``{"type": "text", "content": ...}``, or ``{"type": "abort"}``. Out: ``transcription``, the streamed reply as
``{"role": "assistant", "content": ...}`` chunks, ``response``, ``audio``, ``done``; ``retrieval``,
``notice``, ``audio_chunk`` (when asked for) and ``aborted`` are extra types a plain client may ignore.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from workbench.events import (
    AbortedEvent,
    AudioChunkEvent,
    AudioEvent,
    NoticeEvent,
    ResponseEvent,
    RetrievalEvent,
    TokenEvent,
    TranscriptionEvent,
    TurnErrorEvent,
    VoiceDoneEvent,
)
from workbench.server.protocol import Abort, SessionId, titled
from workbench.voice.audio import AUDIO_FORMATS, AudioErrorCode

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


ClientMessage = TypeAdapter(Annotated[AudioMessage | TextMessage | Abort, Field(discriminator="type")])
CLIENT_TYPES = ("audio", "text", "abort")


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
]


class VoiceErrorEvent(TurnErrorEvent):
    model_config = ConfigDict(title="Error")
    code: ErrorCode  # the codes this protocol sends, for its schema


ServerMessages = (
    TranscriptionEvent
    | TokenEvent
    | RetrievalEvent
    | ResponseEvent
    | NoticeEvent
    | AudioChunkEvent
    | AudioEvent
    | VoiceDoneEvent
    | AbortedEvent
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

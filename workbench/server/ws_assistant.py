"""``/ws/assistant``: voice turns (audio or text in; transcript, streamed reply, reply audio out).

Query parameters set the socket's defaults: ``session_id`` (else a new one per socket), ``persona``, ``voice``,
``model``, ``format`` (declared format of binary frames) and ``stream_audio``. A binary frame is one
recording. Bad audio gets an ``error`` event with a specific code and the socket and session stay usable;
a text frame over the limit (the base64 of the largest accepted recording) also just gets an error.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket
from pydantic import BaseModel, ValidationError

from workbench.events import AudioChunkEvent, Event
from workbench.server.dependencies import get_voice_service
from workbench.server.protocol import Abort
from workbench.server.protocol_assistant import (
    CLIENT_TYPES,
    AudioFormatName,
    AudioMessage,
    ClientMessage,
    TextMessage,
    TurnOptions,
)
from workbench.server.sockets import TurnSocket
from workbench.turns.voice import VoiceService, VoiceTurn

router = APIRouter()


def text_frame_limit(max_audio_bytes: int) -> int:
    """Largest JSON message: the base64 of the largest recording plus room for the other fields."""
    return 4 * ((max_audio_bytes + 2) // 3) + 16 * 1024


class AssistantSocket(TurnSocket):
    """A ``/ws/assistant`` connection."""

    client_adapter = ClientMessage
    client_types = CLIENT_TYPES
    close_when_oversized = False

    def __init__(self, websocket: WebSocket, service: VoiceService, defaults: TurnOptions, binary_format: str | None):
        super().__init__(websocket, text_frame_limit(service.settings.max_audio_bytes), service.settings)
        self.service = service
        self.defaults = defaults
        self.binary_format = binary_format
        self.session_id = defaults.session_id or uuid.uuid4().hex
        self.stream_audio = defaults.stream_audio
        self.voice_turn: VoiceTurn | None = None

    async def on_bytes(self, data: bytes) -> None:
        await self.start(VoiceTurn(session_id=self.session_id, audio=data, audio_format=self.binary_format), None)

    async def on_message(self, message: BaseModel) -> None:
        if isinstance(message, Abort):
            await self.abort()
            return
        assert isinstance(message, AudioMessage | TextMessage)
        turn = VoiceTurn(session_id=message.session_id or self.session_id)
        if isinstance(message, AudioMessage):
            try:
                turn.audio = base64.b64decode(message.data, validate=True)
            except (binascii.Error, ValueError) as exc:
                await self.error("invalid_audio", f"'data' is not valid base64: {exc}")
                return
            turn.audio_format = message.format
        else:
            turn.text = message.content
        await self.start(turn, message)

    async def start(self, turn: VoiceTurn, options: TurnOptions | None) -> None:
        chosen = options.model_dump(exclude_unset=True) if options else {}
        knobs = {**self.defaults.model_dump(exclude_unset=True), **chosen}
        turn.persona, turn.model, turn.voice = knobs.get("persona"), knobs.get("model"), knobs.get("voice")
        turn.grounded, turn.speak = knobs.get("grounded"), knobs.get("speak", True)
        turn.entry_point = "ws"
        self.stream_audio = bool(knobs.get("stream_audio", False))
        if await self.refused(lambda: self.service.check(turn)):
            return
        run_id = str(uuid.uuid4())
        if not self.busy():
            self.voice_turn = turn
        await self.start_turn(self.service.stream(turn, run_id), run_id, turn.session_id)

    async def settle(self, run_id: str, status: str) -> None:
        if self.voice_turn is not None:
            await self.service.settle(self.voice_turn, run_id, status)

    async def forward(self, event: Event) -> None:
        if self.stream_audio or not isinstance(event, AudioChunkEvent):
            await self.send(event)


@router.websocket("/ws/assistant")
async def assistant_socket(
    websocket: WebSocket,
    service: Annotated[VoiceService, Depends(get_voice_service)],
    session_id: str | None = None,
    persona: str | None = None,
    voice: str | None = None,
    model: str | None = None,
    format: str | None = None,
    stream_audio: bool = False,
) -> None:
    given: dict[str, Any] = {"session_id": session_id, "persona": persona, "voice": voice, "model": model}
    try:
        defaults = TurnOptions.model_validate(
            {**{k: v for k, v in given.items() if v is not None}, "stream_audio": stream_audio}
        )
    except ValidationError as exc:
        await websocket.close(code=1008, reason=f"invalid query parameters: {exc.errors()[0]['msg']}"[:120])
        return
    declared: AudioFormatName | None = format if format in AudioFormatName.__args__ else None  # type: ignore
    if format is not None and declared is None:
        await websocket.close(code=1008, reason=f"format must be one of {', '.join(AudioFormatName.__args__)}")  # type: ignore
        return
    await AssistantSocket(websocket, service, defaults, declared).serve()

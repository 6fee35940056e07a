"""``/ws/assistant``: voice turns (audio or text in; transcript, streamed reply, reply audio out).

Query parameters set the socket's defaults: ``session_id`` (else a new one per socket), ``persona``, ``voice``,
``model``, ``format`` (declared format of binary frames) and ``stream_audio``. A binary frame is one
recording, or, between ``stream_start`` and ``stream_stop``, a frame of the live microphone
(:class:`~workbench.voice.streaming.SpeechStream` finds its turns, and each is answered as a turn whose text is its
transcript; speech during a reply interrupts it). Bad audio gets an ``error`` event with a specific code and the
socket and session stay usable; a text frame over the limit (the base64 of the largest accepted recording) also
just gets an error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket
from pydantic import BaseModel, ValidationError

from workbench.errors import WorkbenchError
from workbench.events import (
    AudioChunkEvent,
    Event,
    InterruptedDoneEvent,
    InterruptedEvent,
    SpeechStartedEvent,
    TranscriptionEvent,
)
from workbench.server.dependencies import get_voice_service
from workbench.server.protocol import Abort
from workbench.server.protocol_assistant import (
    CLIENT_TYPES,
    AudioFormatName,
    AudioMessage,
    ClientMessage,
    StreamStart,
    StreamStop,
    TextMessage,
    TurnOptions,
)
from workbench.server.sockets import TurnSocket
from workbench.turns.voice import ReplyAhead, VoiceService, VoiceTurn
from workbench.voice.formats import sniff_format
from workbench.voice.streaming import SpeechStream, StreamError, Utterance, check_stream

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
        self.stream: SpeechStream | None = None
        self.stream_options: StreamStart | None = None
        self.said = ""
        """What the user said in the running turn (its transcript, or its text)."""
        self.spoken: list[str] = []
        """The sentences of the running reply whose audio has been sent."""
        self.interrupted: dict[str, str] | None = None
        """The turn the user last spoke over, until the next turn's history takes it."""
        self.ahead = ReplyAhead(service)
        """The reply begun at the user's last pause, until the turn ends or goes on."""

    async def serve(self) -> None:
        try:
            await super().serve()
        finally:
            self.ahead.stop()
            if self.stream is not None:
                self.stream.close()

    def metered(self, frame: Mapping[str, Any]) -> bool:
        return self.stream is None or frame.get("bytes") is None

    async def on_bytes(self, data: bytes) -> None:
        if self.stream is not None:
            try:
                await self.stream.feed(data)
            except StreamError as exc:
                await self.error(exc.code, str(exc))
            return
        if data and sniff_format(data) is None:
            await self.error(
                "stream_not_started",
                "a binary frame is a whole recording (wav, mp3, webm, ogg or flac); send stream_start before raw "
                "audio frames",
            )
            return
        await self.start(VoiceTurn(session_id=self.session_id, audio=data, audio_format=self.binary_format), None)

    async def on_message(self, message: BaseModel) -> None:
        if isinstance(message, Abort):
            await self.abort()
            return
        if isinstance(message, StreamStart | StreamStop):
            await self.restream(message)
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

    def configure(self, turn: VoiceTurn, options: TurnOptions | None) -> bool:
        """Set ``turn``'s knobs from the socket's defaults and ``options``; whether its audio is streamed."""
        chosen = options.model_dump(exclude_unset=True) if options else {}
        knobs = {**self.defaults.model_dump(exclude_unset=True), **chosen}
        turn.persona, turn.model, turn.voice = knobs.get("persona"), knobs.get("model"), knobs.get("voice")
        turn.grounded, turn.speak = knobs.get("grounded"), knobs.get("speak", True)
        turn.entry_point = "ws"
        return bool(knobs.get("stream_audio", False))

    async def start(self, turn: VoiceTurn, options: TurnOptions | None) -> None:
        self.stream_audio = self.configure(turn, options)
        if await self.refused(lambda: self.service.check(turn)):
            return
        run_id = str(uuid.uuid4())
        if not self.busy():
            self.voice_turn, self.said, self.spoken = turn, turn.text or "", []
        await self.start_turn(self.service.stream(turn, run_id), run_id, turn.session_id)

    # -- the live microphone ----------------------------------------------------------------------------------

    async def restream(self, message: StreamStart | StreamStop) -> None:
        """Start (or restart) the microphone stream, or stop it: a turn in progress ends there."""
        stream, self.stream = self.stream, None
        if stream is not None:
            await stream.finish()
        if isinstance(message, StreamStop):
            return
        try:
            check_stream(message.sample_rate, message.format)
            stt = await asyncio.to_thread(self.service.resources.speech.stt)
        except WorkbenchError as exc:
            await self.error(exc.code, str(exc))
            return
        self.stream_options = message.model_copy(update={"stream_audio": True})  # spoken sentence by sentence
        self.stream = SpeechStream(
            stt,
            self.service.settings,
            self,
            end_silence_ms=message.turn_end_silence_ms,
            max_silence_ms=message.turn_end_max_silence_ms,
        )

    async def hear(self, event: Event) -> None:
        await self.send(event)
        if isinstance(event, SpeechStartedEvent) and self.busy() and self.service.settings.barge_in:
            await self.interrupt()

    def streamed_turn(self, text: str) -> VoiceTurn:
        options = self.stream_options
        session = (options.session_id if options else None) or self.session_id
        return VoiceTurn(session_id=session, text=text, interrupted=self.interrupted)

    async def turn_heard(self, utterance: Utterance) -> None:
        self.ahead.settle(utterance.text)
        turn = self.streamed_turn(utterance.text)
        turn.heard, self.interrupted = utterance, None
        await self.start(turn, self.stream_options)

    async def pausing(self, text: str) -> None:
        """The turn may be over: begin its reply now (nothing is sent or written), so that if it is, the reply is
        under way by the time the silence has confirmed it."""
        if self.busy() or self.stream is None:
            return
        turn = self.streamed_turn(text)
        self.configure(turn, self.stream_options)
        self.ahead.begin(turn)

    async def resumed(self) -> None:
        self.ahead.stop()

    async def turn_refused(self, error: WorkbenchError) -> None:
        await self.error(error.code, str(error))

    async def interrupt(self) -> None:
        """The user spoke over the reply: stop it where abort stops a turn, tell the client at once, log it as
        interrupted, and keep what the user heard for the session's history (the next turn writes it)."""
        run_id = self.run_id
        if not await self.stop_turn():
            return
        spoken = " ".join(self.spoken)
        self.interrupted = {"transcript": self.said, "spoken": spoken}
        await self.send(InterruptedEvent(run_id=run_id))
        if run_id is not None:
            await self.settle(run_id, "interrupted")
        await self.send(InterruptedDoneEvent(run_id=run_id, status="interrupted", spoken=spoken))

    async def settle(self, run_id: str, status: str) -> None:
        if self.voice_turn is not None:
            await self.service.settle(self.voice_turn, run_id, status)

    async def forward(self, event: Event) -> None:
        if isinstance(event, TranscriptionEvent):
            self.said = event.text
        if self.stream_audio or not isinstance(event, AudioChunkEvent):
            await self.send(event)
            if isinstance(event, AudioChunkEvent):
                self.spoken.append(event.text)


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

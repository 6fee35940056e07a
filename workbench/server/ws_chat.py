"""``/ws/chat``: streamed RAG chat turns with abort, one turn at a time per socket, and turns that stop on a
question for a human.

A turn that reaches an ``interrupt`` ends with an ``interrupt`` event and leaves its session waiting (in the
checkpoints, so across restarts and for every socket): a ``user_message`` to a waiting session is answered with the
same ``interrupt`` event, ``resume`` runs it on with the answer and ends with ``done``, and ``abort`` drops the
question (the session goes back to where its last finished turn ended). ``resume`` without an answer runs on a
session that has steps left to run (a fork).

Every bad message is answered with an ``error`` event and the socket stays usable, except an oversized one,
which closes the socket with 1009 (message too big).
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket
from pydantic import BaseModel

from workbench.errors import WorkbenchError
from workbench.events import AbortedEvent, DoneEvent, Event, InterruptEvent, PendingQuestion
from workbench.server.dependencies import get_chat_service
from workbench.server.protocol import CLIENT_TYPES, Abort, ClientMessage, Resume, TurnKnobs, UserMessage
from workbench.server.sockets import CLOSE_MESSAGE_TOO_BIG, TurnSocket, failure
from workbench.turns.chat import ChatService, SessionBusy, TurnRequest

log = logging.getLogger(__name__)
router = APIRouter()
__all__ = ["CLOSE_MESSAGE_TOO_BIG", "ChatSocket", "router"]


class ChatSocket(TurnSocket):
    """A ``/ws/chat`` connection."""

    client_adapter = ClientMessage
    client_types = CLIENT_TYPES

    def __init__(self, websocket: WebSocket, service: ChatService, max_bytes: int) -> None:
        super().__init__(websocket, max_bytes, service.settings)
        self.service = service
        self.request: TurnRequest | None = None
        self.waiting: tuple[TurnRequest, str | None] | None = None
        """The session this socket last heard waits on a question, and the run that stopped on it."""

    async def on_message(self, message: BaseModel) -> None:
        if isinstance(message, Abort):
            await (self.abort() if self.busy() or self.waiting is None else self.abandon())
            return
        if not isinstance(message, UserMessage | Resume):
            return
        request = turn_request(message)
        if await self.refused(lambda: self.service.check(request)):
            return
        if self.busy():
            await self.error("busy", "a turn is already running on this socket; send abort or wait for done")
            return
        try:
            questions = await self.service.pending(request)
        except WorkbenchError as exc:  # the turn itself fails the same way, and ends as any failed turn does
            log.info("session %s: whether it waits is not known (%s); the turn starts", request.session_id, exc)
            questions = []
        if isinstance(message, UserMessage) and questions:
            await self.remind(request, questions)
            return
        if isinstance(message, Resume) and not await self.resumable(request, bool(questions)):
            return
        run_id = str(uuid.uuid4())
        self.request = request
        await self.start_turn(self.service.stream(request, run_id), run_id, request.session_id)

    async def forward(self, event: Event) -> None:
        if isinstance(event, InterruptEvent) and self.request is not None:
            self.waiting = (self.request, event.run_id)
        elif isinstance(event, DoneEvent) and self.waiting and self.request is self.waiting[0]:
            self.waiting = None
        await self.send(event)

    async def remind(self, request: TurnRequest, questions: list[Any]) -> None:
        """Tell the client that the session waits on a question (asked in an earlier turn, maybe on another socket
        or before a restart): it answers with ``resume`` or drops it with ``abort``."""
        self.waiting = (request, None)
        pending = [PendingQuestion(**q.as_dict()) for q in questions]
        await self.send(InterruptEvent(run_id=None, session_id=request.session_id, interrupts=pending))

    async def resumable(self, request: TurnRequest, waits: bool) -> bool:
        """Whether ``resume`` has something to run on: a question to answer (with an answer), or, without an answer,
        steps left to run (a fork)."""
        if waits and request.resume is None:
            await self.error("invalid_message", "this session waits on a question: send resume with its value")
            return False
        if not waits and request.resume is not None:
            await self.error("nothing_to_resume", "this session waits on no question; send a user_message")
            return False
        if not waits and not await self._runnable(request):
            await self.error("nothing_to_resume", "this session has nothing left to run; send a user_message")
            return False
        return True

    async def _runnable(self, request: TurnRequest) -> bool:
        try:
            return await self.service.runnable(request)
        except WorkbenchError:  # let the run say what fails
            return True

    async def abandon(self) -> None:
        """``abort`` of a turn that waits on a question: the question is dropped, the turn ends as aborted."""
        assert self.waiting is not None
        request, run_id = self.waiting
        self.waiting = None
        try:
            dropped = await self.service.abandon(request)
        except (WorkbenchError, SessionBusy) as exc:
            self.waiting = (request, run_id)
            await self.error(*failure(exc, run_id or ""), run_id)
            return
        if not dropped:
            await self.error("nothing_to_abort", "no turn is running, and the session waits on no question")
            return
        await self.send(AbortedEvent(run_id=run_id))
        await self.send(DoneEvent(run_id=run_id, status="aborted"))

    async def settle(self, run_id: str, status: str) -> None:
        if self.request is not None:
            await self.service.settle(self.request, run_id, status)


def turn_request(message: UserMessage | Resume) -> TurnRequest:
    """The chat service's request for a ``user_message`` or a ``resume``."""
    knobs = {name: getattr(message, name) for name in TurnKnobs.model_fields}
    if isinstance(message, UserMessage):
        return TurnRequest(
            content=message.content, session_id=message.session_id, metadata=dict(message.metadata),
            entry_point="ws", **knobs,
        )  # fmt: skip
    answer = message.values if message.values is not None else message.value
    return TurnRequest(content="", session_id=message.session_id, entry_point="ws", continues=True, resume=answer,
                       **knobs)  # fmt: skip


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket, service: Annotated[ChatService, Depends(get_chat_service)]) -> None:
    await ChatSocket(websocket, service, service.settings.max_message_bytes).serve()

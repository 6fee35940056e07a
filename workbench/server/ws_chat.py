"""``/ws/chat``: streamed RAG chat turns with abort, one turn at a time per socket.

Every bad message is answered with an ``error`` event and the socket stays usable, except an oversized one,
which closes the socket with 1009 (message too big).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket
from pydantic import BaseModel

from workbench.server.dependencies import get_chat_service
from workbench.server.protocol import CLIENT_TYPES, Abort, ClientMessage, UserMessage
from workbench.server.sockets import CLOSE_MESSAGE_TOO_BIG, TurnSocket
from workbench.turns.chat import ChatService, TurnRequest

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

    async def on_message(self, message: BaseModel) -> None:
        if isinstance(message, Abort):
            await self.abort()
        elif isinstance(message, UserMessage):
            request = TurnRequest(
                content=message.content,
                session_id=message.session_id,
                metadata=dict(message.metadata),
                model=message.model,
                collection=message.collection,
                top_k=message.top_k,
                search_mode=message.search_mode,
                prompt_version=message.prompt_version,
                agent=message.agent,
                entry_point="ws",
            )
            if await self.refused(lambda: self.service.check(request)):
                return
            run_id = str(uuid.uuid4())
            if not self.busy():
                self.request = request
            await self.start_turn(self.service.stream(request, run_id), run_id, request.session_id)

    async def settle(self, run_id: str, status: str) -> None:
        if self.request is not None:
            await self.service.settle(self.request, run_id, status)


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket, service: Annotated[ChatService, Depends(get_chat_service)]) -> None:
    await ChatSocket(websocket, service, service.settings.max_message_bytes).serve()

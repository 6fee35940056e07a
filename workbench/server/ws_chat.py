"""``/ws/chat``: streamed RAG chat turns with abort, one turn at a time per socket.

Every bad message is answered with an ``error`` event and the socket stays usable, except an oversized one,
which closes the socket with 1009 (message too big).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from workbench.chat.service import ChatService, SessionBusy, TurnRequest
from workbench.errors import WorkbenchError
from workbench.server.dependencies import get_chat_service
from workbench.server.protocol import CLIENT_TYPES, Abort, ClientMessage, UserMessage

log = logging.getLogger(__name__)
router = APIRouter()
CLOSE_MESSAGE_TOO_BIG = 1009


class ChatSocket:
    """One client connection: reads messages, runs at most one turn, serializes what it sends."""

    def __init__(self, websocket: WebSocket, service: ChatService, max_bytes: int) -> None:
        self.ws = websocket
        self.service = service
        self.max_bytes = max_bytes
        self.turn: asyncio.Task[None] | None = None
        self.run_id: str | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if self.ws.client_state == WebSocketState.CONNECTED:
            await self.ws.send_json(message)

    async def error(self, code: str, message: str, run_id: str | None = None) -> None:
        await self.send({"type": "error", "code": code, "message": message, "run_id": run_id})

    async def serve(self) -> None:
        await self.ws.accept()
        try:
            while True:
                frame = await self.ws.receive()
                if frame["type"] == "websocket.disconnect":
                    return
                if frame.get("bytes") is not None:
                    await self.error("binary_not_supported", "send JSON text messages; binary frames are not accepted")
                    continue
                text = frame.get("text") or ""
                if len(text.encode()) > self.max_bytes:
                    await self.error("message_too_large", f"messages are limited to {self.max_bytes} bytes")
                    await self.ws.close(CLOSE_MESSAGE_TOO_BIG, "message too large")
                    return
                await self.handle(text)
        except WebSocketDisconnect:
            return
        finally:
            await self.stop_turn()

    async def handle(self, text: str) -> None:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            await self.error("invalid_json", f"not valid JSON: {exc.msg} at position {exc.pos}")
            return
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            await self.error("invalid_message", 'a message is a JSON object with a string "type"')
            return
        if raw["type"] not in CLIENT_TYPES:
            await self.error("unknown_type", f"unknown type {raw['type']!r}; expected one of {', '.join(CLIENT_TYPES)}")
            return
        try:
            message = ClientMessage.validate_python(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'message'}: {e['msg']}" for e in exc.errors())
            await self.error("invalid_message", problems)
            return
        if isinstance(message, Abort):
            await self.abort()
        else:
            await self.start_turn(message)

    async def start_turn(self, message: UserMessage) -> None:
        if self.turn is not None and not self.turn.done():
            await self.error("busy", "a turn is already running on this socket; send abort or wait for done")
            return
        request = TurnRequest(
            content=message.content,
            session_id=message.session_id,
            metadata=dict(message.metadata),
            model=message.model,
            collection=message.collection,
            top_k=message.top_k,
            search_mode=message.search_mode,
            prompt_version=message.prompt_version,
            entry_point="ws",
        )
        self.run_id = str(uuid.uuid4())
        self.turn = asyncio.create_task(self.run_turn(request, self.run_id))

    async def run_turn(self, request: TurnRequest, run_id: str) -> None:
        try:
            async for event in self.service.stream(request, run_id):
                match event["type"]:
                    case "token":
                        await self.send({"role": "assistant", "content": event["content"]})
                    case "done":
                        await self.send(
                            {k: event[k] for k in ("type", "run_id", "status", "model", "citations", "citation_mode")}
                        )
                    case _:
                        await self.send(event)
        except SessionBusy:
            await self.error("busy", f"session {request.session_id!r} has a turn running elsewhere", run_id)
        except TimeoutError:
            await self.error("timeout", "the answer took longer than the configured maximum generation time", run_id)
            await self.send({"type": "done", "run_id": run_id, "status": "error"})
        except WorkbenchError as exc:
            await self.error("model_unavailable", str(exc), run_id)
            await self.send({"type": "done", "run_id": run_id, "status": "error"})
        except (WebSocketDisconnect, RuntimeError) as exc:
            log.info("chat socket closed during run %s: %s", run_id, exc)
        except Exception as exc:
            log.exception("chat run %s failed", run_id)
            await self.error("internal_error", f"the run failed: {type(exc).__name__}: {exc}", run_id)
            await self.send({"type": "done", "run_id": run_id, "status": "error"})

    async def stop_turn(self) -> bool:
        """Cancel the running turn and wait until it has stopped; True if one was running."""
        turn, self.turn = self.turn, None
        if turn is None or turn.done():
            return False
        turn.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await turn
        return True

    async def abort(self) -> None:
        run_id = self.run_id
        if not await self.stop_turn():
            await self.error("nothing_to_abort", "no turn is running")
            return
        await self.send({"type": "aborted", "run_id": run_id})
        await self.send({"type": "done", "run_id": run_id, "status": "aborted"})


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket, service: Annotated[ChatService, Depends(get_chat_service)]) -> None:
    await ChatSocket(websocket, service, service.settings.max_message_bytes).serve()

"""``/ws/tasks/{task_id}``: a task's events, the ones so far first, then live ones until it ends.

Many sockets may watch one task; a watcher leaving does not stop it. A socket may send ``{"type": "cancel"}``
to stop the task. Once the task has ended and its last event is sent, the server closes the socket (1000).
An unknown task gets an ``error`` (``task_not_found``) and the socket is closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from workbench.audit.tasks import TaskManager
from workbench.server.dependencies import get_task_manager
from workbench.server.frames import FrameError, TokenBucket, parse_frame
from workbench.server.protocol_tasks import ClientMessage

router = APIRouter()
CLOSE_POLICY = 1008
MAX_CLIENT_BYTES = 4096


async def _send(ws: WebSocket, message: dict) -> None:
    if ws.client_state == WebSocketState.CONNECTED:
        await ws.send_json(message)


async def _read(ws: WebSocket, tasks: TaskManager, task_id: str, rate: TokenBucket) -> None:
    """Client messages: ``cancel``; anything else gets an error and the socket stays open."""
    while True:
        text = await ws.receive_text()
        if not rate.take():
            await _send(ws, _error("rate_limited", "too many messages; slow down"))
            continue
        if len(text.encode()) > MAX_CLIENT_BYTES:
            await _send(ws, _error("message_too_large", "messages are limited to 4 KiB"))
            continue
        try:
            data = parse_frame(text)
        except FrameError as exc:
            await _send(ws, _error(exc.code, str(exc)))
            continue
        if isinstance(data, dict) and data.get("type") not in (None, "cancel"):
            await _send(ws, _error("unknown_type", "the only message is cancel"))
            continue
        try:
            ClientMessage.validate_python(data)
        except ValidationError as exc:
            await _send(ws, _error("invalid_message", str(exc.errors()[0]["msg"])))
            continue
        await tasks.cancel(task_id)


def _error(code: str, message: str) -> dict[str, str]:
    return {"type": "error", "code": code, "message": message}


@router.websocket("/ws/tasks/{task_id}")
async def task_events(websocket: WebSocket, task_id: str, tasks: Annotated[TaskManager, Depends(get_task_manager)]):
    await websocket.accept()
    if not await tasks.known(task_id):
        await _send(websocket, _error("task_not_found", "no such task; list tasks with GET /api/tasks/"))
        await websocket.close(CLOSE_POLICY, "unknown task")
        return
    settings = tasks.settings
    rate = TokenBucket(settings.max_messages_per_s, settings.max_message_burst)
    reader = asyncio.create_task(_read(websocket, tasks, task_id, rate))
    events = aiter(tasks.subscribe(task_id))
    try:
        while True:
            # the next event, or the client leaving: a watcher that goes away while the task is quiet (a long
            # clone, a slow analyzer) must not leave this handler waiting, nor hold up a server shutdown
            following = asyncio.ensure_future(anext(events))
            await asyncio.wait({following, reader}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following
                break
            try:
                event = following.result()
            except StopAsyncIteration:
                await websocket.close(1000, "task ended")
                break
            await _send(websocket, event)
    except WebSocketDisconnect:
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await reader
        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            await events.aclose()  # type: ignore[attr-defined]

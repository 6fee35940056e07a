"""``/ws/tasks/{task_id}``: a task's events, the ones so far first, then live ones until it ends.

Many sockets may watch one task; a watcher leaving does not stop it. A socket may send ``{"type": "cancel"}``
to stop the task; what it sends goes through the same checks as on the turn sockets (rate, size, JSON, type), and a
bad message gets an ``error`` while the socket stays open. Once the task has ended and its last event is sent, the
server closes the socket (1000). An unknown task gets an ``error`` (``task_not_found``) and the socket is closed with
1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, WebSocket
from pydantic import BaseModel, ValidationError

from workbench.events import TASK_EVENTS, ErrorEvent
from workbench.server.dependencies import get_task_manager
from workbench.server.protocol_tasks import ClientMessage
from workbench.server.sockets import SocketClosed, TurnSocket
from workbench.tasks.manager import TaskManager

log = logging.getLogger(__name__)
router = APIRouter()
CLOSE_POLICY = 1008
MAX_MESSAGE_BYTES = 4096
"""A watcher only ever sends ``cancel``: anything longer is refused as too large."""


class TaskSocket(TurnSocket):
    """A ``/ws/tasks/{task_id}`` watcher: its one "turn" is following the task, from the moment it opens."""

    client_adapter = ClientMessage
    client_types = ("cancel",)
    close_when_oversized = False
    error_event = ErrorEvent

    def __init__(self, websocket: WebSocket, tasks: TaskManager, task_id: str) -> None:
        super().__init__(websocket, MAX_MESSAGE_BYTES, tasks.settings)
        self.tasks = tasks
        self.task_id = task_id

    async def opened(self) -> bool:
        if not await self.tasks.known(self.task_id):
            await self.error("task_not_found", "no such task; list tasks with GET /api/tasks/")
            await self.ws.close(CLOSE_POLICY, "unknown task")
            return False
        # a watcher that leaves while the task is quiet (a long clone, a slow analyzer) stops following at once
        self.turn = asyncio.create_task(self.follow())
        return True

    async def follow(self) -> None:
        """Send the task's events until it ends, then close the socket."""
        code, reason = 1000, "task ended"
        try:
            async with contextlib.aclosing(
                cast(AsyncGenerator[dict[str, Any]], self.tasks.subscribe(self.task_id))
            ) as events:
                async for recorded in events:
                    try:
                        event = TASK_EVENTS.validate_python(recorded)
                    except ValidationError as exc:
                        log.warning("task %s: event %s is not a task event: %s", self.task_id, recorded.get("seq"), exc)
                        continue
                    await self.send(event)
        except SocketClosed:  # the watcher left
            return
        except Exception:
            log.exception("task %s: its events could not be read", self.task_id)
            code, reason = 1011, "the task's events could not be read; the server log has the details"
        with contextlib.suppress(RuntimeError):  # the watcher left meanwhile
            await self.ws.close(code, reason)

    async def on_message(self, message: BaseModel) -> None:
        await self.tasks.cancel(self.task_id)


@router.websocket("/ws/tasks/{task_id}")
async def task_events(
    websocket: WebSocket, task_id: str, tasks: Annotated[TaskManager, Depends(get_task_manager)]
) -> None:
    await TaskSocket(websocket, tasks, task_id).serve()

"""What every WebSocket protocol shares: bounded JSON parsing with clear errors, a message rate and size limit per
socket, one turn at a time per socket and a few per client address, abort, the mapping of failures to ``error``
events whose messages say what to do (the details of an unexpected failure stay in the server log), and one way an
event goes out (:func:`workbench.events.wire`).

Every turn ends with a terminal event: ``done`` (after an ``error`` when it failed), whatever the failure, unless
the client is gone. "The client is gone" is known only from a send that finds the socket closed
(:class:`SocketClosed`), never guessed from an exception's type: a graph's own ``RuntimeError`` (LangGraph's
``GraphRecursionError``, a tool's ``NotImplementedError``) is a failed turn like any other.

A protocol subclasses :class:`TurnSocket` with its client message adapter, what a valid message does
(:meth:`on_message`), what a binary frame does (:meth:`on_bytes`), which events of a turn its client gets
(:meth:`forward`) and, for a socket that streams from the moment it opens (``/ws/tasks``), :meth:`opened`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.websockets import WebSocketState

from workbench.errors import WorkbenchError
from workbench.events import AbortedEvent, DoneEvent, ErrorEvent, Event, InterruptEvent, TurnErrorEvent, wire
from workbench.runtime import SessionBusy
from workbench.server.frames import ClientTurns, FrameError, TokenBucket, parse_frame
from workbench.settings import Settings

log = logging.getLogger(__name__)
CLOSE_MESSAGE_TOO_BIG = 1009


class SocketClosed(Exception):
    """A send found the client's socket closed: the client is gone, and nothing more can reach it."""


def client_turns(websocket: WebSocket, settings: Settings) -> ClientTurns:
    """The application's count of running turns per client address (made on first use)."""
    state = websocket.app.state
    if getattr(state, "client_turns", None) is None:
        state.client_turns = ClientTurns(settings.max_turns_per_client)
    return state.client_turns


class TurnSocket:
    """One client connection: reads messages, runs at most one turn, serializes what it sends."""

    client_adapter: TypeAdapter[Any]
    client_types: tuple[str, ...]
    close_when_oversized = True
    error_event: ClassVar[type[ErrorEvent]] = TurnErrorEvent
    """The protocol's ``error`` (a turn protocol's names the run; ``/ws/tasks``' has no runs)."""

    def __init__(self, websocket: WebSocket, max_text_bytes: int, settings: Settings) -> None:
        self.ws = websocket
        self.max_text_bytes = max_text_bytes
        self.turn: asyncio.Task[None] | None = None
        self.run_id: str | None = None
        self.rate = TokenBucket(settings.max_messages_per_s, settings.max_message_burst)
        self.client = websocket.client.host if websocket.client else "unknown"
        self.client_turns = client_turns(websocket, settings)

    # -- sending ------------------------------------------------------------------------------------------

    async def send(self, event: Event) -> None:
        """Send ``event``; :class:`SocketClosed` when the client is gone (whichever way the server noticed)."""
        if self.ws.client_state != WebSocketState.CONNECTED:
            raise SocketClosed
        try:
            await self.ws.send_json(wire(event))
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:  # closed meanwhile: starlette, uvicorn
            raise SocketClosed from exc

    async def error(self, code: str, message: str, run_id: str | None = None) -> None:
        if issubclass(self.error_event, TurnErrorEvent):
            await self.send(self.error_event(code=code, message=message, run_id=run_id))
        else:
            await self.send(self.error_event(code=code, message=message))

    async def forward(self, event: Event) -> None:
        """Send one event of a turn, if the client is to get it (default: every one)."""
        await self.send(event)

    # -- receiving ----------------------------------------------------------------------------------------

    async def opened(self) -> bool:
        """Called once the socket is accepted, before it reads; False ends it (the protocol said why)."""
        return True

    async def serve(self) -> None:
        await self.ws.accept()
        if not await self.opened():
            return
        try:
            while True:
                frame = await self.ws.receive()
                if frame["type"] == "websocket.disconnect":
                    return
                if self.metered(frame) and not self.rate.take():
                    await self.error("rate_limited", "too many messages; slow down and send this one again")
                    continue
                if frame.get("bytes") is not None:
                    await self.on_bytes(frame["bytes"])
                    continue
                text = frame.get("text") or ""
                if len(text.encode()) > self.max_text_bytes:
                    await self.error("message_too_large", f"messages are limited to {self.max_text_bytes} bytes")
                    if self.close_when_oversized:
                        await self.ws.close(CLOSE_MESSAGE_TOO_BIG, "message too large")
                        return
                    continue
                await self.handle(text)
        except (WebSocketDisconnect, SocketClosed):
            return
        finally:
            run_id = self.run_id
            if await self.stop_turn() and run_id is not None:
                await self.settle(run_id, "aborted")

    def metered(self, frame: Mapping[str, Any]) -> bool:
        """Whether ``frame`` counts against the message rate (a protocol's live audio frames need not)."""
        return True

    async def on_bytes(self, data: bytes) -> None:
        await self.error("binary_not_supported", "send JSON text messages; binary frames are not accepted")

    async def on_message(self, message: BaseModel) -> None:
        raise NotImplementedError

    async def handle(self, text: str) -> None:
        try:
            raw = parse_frame(text)
        except FrameError as exc:
            await self.error(exc.code, str(exc))
            return
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            await self.error("invalid_message", 'a message is a JSON object with a string "type"')
            return
        if raw["type"] not in self.client_types:
            expected = ", ".join(self.client_types)
            await self.error("unknown_type", f"unknown type {raw['type'][:40]!r}; expected one of {expected}")
            return
        try:
            message = self.client_adapter.validate_python(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'message'}: {e['msg']}" for e in exc.errors())
            await self.error("invalid_message", problems)
            return
        await self.on_message(message)

    # -- turns --------------------------------------------------------------------------------------------

    async def refused(self, check: Callable[[], object]) -> bool:
        """Run a turn's up-front ``check`` in a thread (what it returns is not used); a refusal is sent as an error
        and no turn starts."""
        try:
            await asyncio.to_thread(check)
        except WorkbenchError as exc:
            await self.error(exc.code, str(exc))
        else:
            return False
        return True

    def busy(self) -> bool:
        return self.turn is not None and not self.turn.done()

    async def start_turn(self, events: AsyncIterator[Event], run_id: str, session_id: str) -> None:
        if self.busy():
            await self.error("busy", "a turn is already running on this socket; send abort or wait for done")
            return
        if not self.client_turns.acquire(self.client):
            limit = self.client_turns.limit
            await self.error("rate_limited", f"this client already runs {limit} turns at once; wait for one to end")
            return
        self.run_id = run_id
        self.turn = asyncio.create_task(self.run_turn(events, run_id, session_id))
        self.turn.add_done_callback(lambda _: self.client_turns.release(self.client))

    async def run_turn(self, events: AsyncIterator[Event], run_id: str, session_id: str) -> None:
        """Forward the turn's events; a failure becomes the run's row, then an ``error`` event and ``done``. The
        socket takes its next turn from the moment the terminal event (``done``, or a failure's ``error``) goes out,
        so a client may send its next message as soon as it hears either."""
        try:
            async for event in events:
                if isinstance(event, DoneEvent | InterruptEvent):  # the turn's last event
                    self.free_slot()
                await self.forward(event)
            return
        except SocketClosed:
            log.info("run %s: the client left before its turn ended", run_id)
            return
        except Exception as exc:
            code, message = failure(exc, run_id)
        try:
            await self.settle(run_id, "error")
        except Exception:
            log.exception("run %s: its failure could not be logged", run_id)
        self.free_slot()
        try:
            await self.error(code, message, run_id)
            await self.send(DoneEvent(run_id=run_id, status="error"))
        except SocketClosed:
            log.info("run %s: the client left before hearing that its turn failed", run_id)

    def free_slot(self) -> None:
        """Called by the running turn as its terminal event goes out: the socket may start the next turn."""
        if self.turn is not None and self.turn is asyncio.current_task():
            self.turn = None

    async def settle(self, run_id: str, status: str) -> None:
        """Make sure the stopped or failed turn ``run_id`` has its run-log row, crash-safe, before the client hears
        of its end (a protocol whose turns are logged overrides this)."""

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
        if run_id is not None:
            await self.settle(run_id, "aborted")
        await self.send(AbortedEvent(run_id=run_id))
        await self.send(DoneEvent(run_id=run_id, status="aborted"))


def failure(exc: BaseException, run_id: str) -> tuple[str, str]:
    """The protocol ``code`` and message a client gets for a turn that failed with ``exc``: a
    :class:`~workbench.errors.WorkbenchError` says what to do in its own words; anything else is logged here with its
    traceback, and the client hears only that it failed and which run to look up."""
    if isinstance(exc, SessionBusy):
        return "busy", "this session has a turn running elsewhere; wait for it to end"
    if isinstance(exc, TimeoutError):
        return "timeout", "the turn took longer than the configured maximum generation time"
    if isinstance(exc, WorkbenchError):
        if exc.code == "storage_unavailable":
            log.warning("run %s: %s", run_id, exc)
        return exc.code, str(exc)
    log.error("run %s failed", run_id, exc_info=exc)
    return "internal_error", f"the turn failed on the server; its log has the details of run {run_id}"

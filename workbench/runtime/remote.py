"""Graphs run on a LangGraph Server (``langgraph dev``, LangGraph Platform, a self-hosted server), over the SDK.

- A session is a thread: its id is derived from the graph and the session id (threads are UUIDs; a session id
  is any string the protocols accept), created on first use with ``{"session_id", "graph"}`` as its metadata.
- Runs stream ``messages-tuple``, ``custom`` and ``values``; ``multitask_strategy="reject"`` makes the server
  refuse a second run on a busy thread (409), which is :class:`SessionBusy` here.
- Cancelling the consumer cancels the run on the server and waits until it stopped. A run whose id has not
  arrived yet is found by the gateway's run id in its metadata; ``on_disconnect="cancel"`` covers the rest.
- A stream is never rejoined (the SDK follows a dropped stream's ``Location``, and a restarted server runs a run
  it lost again from its start: the client would hear the answer twice, or an answer it was told had failed). A
  stream that breaks fails the turn at once (:data:`DROPPED`), and the run is *dropped*: cancelled with
  ``action="rollback"`` (or deleted once it ended), so neither it nor a rerun of it stays in the session's history;
  when the server cannot be reached, that is retried in the background until it answers, and before the next run
  or read of that session. Its row in the run log is then written as ``error``, whatever a rerun logged.
- Audits (``background=True``) are background runs with a resumable stream, joined from the first event.
- The server logs its runs to its run log with the graph's own callback, under the gateway's run id
  (metadata :data:`~workbench.runtime.base.GATEWAY_RUN_ID`).

The SDK client it uses is :mod:`.remote_client`, a run's request and stream translation :mod:`.remote_stream`, and
what the gateway logs of remote runs :mod:`.remote_runlog`, and a session's history, questions and forks
:mod:`.remote_threads`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
from cachetools import LRUCache
from langgraph_sdk.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableEntityError

from workbench.errors import ProviderUnavailable
from workbench.health import Check, failing, ok
from workbench.runtime import remote_threads
from workbench.runtime.base import (
    GATEWAY_RUN_ID,
    GraphFailed,
    GraphName,
    GraphRun,
    GraphRuntime,
    RunPart,
    SessionBusy,
    ThreadNotFound,
)
from workbench.runtime.remote_client import NoRejoin, connect, ended_already
from workbench.runtime.remote_runlog import DROPPED, Dropped, GatewayEvents, log_dropped
from workbench.runtime.remote_stream import LIVE, StreamCut, stream_run, with_messages

__all__ = ["DROPPED", "RETRY_DROPPED_S", "UNREACHABLE", "NoRejoin", "RemoteRuntime", "thread_id", "with_messages"]
log = logging.getLogger(__name__)
T = TypeVar("T")

THREADS = uuid.UUID("4f7c2b1e-9a53-4c1d-8f0e-6b2d7a9c3e51")
"""Namespace of the thread ids derived from sessions."""
_KNOWN_THREADS = 10_000
UNREACHABLE = (
    "the LangGraph Server that runs the graphs does not answer; start it (WORKBENCH_GRAPH_SERVER names it), "
    "or unset WORKBENCH_GRAPH_SERVER to run the graphs in this process"
)
RETRY_DROPPED_S = (0.5, 1.0, 2.0, 5.0)
"""Pauses between attempts to cancel dropped runs on a server that does not answer (the last one repeats)."""


def thread_id(graph: GraphName, session: str) -> str:
    """The server thread holding ``session`` of ``graph`` (the same on every gateway)."""
    return str(uuid.uuid5(THREADS, f"{graph}:{session}"))


class RemoteRuntime(GraphRuntime):
    kind = "remote"
    shares_models = False

    def __init__(self, url: str, api_key: str | None = None, *, timeout_s: float = 10.0, read_s: float = 300.0):
        self.url = url
        self.timeout_s = timeout_s
        self.client = connect(url, api_key, timeout_s=timeout_s, read_s=read_s)
        self._threads: LRUCache[str, None] = LRUCache(maxsize=_KNOWN_THREADS)
        self._on_server: LRUCache[str, None] = LRUCache(maxsize=_KNOWN_THREADS)
        """Gateway run ids of recent runs the server created (and logs itself)."""
        self._dropped: dict[str, Dropped] = {}
        """Dropped runs not yet cancelled on the server, by gateway run id."""
        self._retrying: asyncio.Task[None] | None = None
        self._settling = asyncio.Lock()
        self._down = False
        """Whether the server did not answer last time (the operator is told once per outage)."""

    def _unreachable(self, exc: BaseException) -> ProviderUnavailable:
        if not self._down:  # once per outage; its address stays in the log
            log.warning(
                "the LangGraph Server at %s does not answer (%s); turns fail with model_unavailable until it is "
                "started again",
                self.url,
                exc,
            )
        self._down = True
        return ProviderUnavailable(UNREACHABLE)

    def _answered(self) -> None:
        if self._down:
            log.warning("the LangGraph Server at %s answers again", self.url)
            self._down = False

    async def check(self) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.client.assistants.search(limit=1)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        self._answered()

    async def health(self) -> list[Check]:
        try:
            async with asyncio.timeout(min(self.timeout_s, 2.0)):
                response = await self.client.http.client.get("/ok")
            response.raise_for_status()
        except (httpx.HTTPError, TimeoutError) as exc:
            log.debug("LangGraph Server probe failed: %s", exc)
            return [failing("graph_server", "the LangGraph Server (WORKBENCH_GRAPH_SERVER) does not answer; start it")]
        if self._dropped:
            return [
                failing(
                    "graph_server",
                    f"{len(self._dropped)} dropped run(s) are still to be cancelled on the LangGraph Server",
                )
            ]
        return [ok("graph_server")]

    async def _thread(self, run: GraphRun) -> str:
        session = run.thread if run.thread is not None else run.run_id
        tid = thread_id(run.graph, session)
        await self._settle_dropped(tid)
        if tid in self._threads:
            self._threads[tid]
            return tid
        await self.client.threads.create(
            thread_id=tid, if_exists="do_nothing", metadata={"session_id": session, "graph": run.graph}
        )
        self._answered()
        self._threads[tid] = None
        return tid

    def stream(self, run: GraphRun) -> AsyncIterator[RunPart]:
        return self._stream(run)

    def logged_elsewhere(self, run_id: str) -> bool:
        return run_id in self._on_server

    async def _stream(self, run: GraphRun) -> AsyncIterator[RunPart]:
        created: dict[str, Any] = {}
        events = GatewayEvents(run.run_id)
        tid: str | None = None
        sent = False
        """Whether the run may exist on the server (the request went out)."""
        status = "error"
        try:
            tid = await self._thread(run)
            events.log("request", thread_id=tid)
            sent = True
            async for kind, part in stream_run(self.client, run, tid, created, timeout_s=self.timeout_s):
                if created.get("run_id") and run.run_id not in self._on_server:
                    self._remember(run.run_id)
                    events.log("created", server_run_id=str(created["run_id"]))
                events.saw(kind)
                yield kind, part
            status = "ok"
            self._answered()
        except (asyncio.CancelledError, GeneratorExit):
            status = "aborted"
            if tid is not None:
                await asyncio.shield(self._cancel(tid, created.get("run_id"), run.run_id))
            raise
        except ConflictError:
            status = "busy"
            raise SessionBusy(run.thread or run.run_id) from None
        except (httpx.TransportError, httpx.TimeoutException, StreamCut) as exc:
            if tid is None or not sent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                raise self._unreachable(exc) from None
            status = "dropped"
            log.warning(
                "the LangGraph Server at %s dropped run %s (%s): it stopped or the connection broke; the client is "
                "told, and the run is cancelled there once the server answers (check why the server stopped)",
                self.url,
                run.run_id,
                exc,
            )
            self._drop(Dropped(tid, run.run_id, run.graph, run.thread, created.get("run_id")))
            raise ProviderUnavailable(DROPPED) from None
        except httpx.HTTPStatusError as exc:
            log.error("LangGraph Server refused run %s: %s", run.run_id, exc)
            raise GraphFailed(f"the LangGraph Server refused the run ({exc.response.status_code})") from None
        finally:
            events.end(status)

    def _remember(self, run_id: str) -> None:
        self._on_server[run_id] = None

    async def _cancel(self, tid: str, server_run: str | None, gateway_run: str) -> None:
        """Cancel the run and wait until it stopped (found by its gateway id when its own is not known yet)."""
        try:
            async with asyncio.timeout(self.timeout_s * 3):
                if server_run is None:
                    server_run = await self._find(tid, gateway_run)
                if server_run is not None:
                    with ended_already():
                        await self.client.runs.cancel(tid, server_run, wait=True)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.warning("could not cancel run %s on the LangGraph Server: %s", gateway_run, exc)

    # -- dropped runs ----------------------------------------------------------------------------------------------

    def _drop(self, dropped: Dropped) -> None:
        """Remember ``dropped`` and start cancelling it (in the background: the client hears of the failure now)."""
        self._dropped[dropped.gateway_run] = dropped
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._retry_dropped())

    async def _retry_dropped(self) -> None:
        """Settle the dropped runs until none is left; an attempt that fails in any way is retried, never the end of
        the loop (a dropped run left unsettled keeps the server's verdict in the run log, and may join its session)."""
        attempt = 0
        while self._dropped:
            try:
                await self._settle_dropped(None)
            except Exception:
                log.exception("settling the dropped runs failed; trying again")
            if self._dropped:
                await asyncio.sleep(RETRY_DROPPED_S[min(attempt, len(RETRY_DROPPED_S) - 1)])
                attempt += 1

    async def _settle_dropped(self, tid: str | None) -> None:
        """Cancel the dropped runs (of thread ``tid``, or all); those the server does not answer for stay."""
        if not any(tid is None or d.thread == tid for d in self._dropped.values()):
            return
        async with self._settling:
            for dropped in [d for d in self._dropped.values() if tid is None or d.thread == tid]:
                if await self._cancel_dropped(dropped) and await asyncio.to_thread(log_dropped, dropped):
                    self._dropped.pop(dropped.gateway_run, None)

    async def _cancel_dropped(self, dropped: Dropped) -> bool:
        """Roll ``dropped`` back on the server (a run still pending or running: cancelled and deleted with its
        checkpoints; one that ended, a rerun that finished included: deleted with its checkpoints). False when the
        server does not answer."""
        tid = dropped.thread
        try:
            async with asyncio.timeout(self.timeout_s):
                server_run = dropped.server_run or await self._find(tid, dropped.gateway_run, live=False)
                if server_run is not None:
                    with ended_already():
                        await self.client.runs.cancel(tid, server_run, wait=True, action="rollback")
                    with ended_already():
                        await self.client.runs.delete(tid, server_run)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.debug("dropped run %s not cancelled yet: %s", dropped.gateway_run, exc)
            return False
        log.info("dropped run %s is cancelled on the LangGraph Server and left out of its session", dropped.gateway_run)
        return True

    async def _find(self, tid: str, gateway_run: str, *, live: bool = True) -> str | None:
        """The server's id of the live run the gateway started as ``gateway_run`` (it may still be on its way)."""
        for delay in (0.0, 0.1, 0.2, 0.4):
            await asyncio.sleep(delay)
            for item in await self.client.runs.list(tid, limit=20):
                if (item.get("metadata") or {}).get(GATEWAY_RUN_ID) == gateway_run:
                    self._remember(gateway_run)
                    return str(item["run_id"]) if not live or item.get("status") in LIVE else None
        return None

    async def state(self, graph: GraphName, thread: str) -> dict[str, Any]:
        try:
            await self._settle_dropped(thread_id(graph, thread))
            snapshot = await self.client.threads.get_state(thread_id(graph, thread))
        except NotFoundError:
            return {}
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise self._unreachable(exc) from None
        values = snapshot.get("values") if isinstance(snapshot, dict) else None
        return with_messages(values) if isinstance(values, dict) else {}

    async def threads(self, graph: GraphName, limit: int = 50) -> list[remote_threads.ThreadSummary]:
        return await self._ask(None, lambda: remote_threads.threads(self.client, graph, limit))

    async def history(self, graph: GraphName, thread: str, limit: int = 200) -> list[remote_threads.Checkpoint]:
        tid = thread_id(graph, thread)
        with contextlib.suppress(NotFoundError):
            return await self._ask(tid, lambda: remote_threads.history(self.client, tid, limit))
        return []

    async def waiting(self, graph: GraphName, thread: str) -> list[remote_threads.Interrupt]:
        tid = thread_id(graph, thread)
        with contextlib.suppress(NotFoundError):
            return await self._ask(tid, lambda: remote_threads.waiting(self.client, tid))
        return []

    async def abandon(self, graph: GraphName, thread: str) -> bool:
        tid, metadata = thread_id(graph, thread), {"session_id": thread, "graph": graph}
        try:
            return await self._ask(tid, lambda: remote_threads.abandon(self.client, tid, metadata))
        except NotFoundError:
            return False
        except ConflictError:
            raise SessionBusy(thread) from None

    async def fork(
        self, graph: GraphName, thread: str, checkpoint_id: str, values: dict[str, Any] | None = None
    ) -> tuple[str, remote_threads.Checkpoint]:
        try:
            return await self._ask(
                thread_id(graph, thread),
                lambda: remote_threads.fork(self.client, thread_id, graph, thread, checkpoint_id, values),
            )
        except (NotFoundError, UnprocessableEntityError):
            raise ThreadNotFound(f"session {thread!r} of {graph} has no checkpoint {checkpoint_id!r}") from None
        except BadRequestError as exc:  # the step's routing needs a run's context (the chat graph's ``decide``)
            log.info("the LangGraph Server refused to fork %s at %s: %s", thread, checkpoint_id, exc)
            raise ValueError("this step's state cannot be written outside a run; fork from another step") from None

    async def _ask(self, tid: str | None, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` on the server, after the dropped runs of thread ``tid`` are settled, within a bounded time (a
        history takes several requests): a server that does not answer is :class:`ProviderUnavailable`."""
        try:
            async with asyncio.timeout(self.timeout_s * 3):
                if tid is not None:
                    await self._settle_dropped(tid)
                result = await call()
        except (httpx.TransportError, httpx.TimeoutException, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        self._answered()
        return result

    async def close(self) -> None:
        if self._retrying is not None:
            self._retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._retrying
        for dropped in self._dropped.values():
            log.warning(
                "dropped run %s (server run %s) could not be cancelled on the LangGraph Server before this process "
                "stopped; if the server runs it again, its answer joins the session: cancel it there",
                dropped.gateway_run,
                dropped.server_run or "unknown",
            )
        with contextlib.suppress(Exception):
            await self.client.http.client.aclose()

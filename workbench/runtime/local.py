"""Graphs run in this process, on a LangGraph checkpointer (SQLite by default, Postgres to share sessions).

A session's turn saves a checkpoint after each step (``durability="async"``, unless the run asks otherwise), so
its history can be read and forked at any step; a turn that does not end (it failed, was aborted, or could not be
saved because the database went down or the disk filled up) is rolled back to where the last turn ended, at once
or when the session is next used (:mod:`workbench.runtime.local_threads`): the session is never left with the
question and no answer. Failures of the checkpointer end the turn with
:class:`~workbench.errors.StorageUnavailable` naming the store and what to do (:mod:`workbench.runtime.storage`);
the operator gets one warning when a store starts failing and one line when it works again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal, cast

from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from workbench.errors import StorageUnavailable
from workbench.health import Check, failing, ok
from workbench.reported_errors import ERROR_EVENT
from workbench.resources import Resources
from workbench.runtime import local_fork, local_threads
from workbench.runtime.base import GraphName, GraphRun, GraphRuntime, GraphToken, RunPart
from workbench.runtime.leases import MemoryLeases, SessionLeases
from workbench.runtime.storage import checkpoints_unavailable
from workbench.runtime.threads import Checkpoint, Interrupt, ThreadSummary, fork_session

log = logging.getLogger(__name__)
PROBE_S = 2.0
"""The longest a health probe waits for a store."""

Compiled = CompiledStateGraph[Any, Any, Any, Any]
SESSION_DURABILITY: Literal["sync", "async", "exit"] = "async"
"""How a session turn saves its steps unless the run says: each step, in the background of the next (a history
to read and fork; ``bench/session_checkpoints.py`` measures what it costs against ``exit``, once per turn)."""


def compiled_graph(name: GraphName, checkpointer: BaseCheckpointSaver | None) -> Compiled | None:
    """A built-in graph compiled for in-process runs (the callers pass the run log's callback), or None for a name
    that is not one; each is imported on first use, so a chat turn never loads the audit or voice graphs."""
    if name == "chat":
        from graphs.chat import builder as chat

        return chat.compile(checkpointer=checkpointer, name="chat")
    if name == "voice":
        from graphs.voice import builder as voice

        return voice.compile(checkpointer=checkpointer, name="voice")
    if name == "repo_audit":
        from graphs.repo_audit import builder as repo_audit

        return repo_audit.compile(name="repo_audit")  # an audit has no history to keep
    return None


BUILT_IN = ("chat", "voice", "repo_audit")


class LocalRuntime(GraphRuntime):
    """Runs the graphs in this process; a session is the checkpointer's thread ``session_id``."""

    kind = "in-process"
    shares_models = True

    def __init__(
        self,
        checkpointer: BaseCheckpointSaver | None,
        leases: SessionLeases | None = None,
        *,
        name: str = "memory",
        damaged: str | None = None,
        resources: Resources | None = None,
    ) -> None:
        self.checkpointer = checkpointer
        self.resources = resources
        """The clients every run's context gets where it names none (see :mod:`graphs.context`)."""
        self.leases = leases or MemoryLeases()
        self.graphs: dict[GraphName, Compiled] = {}
        self._agents: dict[tuple[str, str], Compiled] = {}
        self.name = name
        """Where the sessions are kept: "sqlite", "postgres" or "memory"."""
        self.damaged = damaged
        """Why the checkpoint file cannot be used at all (found damaged at start): every session turn fails with it."""
        self.problem: str | None = damaged
        """What the last failure of the checkpoints said, until they work again (for health)."""
        self._storage_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        if name == "postgres":
            import psycopg

            self._storage_errors = (psycopg.Error, sqlite3.Error)

    def stream(self, run: GraphRun) -> AsyncIterator[RunPart]:
        return self._stream(run)

    def thread_id(self, graph: GraphName, session: str) -> str:
        """The checkpointer thread of `session`: the session id itself for the built-in graphs, and one of each
        agent's own (``agent/<name>/<session>``; a session id cannot hold "/"), whose state is shaped by its spec."""
        return session if graph in BUILT_IN else f"agent/{graph}/{session}"

    def graph(self, name: GraphName) -> Compiled:
        """A built-in graph, or the agent spec called `name` compiled on this runtime's checkpointer (again when
        its file changed); :class:`~workbench.errors.ConfigurationError` for an unknown or broken agent."""
        if name in self.graphs:
            return self.graphs[name]
        built_in = compiled_graph(name, self.checkpointer)
        if built_in is not None:
            self.graphs[name] = built_in
            return built_in
        from workbench.agents import catalog
        from workbench.agents.compiler import compile_spec

        agent = catalog.require(name)
        key = (agent.name, agent.digest)
        if key not in self._agents:
            assert agent.spec is not None  # require() returns runnable agents only
            self._agents[key] = compile_spec(agent.spec, folder=agent.path.parent, checkpointer=self.checkpointer)
        return self._agents[key]

    async def _stream(self, run: GraphRun) -> AsyncIterator[RunPart]:
        graph = await asyncio.to_thread(self.graph, run.graph)  # reads and checks the spec file
        config: RunnableConfig = {
            "run_id": uuid.UUID(run.run_id),
            "callbacks": list(run.callbacks),
            "metadata": {**run.metadata, "graph": run.graph, "run_id": run.run_id},  # each checkpoint names its run
        }
        if run.thread is not None:
            config["configurable"] = {"thread_id": self.thread_id(run.graph, run.thread)}
        kwargs: dict[str, Any] = {
            "context": self._with_clients(graph, run.context),
            "stream_mode": list(run.stream_mode),
        }
        if run.thread is None or run.background:  # a background run (an audit) has no session to share
            if run.durability is not None:
                kwargs["durability"] = run.durability
            async for part in self._saved(self._parts(graph, run, config, kwargs)):
                yield part
            return
        kwargs["durability"] = run.durability or SESSION_DURABILITY
        if self.damaged is not None:
            raise StorageUnavailable(self.damaged)
        thread = self.thread_id(run.graph, run.thread)
        async with self.leases.hold(f"{run.graph}:{run.thread}", run.run_id):
            await self._restore(graph, thread)  # a turn cut short before (a crash) does not count
            ended = False
            try:
                async for part in self._saved(self._parts(graph, run, config, kwargs)):
                    yield part
                ended = True
            finally:
                if not ended:
                    await asyncio.shield(self._restore(graph, thread, quiet=True))

    def _with_clients(self, graph: Compiled, context: Any) -> Any:
        """The run's context with this runtime's clients where it has none of its own (an eval variant brings its
        own); a run without a context gets the graph's defaults."""
        if self.resources is None:
            return context
        if context is None:
            schema = graph.context_schema
            if schema is None or not any(f.name == "resources" for f in dataclasses.fields(schema)):
                return None
            return schema(resources=self.resources)
        if (
            dataclasses.is_dataclass(context)
            and not isinstance(context, type)
            and getattr(context, "resources", ...) is None
        ):
            return dataclasses.replace(context, resources=self.resources)
        return context

    async def _saved(self, parts: AsyncIterator[RunPart]) -> AsyncIterator[RunPart]:
        """``parts``, with a failure of the checkpointer raised as :class:`StorageUnavailable`."""
        try:
            async for part in parts:
                yield part
        except self._storage_errors as exc:
            raise self._failed(exc) from None
        self._worked()

    def _failed(self, exc: BaseException) -> StorageUnavailable:
        error = checkpoints_unavailable(self.name, exc)
        if self.problem is None:
            log.warning("session checkpoints (%s) fail: %s; %s", self.name, _first_line(exc), error)
        self.problem = str(error)
        return error

    def _worked(self) -> None:
        if self.problem is not None and self.damaged is None:
            log.warning("session checkpoints (%s) work again", self.name)
            self.problem = None

    async def _restore(self, graph: Compiled, thread: str, quiet: bool = False) -> None:
        """Roll the session back to where its last turn ended if its head is a turn cut short; ``quiet``: after a
        turn that failed, whose own error is what the caller hears (a store that is down fails this too)."""
        if self.checkpointer is None:
            return
        try:
            if await local_threads.restore(graph, self.checkpointer, thread):
                log.info("session %s: a turn that did not end was rolled back", thread)
        except self._storage_errors as exc:
            if not quiet:
                raise self._failed(exc) from None
            log.warning("session %s: the turn that did not end is rolled back when the session is next used", thread)

    @staticmethod
    async def _parts(
        graph: Compiled, run: GraphRun, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> AsyncIterator[RunPart]:
        given: Any = run.input
        if given is None and run.resume is not None:
            given = Command(resume=run.resume)
        stream = graph.astream(given, config, subgraphs=run.subgraphs, **kwargs)
        async for item in cast(AsyncIterator[tuple[Any, ...]], stream):
            namespace, mode, chunk = item if run.subgraphs else ((), *item)
            if mode == "values" and namespace:
                continue  # a subgraph's state: the run's parts are the graph's own
            if mode == "messages":
                message, meta = chunk
                if isinstance(message, AIMessageChunk) and isinstance(message.content, str) and message.content:
                    yield "token", GraphToken(str(meta.get("langgraph_node") or ""), message.content)
            elif mode == "custom":
                if not (isinstance(chunk, dict) and chunk.get("type") == ERROR_EVENT):
                    yield "custom", chunk
            else:
                yield mode, chunk

    async def state(self, graph: GraphName, thread: str) -> dict[str, Any]:
        """The session's state where its last turn ended (a turn running or cut short does not show yet)."""
        compiled = await self._sessions_of(graph)
        try:
            snapshot = await local_threads.settled(compiled, self.thread_id(graph, thread))
        except self._storage_errors as exc:
            raise self._failed(exc) from None
        return dict(snapshot.values) if snapshot is not None and snapshot.values else {}

    async def _sessions_of(self, graph: GraphName) -> Compiled:
        compiled = await asyncio.to_thread(self.graph, graph)
        if self.damaged is not None:
            raise StorageUnavailable(self.damaged)
        return compiled

    def _owner(self, thread: str, metadata: dict[str, Any]) -> tuple[str, str] | None:
        """The graph and session of checkpointer thread ``thread`` (see :meth:`thread_id`)."""
        if thread.startswith("agent/"):
            _, name, session = thread.split("/", 2)
            return name, session
        return str(metadata.get("graph") or "chat"), thread

    async def threads(self, graph: GraphName, limit: int = 50) -> list[ThreadSummary]:
        await self._sessions_of(graph)
        if self.checkpointer is None:
            return []
        try:
            return await local_threads.threads(self.checkpointer, self._owner, graph, limit)
        except self._storage_errors as exc:
            raise self._failed(exc) from None

    async def history(self, graph: GraphName, thread: str, limit: int = 200) -> list[Checkpoint]:
        compiled = await self._sessions_of(graph)
        if self.checkpointer is None:
            return []
        try:
            return await local_threads.history(compiled, self.checkpointer, self.thread_id(graph, thread), limit)
        except self._storage_errors as exc:
            raise self._failed(exc) from None

    async def waiting(self, graph: GraphName, thread: str) -> list[Interrupt]:
        compiled = await self._sessions_of(graph)
        try:
            return await local_threads.pending_interrupts(compiled, self.checkpointer, self.thread_id(graph, thread))
        except self._storage_errors as exc:
            raise self._failed(exc) from None

    async def abandon(self, graph: GraphName, thread: str) -> bool:
        compiled = await self._sessions_of(graph)
        if self.checkpointer is None:
            return False
        async with self.leases.hold(f"{graph}:{thread}", f"abandon-{uuid.uuid4()}"):
            try:
                return await local_threads.abandon(compiled, self.checkpointer, self.thread_id(graph, thread))
            except self._storage_errors as exc:
                raise self._failed(exc) from None

    async def fork(
        self, graph: GraphName, thread: str, checkpoint_id: str, values: dict[str, Any] | None = None
    ) -> tuple[str, Checkpoint]:
        compiled = await self._sessions_of(graph)
        session = fork_session(thread, uuid.uuid4().hex[:8])
        source, target = self.thread_id(graph, thread), self.thread_id(graph, session)
        try:
            await local_fork.fork(compiled, graph, (thread, source), checkpoint_id, target, values or {})
            head = await local_threads.history(compiled, self.checkpointer, target, 1) \
                if self.checkpointer is not None else []  # fmt: skip
        except self._storage_errors as exc:
            raise self._failed(exc) from None
        return session, head[0]

    async def health(self) -> list[Check]:
        return [await self._probe_checkpoints(), await self.leases.health()]

    async def _probe_checkpoints(self) -> Check:
        if self.damaged is not None:
            return failing("checkpoints", self.damaged)
        probe = getattr(self.checkpointer, "conn", None)  # the SQLite connection, or the Postgres pool
        errors: tuple[type[BaseException], ...] = (TimeoutError, *self._storage_errors)
        try:
            async with asyncio.timeout(PROBE_S):
                if self.name == "sqlite" and probe is not None:
                    await (await probe.execute("SELECT count(*) FROM sqlite_master")).fetchall()
                elif self.name == "postgres" and probe is not None:
                    async with probe.connection(timeout=PROBE_S) as conn:
                        await conn.execute("SELECT 1")
        except errors as exc:
            return failing("checkpoints", str(checkpoints_unavailable(self.name, exc)))
        if self.problem is not None:  # reads work; the last write did not
            return failing("checkpoints", self.problem)
        return ok("checkpoints")

    async def close(self) -> None:
        await self.leases.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

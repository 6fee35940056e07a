"""The graph-runtime seam: session leases, errors across the wire, and the remote runtime's mapping of a LangGraph
Server's stream (against a scripted SDK client), including cancel before and after the server names the run."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph_sdk.errors import ConflictError
from langgraph_sdk.schema import StreamPart
from pydantic import ValidationError
from typing_extensions import TypedDict

from tests.conftest import read_only
from workbench.errors import ConfigurationError, ProviderUnavailable, StorageUnavailable, WorkbenchError
from workbench.reported_errors import ERROR_EVENT, reports_errors
from workbench.resources import Resources
from workbench.runlog.callback import row_id
from workbench.runtime import GATEWAY_RUN_ID, GraphFailed, GraphRun, GraphToken, SessionBusy
from workbench.runtime.errors import rebuilt
from workbench.runtime.leases import MemoryLeases, PostgresLeases, SqliteLeases
from workbench.runtime.local import LocalRuntime
from workbench.runtime.remote import RemoteRuntime, thread_id, with_messages
from workbench.settings import Settings
from workbench.testing import exited_owner
from workbench.voice.audio import AudioError

# --- leases -------------------------------------------------------------------------------------------------------


async def exercise(leases, other) -> None:
    """``leases`` and ``other`` are two processes' views of the same lease store."""
    assert await leases.acquire("chat:s1", "run-1")
    assert not await other.acquire("chat:s1", "run-2"), "the other process sees the session busy"
    assert not await leases.acquire("chat:s1", "run-3"), "so does this one"
    assert await other.acquire("voice:s1", "run-4"), "a session of another graph is another lease"
    await other.release("chat:s1", "run-2")  # not its holder: nothing happens
    assert not await other.acquire("chat:s1", "run-5")
    await leases.release("chat:s1", "run-1")
    assert await other.acquire("chat:s1", "run-6")
    assert sorted(await leases.held()) == ["chat:s1", "voice:s1"]


async def test_memory_leases_refuse_a_second_turn_until_released():
    leases = MemoryLeases()
    await exercise(leases, leases)


async def test_sqlite_leases_are_shared_by_processes_on_one_home(tmp_path):
    first, second = SqliteLeases(tmp_path / "sessions.sqlite"), SqliteLeases(tmp_path / "sessions.sqlite")
    try:
        await exercise(first, second)
    finally:
        await first.close()
        await second.close()


async def test_a_lease_of_a_process_that_died_or_stopped_renewing_is_taken_over(tmp_path):
    leases = SqliteLeases(tmp_path / "sessions.sqlite")
    try:
        await leases._run(
            "INSERT INTO workbench_session_turns VALUES (?, ?, ?, ?)",
            ("chat:crashed", "old", exited_owner(), time.time() + 600),
        )
        assert await leases.acquire("chat:crashed", "new"), "its pid is gone on this host: free at once"
        await leases._run(
            "INSERT INTO workbench_session_turns VALUES (?, ?, ?, ?)",
            ("chat:remote", "old", "elsewhere/1/1", time.time() - 1),
        )
        assert await leases.acquire("chat:remote", "new"), "another host's lease that lapsed is free"
        await leases._run(
            "INSERT INTO workbench_session_turns VALUES (?, ?, ?, ?)",
            ("chat:alive", "old", "elsewhere/1/1", time.time() + 600),
        )
        assert not await leases.acquire("chat:alive", "new"), "a live lease elsewhere is respected"
    finally:
        await leases.close()


async def test_hold_renews_while_the_turn_runs_and_releases_when_it_is_cancelled(tmp_path):
    leases = SqliteLeases(tmp_path / "sessions.sqlite")
    leases.ttl_s, leases.renew_s = 0.6, 0.1
    entered = asyncio.Event()

    async def turn() -> None:
        async with leases.hold("chat:s", "r1"):
            entered.set()
            await asyncio.sleep(30)

    try:
        task = asyncio.create_task(turn())
        await entered.wait()
        await asyncio.sleep(1.0)  # past the ttl: only renewing keeps it
        with pytest.raises(SessionBusy):
            async with leases.hold("chat:s", "r2"):
                pass
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await leases.held() == []
    finally:
        await leases.close()


async def test_postgres_leases_are_shared_by_gateway_processes(postgres_url):
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs = {"autocommit": True, "row_factory": dict_row}
    async with (
        AsyncConnectionPool(postgres_url, kwargs=kwargs, open=False) as one,
        AsyncConnectionPool(postgres_url, kwargs=kwargs, open=False) as two,
    ):
        first, second = PostgresLeases(one), PostgresLeases(two)
        await first.setup()
        await second.setup()
        await exercise(first, second)


# --- errors across the wire ---------------------------------------------------------------------------------------


class State(TypedDict, total=False):
    text: str


def test_a_reported_error_is_rebuilt_with_its_class_code_and_message():
    audio = rebuilt({"type": ERROR_EVENT, "error": "AudioError", "code": "no_speech", "message": "say something"})
    assert isinstance(audio, AudioError) and audio.code == "no_speech" and str(audio) == "say something"
    config = rebuilt({"error": "ConfigurationError", "code": None, "message": "unknown voice"})
    assert type(config) is ConfigurationError and str(config) == "unknown voice"
    other = rebuilt({"error": "os.system('x')", "message": "m" * 5000})
    assert type(other) is WorkbenchError and len(str(other)) == 2000


async def test_a_node_writes_its_project_error_to_the_stream_before_raising():
    async def node(state: State) -> State:
        raise ConfigurationError("choose a persona")

    graph = StateGraph(State)
    graph.add_node("node", reports_errors(node))
    graph.add_edge(START, "node")
    seen = []
    with pytest.raises(ConfigurationError):
        async for chunk in graph.compile().astream({"text": "x"}, stream_mode="custom"):
            seen.append(chunk)
    assert seen == [
        {"type": ERROR_EVENT, "error": "ConfigurationError", "code": "invalid_config", "message": "choose a persona"}
    ]


class OneDocument:
    def search(self, *args: Any, **kwargs: Any) -> list:
        return [{"chunk_id": "c1", "source": "a.md", "title": "A", "section": None, "page": None, "text": "t0 t1.",
                 "score": 1.0, "dense_score": 0.9, "sparse_score": 1.0}]  # fmt: skip


async def test_the_local_runtime_yields_tokens_by_node_and_drops_error_events(tmp_path):
    runtime = LocalRuntime(None, resources=chat_resources(tmp_path))
    run = GraphRun("chat", {"messages": [HumanMessage("hello")]}, str(uuid.uuid4()), thread=None)
    parts = [part async for part in runtime.stream(run)]
    kinds = {kind for kind, _ in parts}
    assert kinds == {"custom", "token", "values"}
    tokens = [p for kind, p in parts if kind == "token"]
    assert all(isinstance(t, GraphToken) and t.node == "generate" for t in tokens)
    assert "".join(t.text for t in tokens).startswith("t0 t1")


async def test_the_local_runtime_gives_a_run_its_clients_unless_the_runs_context_brings_its_own(tmp_path):
    from graphs.chat_state import ChatContext

    runtime = LocalRuntime(None, resources=chat_resources(tmp_path, "from the runtime"))
    own = chat_resources(tmp_path, "from the run")

    async def answer(runtime: LocalRuntime, context: ChatContext | None) -> str:
        run = GraphRun("chat", {"messages": [HumanMessage("hi")]}, str(uuid.uuid4()), thread=None, context=context)
        states = [part async for kind, part in runtime.stream(run) if kind == "values"]
        return states[-1]["messages"][-1].content

    assert (await answer(runtime, None)).startswith("from the runtime")  # the graph's defaults, with the clients
    assert (await answer(runtime, ChatContext(top_k=1))).startswith("from the runtime")
    assert (await answer(runtime, ChatContext(resources=own))).startswith("from the run")  # an eval variant's own
    with pytest.raises(ConfigurationError, match="clients in its run context"):
        await answer(LocalRuntime(None), None)  # no process global to fall back on


def test_the_run_log_uses_the_gateway_run_id_when_it_is_a_uuid():
    langchain_id, announced = uuid.uuid4(), str(uuid.uuid4())
    assert row_id(langchain_id, {GATEWAY_RUN_ID: announced}) == announced
    assert row_id(langchain_id, {GATEWAY_RUN_ID: "../../etc/passwd"}) == str(langchain_id)
    assert row_id(langchain_id, {}) == str(langchain_id)


def test_runtime_settings_are_checked():
    with pytest.raises(ValidationError, match="LangGraph Server URL"):
        Settings(graph_server="file:///etc/passwd")
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(checkpointer_url="sqlite:///x.db")
    assert Settings(graph_server=" http://127.0.0.1:2024/ ").graph_server == "http://127.0.0.1:2024"
    assert Settings(graph_server="", checkpointer_url="").graph_server is None


# --- the remote runtime, against a scripted SDK client ------------------------------------------------------------


class Runs:
    def __init__(self, parts: list[StreamPart], *, hang: bool = False, conflict: bool = False) -> None:
        self.parts, self.hang, self.conflict = parts, hang, conflict
        self.requests: list[dict[str, Any]] = []
        self.cancelled: list[tuple[str, str, bool]] = []
        self.listed: list[dict[str, Any]] = []
        self.announce = True
        self.status = "success"
        """The run's status once its stream closed."""

    def stream(self, tid: str, graph: str, **options: Any) -> AsyncIterator[StreamPart]:
        self.requests.append({"thread_id": tid, "graph": graph, **options})
        return self._stream(options)

    async def _stream(self, options: dict[str, Any]) -> AsyncIterator[StreamPart]:
        if self.conflict:
            request = httpx.Request("POST", "http://server/threads/x/runs/stream")
            raise ConflictError("busy", response=httpx.Response(409, request=request), body=None)
        if self.announce:
            options["on_run_created"]({"run_id": "server-run", "thread_id": "t"})
        for part in self.parts:
            yield part
        if self.hang:
            await asyncio.sleep(60)

    async def list(self, tid: str, limit: int = 10) -> list[dict[str, Any]]:
        return self.listed

    async def get(self, tid: str, run_id: str) -> dict[str, Any]:
        return {"run_id": run_id, "status": self.status}

    async def join(self, tid: str, run_id: str) -> dict[str, Any]:
        self.status = "success"
        return {}

    async def cancel(self, tid: str, run_id: str, wait: bool = False) -> None:
        self.cancelled.append((tid, run_id, wait))


class Threads:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    async def create(self, **options: Any) -> dict[str, Any]:
        self.created.append(options)
        return {"thread_id": options["thread_id"]}


def remote(runs: Runs) -> RemoteRuntime:
    runtime = RemoteRuntime("http://127.0.0.1:9", timeout_s=1)
    runtime.client = type("Client", (), {"runs": runs, "threads": Threads()})()  # type: ignore[assignment]
    return runtime


def chat_run(session: str = "s1") -> GraphRun:
    return GraphRun("chat", {"messages": [{"role": "human", "content": "hi"}]}, str(uuid.uuid4()), thread=session)


def token(text: str, node: str = "generate") -> StreamPart:
    return StreamPart("messages", [{"type": "AIMessageChunk", "content": text}, {"langgraph_node": node}])


async def test_a_remote_stream_maps_to_the_same_parts_and_sessions_map_to_threads():
    values = {"messages": [{"type": "human", "content": "hi"}, {"type": "ai", "content": "hello"}], "model": "m"}
    runs = Runs([
        StreamPart("metadata", {"run_id": "server-run"}),
        StreamPart("custom", {"type": "retrieval", "documents": []}),
        token("hel"), token("ignored", node="rewrite"), token("lo"),
        StreamPart("values", values),
    ])  # fmt: skip
    runtime = remote(runs)
    run = chat_run()
    parts = [part async for part in runtime.stream(run)]
    assert [kind for kind, _ in parts] == ["custom", "token", "token", "token", "values"]
    assert [p.node for kind, p in parts if kind == "token"] == ["generate", "rewrite", "generate"]
    final = parts[-1][1]
    assert isinstance(final["messages"][1], AIMessage) and final["messages"][1].content == "hello"
    (request,) = runs.requests
    assert request["thread_id"] == thread_id("chat", "s1") != thread_id("voice", "s1")
    assert request["multitask_strategy"] == "reject" and request["on_disconnect"] == "cancel"
    assert request["metadata"][GATEWAY_RUN_ID] == run.run_id
    assert runtime.logged_elsewhere(run.run_id)
    (thread,) = runtime.client.threads.created
    assert thread["metadata"] == {"session_id": "s1", "graph": "chat"} and thread["if_exists"] == "do_nothing"


async def test_a_busy_thread_is_a_busy_session():
    with pytest.raises(SessionBusy):
        async for _ in remote(Runs([], conflict=True)).stream(chat_run()):
            pass


async def test_a_remote_failure_raises_the_reported_error_or_a_generic_one():
    reported = {"type": ERROR_EVENT, "error": "AudioError", "code": "invalid_audio", "message": "not audio"}
    parts = [StreamPart("custom", reported), StreamPart("error", {"error": "AudioError", "message": "internal"})]
    with pytest.raises(AudioError, match="not audio") as caught:
        async for _ in remote(Runs(parts)).stream(chat_run()):
            pass
    assert caught.value.code == "invalid_audio"
    with pytest.raises(GraphFailed):
        async for _ in remote(Runs([StreamPart("error", {"error": "KeyError", "message": "x"})])).stream(chat_run()):
            pass
    with pytest.raises(TimeoutError):
        async for _ in remote(Runs([StreamPart("error", {"error": "TimeoutError", "message": ""})])).stream(chat_run()):
            pass


async def consume_then_cancel(runtime: RemoteRuntime, run: GraphRun, after: int) -> None:
    seen = asyncio.Event()

    async def consume() -> None:
        count = 0
        async for _ in runtime.stream(run):
            count += 1
            if count >= after:
                seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_the_consumer_cancels_the_server_run_and_waits():
    runs = Runs([token("a"), token("b")], hang=True)
    runtime = remote(runs)
    await consume_then_cancel(runtime, chat_run(), after=2)
    assert runs.cancelled == [(thread_id("chat", "s1"), "server-run", True)]


async def test_a_run_cancelled_before_the_server_named_it_is_found_by_the_gateway_id():
    runs = Runs([token("a")], hang=True)
    runs.announce = False  # the response headers have not arrived: the run id is not known
    run = chat_run()
    runs.listed = [
        {"run_id": "someone-else", "status": "running", "metadata": {GATEWAY_RUN_ID: str(uuid.uuid4())}},
        {"run_id": "ours", "status": "pending", "metadata": {GATEWAY_RUN_ID: run.run_id}},
    ]
    runtime = remote(runs)
    await consume_then_cancel(runtime, run, after=1)
    assert runs.cancelled == [(thread_id("chat", "s1"), "ours", True)]
    assert runtime.logged_elsewhere(run.run_id), "the server logs it: the gateway must not write its row"


async def test_an_unreachable_server_fails_fast_with_what_to_do():
    runtime = RemoteRuntime("http://127.0.0.1:9", timeout_s=2)  # nothing listens on port 9
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="WORKBENCH_GRAPH_SERVER") as caught:
        async for _ in runtime.stream(chat_run()):
            pass
    assert "127.0.0.1" not in str(caught.value) and "Error" not in str(caught.value), "no address, no class"
    with pytest.raises(ProviderUnavailable):
        await runtime.check()
    assert time.monotonic() - started < 30
    await runtime.close()


def test_server_state_without_messages_is_left_as_it_is():
    assert with_messages({"report": {"a": 1}}) == {"report": {"a": 1}}
    assert with_messages({"messages": [{"no": "type"}]}) == {"messages": [{"no": "type"}]}


# --- a server that drops a run --------------------------------------------------------------------------------------


class BrokenBody(httpx.AsyncByteStream):
    """An SSE body that sends one event, then breaks as a killed server's connection does."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'event: metadata\ndata: {"run_id": "server-run"}\n\n'
        yield b'event: messages\ndata: [{"type": "AIMessageChunk", "content": "hel"}, {"langgraph_node": "g"}]\n\n'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def test_a_broken_stream_is_not_rejoined():
    """The SDK follows a stream's Location after a drop; a restarted server would replay the run into it."""
    from workbench.runtime.remote import NoRejoin

    requests: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        headers = {"content-type": "text/event-stream", "location": "/threads/t/runs/server-run/stream"}
        return httpx.Response(200, headers=headers, stream=BrokenBody())

    async def consume() -> list[str]:
        http = httpx.AsyncClient(base_url="http://server", transport=httpx.MockTransport(serve))
        events = []
        with pytest.raises(httpx.RemoteProtocolError):
            async for part in NoRejoin(http).stream("/threads/t/runs/stream", "POST", json={}):
                events.append(part.event)
        return events

    assert asyncio.run(consume()) == ["metadata", "messages"]
    assert len(requests) == 1


class DroppingRuns(Runs):
    """A server that dies mid-stream, is down for ``down`` cancel attempts, then answers."""

    def __init__(self, parts: list[StreamPart], down: int) -> None:
        super().__init__(parts)
        self.down = down
        self.deleted: list[tuple[str, str]] = []
        self.actions: list[str] = []

    async def _stream(self, options: dict[str, Any]) -> AsyncIterator[StreamPart]:
        options["on_run_created"]({"run_id": "server-run", "thread_id": "t"})
        for part in self.parts:
            yield part
        raise httpx.RemoteProtocolError("peer closed connection")

    async def cancel(self, tid: str, run_id: str, wait: bool = False, action: str = "interrupt") -> None:
        if self.down > 0:
            self.down -= 1
            raise httpx.ConnectError("connection refused")
        self.actions.append(action)
        self.cancelled.append((tid, run_id, wait))
        # the run ended meanwhile: cancel(wait=True) answers a plain 404, not the SDK's NotFoundError
        request = httpx.Request("POST", f"http://server/threads/{tid}/runs/{run_id}/cancel")
        raise httpx.HTTPStatusError("404", request=request, response=httpx.Response(404, request=request))

    async def delete(self, tid: str, run_id: str) -> None:
        self.deleted.append((tid, run_id))


async def test_a_dropped_run_fails_at_once_and_is_rolled_back_once_the_server_answers(tmp_path, monkeypatch):
    from workbench.runlog import RunLog, set_runlog
    from workbench.runtime import remote as remote_module
    from workbench.runtime.remote import DROPPED

    monkeypatch.setattr(remote_module, "RETRY_DROPPED_S", (0.01,))
    runlog = RunLog(tmp_path / "runs.duckdb", journal=False)
    set_runlog(runlog)
    try:
        runs = DroppingRuns([token("hel"), token("lo")], down=2)
        runtime = remote(runs)
        run = chat_run()
        seen: list[str] = []
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable) as caught:
            async for _kind, part in runtime.stream(run):
                seen.append(part.text)
        assert str(caught.value) == DROPPED and caught.value.code == "model_unavailable"
        assert seen == ["hel", "lo"] and time.monotonic() - started < 2, "the client hears at once"
        assert runtime._dropped, "the server is down: the run waits to be cancelled"
        deadline = time.monotonic() + 5
        while runtime._dropped:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        tid = thread_id("chat", "s1")
        assert runs.cancelled == [(tid, "server-run", True)] and runs.actions == ["rollback"]
        assert runs.deleted == [(tid, "server-run")], "a rerun that already ended is deleted with its checkpoints"
        row = await asyncio.to_thread(runlog.get_run, run.run_id)
        assert row is not None and (row["status"], row["error"]) == ("error", DROPPED)
        await runtime.close()
    finally:
        set_runlog(None)
        runlog.close()


async def test_a_stream_that_closes_before_its_run_ended_is_a_dropped_run(tmp_path):
    """A server stopped gracefully closes the stream of the run it interrupts as cleanly as a finished one's."""
    from workbench.runlog import RunLog, set_runlog
    from workbench.runtime.remote import DROPPED

    runlog = RunLog(tmp_path / "runs.duckdb", journal=False)
    set_runlog(runlog)
    try:
        runs = Runs([token("a"), StreamPart("values", {"messages": []})])
        runs.status = "interrupted"
        runtime = remote(runs)
        with pytest.raises(ProviderUnavailable, match="dropped") as caught:
            async for _ in runtime.stream(chat_run()):
                pass
        assert str(caught.value) == DROPPED
        runs.status = "running"  # finishing as its stream closes: waited for, and fine
        assert [kind async for kind, _ in runtime.stream(chat_run("s2"))] == ["token", "values"]
        await runtime.close()
    finally:
        set_runlog(None)
        runlog.close()


async def test_the_next_run_of_a_session_waits_until_its_dropped_run_is_rolled_back(tmp_path):
    from workbench.runlog import RunLog, set_runlog

    runlog = RunLog(tmp_path / "runs.duckdb", journal=False)
    set_runlog(runlog)
    try:
        runs = DroppingRuns([token("a")], down=10**6)
        runtime = remote(runs)
        with pytest.raises(ProviderUnavailable):
            async for _ in runtime.stream(chat_run()):
                pass
        runtime._retrying.cancel()  # the server comes back before the background retry tries again
        runs.down = 0
        runs.parts = []
        with pytest.raises(ProviderUnavailable):  # this one is dropped too, after its session was settled
            async for _ in runtime.stream(chat_run()):
                pass
        assert runs.actions[0] == "rollback" and len(runs.requests) == 2
        assert runs.cancelled[0][1] == "server-run"
        await runtime.close()
    finally:
        set_runlog(None)
        runlog.close()


async def test_the_graph_server_health_probe_is_bounded():
    runtime = RemoteRuntime("http://127.0.0.1:9", timeout_s=30)  # nothing listens on port 9
    started = time.monotonic()
    (check,) = await runtime.health()
    assert (check.name, check.ok) == ("graph_server", False) and "WORKBENCH_GRAPH_SERVER" in (check.reason or "")
    assert "127.0.0.1" not in (check.reason or "") and time.monotonic() - started < 5
    await runtime.close()


# --- the in-process runtime's stores failing ------------------------------------------------------------------------


class FailingSaver:
    """An in-memory checkpointer whose writes fail once ``fail`` is set, as a full disk or a stopped database makes
    them fail."""

    def __new__(cls, error: BaseException):
        from langgraph.checkpoint.memory import InMemorySaver

        class Saver(InMemorySaver):
            fail = False

            async def aput(self, *args: Any, **kwargs: Any) -> Any:
                if self.fail:
                    raise error
                return await super().aput(*args, **kwargs)

        return Saver()


def chat_resources(tmp_path, answer: str = "t0 t1 t2") -> Resources:
    """Clients for the chat graph: a store with one passage and a model that always answers ``answer``."""
    from workbench.providers.llm import ModelRegistry
    from workbench.testing import ScriptedChatModel

    settings = Settings(home=tmp_path, llm="fake")
    model = ScriptedChatModel(default=answer)
    return Resources(settings, store=OneDocument(), models=ModelRegistry(settings, {"fake": model}))


def turn(text: str, session: str = "s1") -> GraphRun:
    return GraphRun("chat", {"messages": [HumanMessage(text)]}, str(uuid.uuid4()), thread=session)


async def test_a_turn_whose_checkpoint_write_fails_ends_with_storage_unavailable_and_leaves_the_session_as_it_was(
    tmp_path, caplog
):
    saver = FailingSaver(sqlite3.OperationalError("database or disk is full"))
    runtime = LocalRuntime(saver, name="sqlite", resources=chat_resources(tmp_path))
    assert [kind async for kind, _ in runtime.stream(turn("first"))]
    saver.fail = True
    tokens = []
    with pytest.raises(StorageUnavailable) as caught:
        async for kind, part in runtime.stream(turn("second")):
            if kind == "token":
                tokens.append(part.text)
    assert tokens, "the answer streamed; saving it failed"
    assert caught.value.code == "storage_unavailable" and "checkpoints.sqlite" in str(caught.value)
    assert "/" not in str(caught.value).replace("read/", "") and "Error" not in str(caught.value)
    assert [m.type for m in await runtime.messages("chat", "s1")] == ["human", "ai"], "no question without answer"
    (check, leases) = await runtime.health()
    assert (check.name, check.ok, leases.ok) == ("checkpoints", False, True)
    saver.fail = False
    assert [kind async for kind, _ in runtime.stream(turn("third"))]
    assert [m.content for m in await runtime.messages("chat", "s1") if m.type == "human"] == ["first", "third"]
    assert (await runtime.health())[0].ok
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "checkpoints" in r.getMessage()]
    assert len(warnings) == 2 and "work again" in warnings[1].getMessage(), "one line when failing, one when back"


def damage(path) -> None:
    path.write_bytes(b"this is no database, just garbage " * 200)


async def test_a_damaged_checkpoint_file_is_kept_and_every_session_turn_says_how_to_recover(tmp_path):
    from workbench.runtime import open_runtime

    damage(tmp_path / "checkpoints.sqlite")
    before = (tmp_path / "checkpoints.sqlite").read_bytes()
    async with open_runtime(chat_resources(tmp_path)) as runtime:
        with pytest.raises(StorageUnavailable, match="damaged") as caught:
            async for _ in runtime.stream(turn("hello")):
                pass
        assert "backup" in str(caught.value) and str(tmp_path) not in str(caught.value)
        with pytest.raises(StorageUnavailable, match="damaged"):
            await runtime.messages("chat", "s1")
        checks = {c.name: c for c in await runtime.health()}
        assert not checks["checkpoints"].ok and "damaged" in (checks["checkpoints"].reason or "")
        assert checks["leases"].ok
    assert (tmp_path / "checkpoints.sqlite").read_bytes() == before, "the conversations' file is left as it was"


async def test_a_damaged_lease_file_is_moved_aside_and_made_again(tmp_path, caplog):
    from workbench.runtime import open_runtime

    damage(tmp_path / "sessions.sqlite")
    async with open_runtime(chat_resources(tmp_path)) as runtime:
        assert [kind async for kind, _ in runtime.stream(turn("hello"))]
        assert all(check.ok for check in await runtime.health())
    aside = list(tmp_path.glob("sessions.sqlite.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is no database")
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "lease" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_lease_file_damaged_while_running_is_made_again_on_the_next_connection(tmp_path):
    leases = SqliteLeases(tmp_path / "sessions.sqlite")
    damage(tmp_path / "sessions.sqlite")
    try:
        assert await leases.acquire("chat:s", "r1")
    finally:
        await leases.close()
    assert list(tmp_path.glob("sessions.sqlite.damaged-*"))


async def test_a_read_only_home_is_refused_with_what_to_do(tmp_path):
    from workbench.runtime import open_runtime

    with read_only(tmp_path), pytest.raises(StorageUnavailable, match="not writable") as caught:
        async with open_runtime(Resources(Settings(home=tmp_path))):
            pass
    assert str(tmp_path) not in str(caught.value) and "WORKBENCH_HOME" in str(caught.value)


async def test_the_in_process_runtime_reports_its_stores_healthy(tmp_path):
    from workbench.runtime import open_runtime

    async with open_runtime(Resources(Settings(home=tmp_path))) as runtime:
        assert [(c.name, c.ok) for c in await runtime.health()] == [("checkpoints", True), ("leases", True)]
    assert [(c.name, c.ok) for c in await LocalRuntime(None).health()] == [("checkpoints", True), ("leases", True)]

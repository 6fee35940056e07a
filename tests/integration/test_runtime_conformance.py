"""One protocol suite, three graph runtimes: the gateway cannot be told apart by its clients.

Each test runs against a real ``workbench serve`` whose graphs run
- in-process, sessions in SQLite (the default);
- in-process, sessions in a real PostgreSQL (``WORKBENCH_CHECKPOINTER_URL``);
- on a real ``langgraph dev`` server on a free loopback port (``WORKBENCH_GRAPH_SERVER``), which shares the
  gateway's home, so both processes write one run log: the server logs the runs, the gateway its own events of
  the same runs.

The protocols checked: tokens after the retrieval event, ``done``; abort mid-stream and before the run exists;
disconnect; a busy session refused (by the runtime's side: database lease or the server's multitask reject);
history across reconnect and gateway restart; a voice turn; an audit's events, late replay and cancel. Last,
sessions continued on a second gateway process (Postgres; the LangGraph Server).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import postgres_database
from tests.integration.conftest import (
    ROOT,
    Server,
    dev_server,
    run_cli,
    validate_assistant_message,
    validate_chat_message,
    validate_tasks_message,
)
from workbench.resources import Resources
from workbench.runlog import get_run
from workbench.runlog.queries import get_trace
from workbench.runtime import open_runtime
from workbench.settings import Settings

pytestmark = pytest.mark.integration

RUNTIMES = ["sqlite", "postgres", "remote"]
REPOS = ROOT / "datasets" / "repos"
QUESTION = "How do I configure the data folder?"


@dataclass
class Deployment:
    runtime: str
    home: Path
    """The gateway's home: its run log holds every run (with the remote runtime the server shares it)."""
    gateway: Server
    env: dict[str, str]
    repos: Path

    @property
    def remote(self) -> bool:
        return self.runtime == "remote"

    def settings(self) -> Settings:
        """Settings that open the same runtime as the gateway's, for reading sessions from the test."""
        keys = {"WORKBENCH_CHECKPOINTER_URL": "checkpointer_url", "WORKBENCH_GRAPH_SERVER": "graph_server"}
        return Settings(home=self.home, **{field: self.env[key] for key, field in keys.items() if key in self.env})


@pytest.fixture(scope="module", params=RUNTIMES)
def deployment(request, tmp_path_factory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp(f"runtime-{request.param}")
    home, repos = base / "home", base / "repos"
    home.mkdir()
    repos.mkdir()
    shutil.copytree(REPOS / "inventory-api", repos / "inventory-api")
    big = repos / "big"
    for package in ("requests", "jinja2"):  # ~50 real modules: long enough to cancel mid-run
        module = __import__(package)
        shutil.copytree(Path(module.__file__).parent, big / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        "WORKBENCH_LLM": "fake/slow",
        "WORKBENCH_WARM_SPEECH": "false",
        "WORKBENCH_AUDIT_ALLOWED_ROOTS": str(repos),
    }
    with ExitStack() as stack:
        if request.param == "postgres":
            server = request.getfixturevalue("postgres_server_url")
            env["WORKBENCH_CHECKPOINTER_URL"] = stack.enter_context(postgres_database(server))
        if request.param == "remote":
            ingested = run_cli(home, "ingest", str(ROOT / "datasets" / "corpus"), **env)
            assert ingested.returncode == 0, ingested.stderr
            workdir = base / "langgraph"
            workdir.mkdir()
            server_env = {"WORKBENCH_HOME": str(home), **env}
            env["WORKBENCH_GRAPH_SERVER"] = stack.enter_context(dev_server(home, workdir, server_env))
        gateway = Server(home, env).start()
        stack.callback(lambda: gateway.stop())
        yield Deployment(request.param, home, gateway, env, repos)


# --- helpers ----------------------------------------------------------------------------------------------------


def receive(ws: ClientConnection, timeout: float = 60) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    validate_chat_message(message)
    return message


def send(ws: ClientConnection, content: str, session: str, **extra: Any) -> None:
    ws.send(json.dumps({"type": "user_message", "content": content, "session_id": session, **extra}))


def until_done(ws: ClientConnection) -> list[dict[str, Any]]:
    messages = [receive(ws)]
    while messages[-1].get("type") != "done":
        messages.append(receive(ws))
    return messages


def turn(ws: ClientConnection, content: str, session: str, **extra: Any) -> list[dict[str, Any]]:
    send(ws, content, session, **extra)
    return until_done(ws)


def tokens(messages: list[dict[str, Any]]) -> str:
    return "".join(m["content"] for m in messages if m.get("role") == "assistant")


def chat(deployment: Deployment) -> ClientConnection:
    return connect(f"{deployment.gateway.ws_url}/ws/chat", open_timeout=30)


def logged(deployment: Deployment, run_id: str, *, status: str | None = None, timeout: float = 30) -> dict:
    """The run's row in the run log, once it has ``status`` (the processes write in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        run = get_run(deployment.home / "runs.duckdb", run_id)
        if run is not None and (status is None or run["status"] == status):
            return run
        assert time.monotonic() < deadline, f"run {run_id} not logged as {status}: {run}"
        time.sleep(0.3)


def gateway_span(deployment: Deployment, run_id: str, timeout: float = 30) -> dict[str, Any] | None:
    """The gateway's span of a remote run, once it ended."""
    deadline = time.monotonic() + timeout
    while True:
        trace = get_trace(deployment.home / "runs.duckdb", run_id)
        found = [s for s in (trace or {}).get("spans", []) if s["kind"] == "gateway"]
        if found or time.monotonic() > deadline:
            return found[0] if found else None
        time.sleep(0.3)


def history(deployment: Deployment, graph: str, session: str) -> list[tuple[str, str]]:
    """The session as the runtime keeps it, read through the same seam the gateway uses."""

    async def read() -> list[tuple[str, str]]:
        async with open_runtime(Resources(deployment.settings())) as runtime:
            return [(m.type, str(m.content)) for m in await runtime.messages(graph, session)]  # type: ignore[arg-type]

    return asyncio.run(read())


def session(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# --- chat ---------------------------------------------------------------------------------------------------------


def test_retrieval_comes_first_then_tokens_then_done(deployment: Deployment) -> None:
    with chat(deployment) as ws:
        messages = turn(ws, QUESTION, session("happy"), model="fake/stream")
    retrieval, *chunks, done = messages
    assert retrieval["type"] == "retrieval" and retrieval["documents"]
    assert all(d["source"] and d["chunk_id"] for d in retrieval["documents"])
    assert chunks and all(set(m) == {"role", "content"} for m in chunks)
    assert (done["status"], done["model"], done["run_id"]) == ("ok", "fake/stream", retrieval["run_id"])
    run = logged(deployment, done["run_id"], status="ok")
    assert run["graph"] == "chat" and run["entry_point"] == "ws" and run["output"] == tokens(messages)
    if deployment.remote:  # the server logged the run; the gateway its side of it, under the same id
        span = gateway_span(deployment, done["run_id"])
        assert span is not None and span["status"] == "ok" and span["name"] == "gateway"
        seen = span["attributes"]
        assert 0 <= seen["workbench.gateway.request_ms"] <= seen["workbench.gateway.created_ms"]
        assert seen["workbench.gateway.created_ms"] <= seen["workbench.gateway.first_token_ms"]
        assert seen["workbench.gateway.server_run_id"] and seen["workbench.gateway.parts.token"] == len(chunks)


def spans_of(deployment: Deployment, run_id: str, kinds: set[str], timeout: float = 30) -> list[dict[str, Any]]:
    """The run's spans in the run log, once it has spans of all ``kinds`` and none still running (the processes
    write in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        spans = (get_trace(deployment.home / "runs.duckdb", run_id) or {}).get("spans", [])
        if kinds <= {s["kind"] for s in spans} and all(s["status"] != "running" for s in spans):
            return spans
        assert time.monotonic() < deadline, f"run {run_id} has no spans of {kinds - {s['kind'] for s in spans}}"
        time.sleep(0.3)


def test_a_chat_turn_leaves_its_span_tree_under_the_run_id(deployment: Deployment) -> None:
    """run → retrieve → retrieval, run → generate → LLM call, in one trace whose id is the run id, wherever the
    graph ran (with a LangGraph Server, its process records them under the id the gateway announced)."""
    with chat(deployment) as ws:
        messages = turn(ws, QUESTION, session("traced"), model="fake/stream")
    retrieval_message, done = messages[0], messages[-1]
    run_id = done["run_id"]
    logged(deployment, run_id, status="ok")
    kinds = {"run", "node", "retrieval", "llm", *(["gateway"] if deployment.remote else [])}
    spans = spans_of(deployment, run_id, kinds)

    (root,) = [s for s in spans if s["parent_id"] is None]
    assert (root["kind"], root["name"], root["status"]) == ("run", "chat", "ok")
    assert {s["trace_id"] for s in spans} == {uuid.UUID(run_id).hex}, "trace id = run id"
    nodes = {s["name"]: s for s in spans if s["kind"] == "node"}
    assert {"retrieve", "generate"} <= nodes.keys()
    assert all(node["parent_id"] == root["span_id"] for node in nodes.values())

    (retrieval,) = [s for s in spans if s["kind"] == "retrieval"]
    assert retrieval["parent_id"] == nodes["retrieve"]["span_id"] and retrieval["status"] == "ok"
    assert retrieval["attributes"]["gen_ai.retrieval.query.text"] == QUESTION
    found = json.loads(retrieval["attributes"]["gen_ai.retrieval.documents"])
    shown = retrieval_message["documents"]
    assert [(d["id"], d["score"], d["dense_score"], d["sparse_score"]) for d in found] == [
        (d["chunk_id"], d["score"], d["dense_score"], d["sparse_score"]) for d in shown
    ], "the passages the client was shown, with their fused, dense and sparse scores"
    assert all(d["dense_score"] is not None for d in found) and any(d["sparse_score"] is not None for d in found)

    (llm,) = [s for s in spans if s["kind"] == "llm"]
    assert (llm["name"], llm["parent_id"], llm["status"]) == ("chat fake/stream", nodes["generate"]["span_id"], "ok")
    seen = llm["attributes"]
    prompt = json.loads(seen["gen_ai.input.messages"])
    assert prompt[0]["role"] == "system" and prompt[-1]["role"] == "user"
    assert prompt[-1]["content"].endswith(f"CONTEXT>>>\n\nQuestion: {QUESTION}"), "asked with its passages"
    (answer,) = json.loads(seen["gen_ai.output.messages"])
    assert answer["role"] == "assistant" and answer["content"] == tokens(messages)
    assert seen["gen_ai.usage.input_tokens"] > 0
    assert seen["gen_ai.usage.output_tokens"] == len(answer["content"].split())
    assert 0 < seen["gen_ai.response.time_to_first_chunk"] * 1000 <= llm["duration_ms"]
    if deployment.remote:  # the gateway's own span joins the server's trace under the run's span
        (gateway,) = [s for s in spans if s["kind"] == "gateway"]
        assert gateway["parent_id"] == root["span_id"] and gateway["status"] == "ok"


def test_an_agent_spec_answers_and_keeps_its_own_session(deployment: Deployment) -> None:
    name = session("agent")
    with chat(deployment) as ws:
        first = turn(ws, QUESTION, name, model="fake/stream", agent="rag_chat", top_k=3)
        second = turn(ws, "And after a restart?", name, model="fake/stream", agent="rag_chat")
    retrieval, *_, done = first
    assert retrieval["type"] == "retrieval" and len(retrieval["documents"]) == 3  # the turn's top_k beats the spec's
    assert (done["status"], done["model"]) == ("ok", "fake/stream") and second[-1]["status"] == "ok"
    run = logged(deployment, done["run_id"], status="ok")
    assert (run["graph"], run["entry_point"], run["output"]) == ("rag_chat", "ws", tokens(first))
    kept = history(deployment, "rag_chat", name)
    assert [kind for kind, _ in kept] == ["human", "ai", "human", "ai"] and kept[0][1] == QUESTION
    assert history(deployment, "chat", name) == []  # the chat graph's session of that id is another one


def test_abort_mid_stream_stops_the_run_and_frees_the_session(deployment: Deployment) -> None:
    name = session("abort")
    with chat(deployment) as ws:
        send(ws, QUESTION, name)
        received: list[dict[str, Any]] = []
        while sum(1 for m in received if m.get("role")) < 5:
            received.append(receive(ws))
        ws.send(json.dumps({"type": "abort"}))
        after = until_done(ws)
        acked = next(i for i, m in enumerate(after) if m.get("type") == "aborted")
        assert all(m.get("role") is None for m in after[acked:]), "no token after the abort is acknowledged"
        assert after[-1]["status"] == "aborted"
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)
        assert turn(ws, "And now?", name, model="fake/stream")[-1]["status"] == "ok", "the session is free"
    run = logged(deployment, after[acked]["run_id"], status="aborted")
    assert run["output"].startswith("word0 word1 word2") and len(run["output"].split()) < 400


def test_an_abort_before_the_run_exists_still_stops_it(deployment: Deployment) -> None:
    name = session("early")
    with chat(deployment) as ws:
        send(ws, QUESTION, name)
        ws.send(json.dumps({"type": "abort"}))
        after = until_done(ws)
        kinds = [m.get("type") or "token" for m in after]
        assert "aborted" in kinds and after[-1]["status"] == "aborted"
        assert "token" not in kinds[kinds.index("aborted") :]
        run_id = after[kinds.index("aborted")]["run_id"]
        assert turn(ws, "Still there?", name, model="fake/stream")[-1]["status"] == "ok", "nothing holds the session"
    assert logged(deployment, run_id, status="aborted")["session_id"] == name


def test_a_disconnect_stops_the_run(deployment: Deployment) -> None:
    name = session("gone")
    ws = chat(deployment)
    send(ws, QUESTION, name)
    run_id = receive(ws)["run_id"]
    receive(ws)
    ws.close()
    run = logged(deployment, run_id, status="aborted")
    assert len(run["output"].split()) < 400
    with chat(deployment) as again:
        assert turn(again, "Hello again", name, model="fake/stream")[-1]["status"] == "ok"


def test_a_busy_session_is_refused_from_another_socket(deployment: Deployment) -> None:
    name = session("busy")
    with chat(deployment) as first, chat(deployment) as second:
        send(first, QUESTION, name)
        assert receive(first)["type"] == "retrieval"
        send(second, "Me too", name, model="fake/stream")
        refused = receive(second)
        assert (refused["type"], refused["code"]) == ("error", "busy")
        ended = receive(second)  # a refused turn ends like any failed one
        assert (ended["type"], ended["status"], ended["run_id"]) == ("done", "error", refused["run_id"])
        assert turn(second, "Another session", session("free"), model="fake/stream")[-1]["status"] == "ok"
        first.send(json.dumps({"type": "abort"}))
        assert until_done(first)[-1]["status"] == "aborted"


def test_history_survives_reconnect_and_gateway_restart(deployment: Deployment) -> None:
    name = session("memory")
    with chat(deployment) as ws:
        assert turn(ws, "first question", name, model="fake/stream")[-1]["status"] == "ok"
    with chat(deployment) as ws:
        assert turn(ws, "second question", name, model="fake/stream")[-1]["status"] == "ok"
    deployment.gateway.stop()
    deployment.gateway.start()
    with chat(deployment) as ws:
        assert turn(ws, "third question", name, model="fake/stream")[-1]["status"] == "ok"
    kept = history(deployment, "chat", name)
    assert [kind for kind, _ in kept] == ["human", "ai"] * 3
    assert [text for kind, text in kept if kind == "human"] == ["first question", "second question", "third question"]


# --- human in the loop ------------------------------------------------------------------------------------------


def until_stopped(ws: ClientConnection) -> list[dict[str, Any]]:
    """A turn's messages up to its ``interrupt`` (the session then waits) or its ``done``."""
    messages = [receive(ws)]
    while messages[-1].get("type") not in ("interrupt", "done"):
        messages.append(receive(ws))
    return messages


def send_resume(ws: ClientConnection, name: str, value: Any, **extra: Any) -> None:
    ws.send(json.dumps({"type": "resume", "session_id": name, "value": value, **extra}))


def resume(ws: ClientConnection, name: str, value: Any, **extra: Any) -> list[dict[str, Any]]:
    send_resume(ws, name, value, **extra)
    return until_stopped(ws)


@pytest.mark.parametrize(("agent", "inside"), [("approval", ""), ("nested_approval", "review:")])
def test_a_turn_stops_on_its_question_and_the_answer_runs_it_on_to_done(
    deployment: Deployment, agent: str, inside: str
) -> None:
    name = session("ask")
    with chat(deployment) as ws:
        send(ws, QUESTION, name, model="fake/stream", agent=agent)
        (stopped,) = until_stopped(ws)
        assert (stopped["type"], stopped["session_id"]) == ("interrupt", name)
        (question,) = stopped["interrupts"]
        assert question["value"] == {"question": "Answer this question from the guide?"} and question["id"]
        assert question["namespace"].startswith(inside), "a question asked inside a subgraph says where"
        answered = resume(ws, name, "yes", model="fake/stream", agent=agent)
    # a subgraph's retrieval and answer stream as the agent's own
    assert answered[0]["type"] == "retrieval" and tokens(answered)
    assert answered[-1]["type"] == "done" and answered[-1]["status"] == "ok"
    logged(deployment, answered[-1]["run_id"], status="ok")
    kept = history(deployment, agent, name)
    assert [kind for kind, _ in kept] == ["human", "ai"] and kept[0][1] == QUESTION


def test_a_waiting_session_survives_a_restart_and_every_socket_sees_it_wait(deployment: Deployment) -> None:
    name = session("waits")
    with chat(deployment) as ws:
        send(ws, QUESTION, name, model="fake/stream", agent="approval")
        (first,) = until_stopped(ws)
    deployment.gateway.stop()
    deployment.gateway.start()
    with chat(deployment) as ws:
        send(ws, "Something else?", name, model="fake/stream", agent="approval")
        (reminded,) = until_stopped(ws)
        assert reminded["type"] == "interrupt" and reminded["run_id"] is None, "no new turn starts"
        assert [q["id"] for q in reminded["interrupts"]] == [q["id"] for q in first["interrupts"]]
        send_resume(ws, name, None, agent="approval")
        refused = receive(ws)
        assert (refused["type"], refused["code"]) == ("error", "invalid_message")
        ws.send(json.dumps({"type": "abort"}))
        aborted, done = receive(ws), receive(ws)
        assert (aborted["type"], done["type"], done["status"]) == ("aborted", "done", "aborted")
        send_resume(ws, name, "yes", agent="approval")
        nothing = receive(ws)
        assert (nothing["type"], nothing["code"]) == ("error", "nothing_to_resume")
    assert history(deployment, "approval", name) == [], "the dropped question leaves the session as before it"
    with chat(deployment) as ws:
        send(ws, QUESTION, name, model="fake/stream", agent="approval")
        assert until_stopped(ws)[-1]["type"] == "interrupt", "the session takes new turns"
        assert resume(ws, name, "no", agent="approval")[-1]["status"] == "ok"
    assert history(deployment, "approval", name) == [("human", QUESTION)], "a declined question is not answered"


def test_a_sessions_history_and_a_fork_of_it_over_rest(deployment: Deployment) -> None:
    name = session("rest")
    api = f"{deployment.gateway.url}/api/threads"
    with chat(deployment) as ws:
        first = turn(ws, QUESTION, name, model="fake/stream")
    listed = httpx.get(api, params={"graph": "chat"}, timeout=30).json()["threads"]
    (mine,) = [t for t in listed if t["session_id"] == name]
    assert (mine["first_question"], mine["status"]) == (QUESTION, "idle")
    got = httpx.get(f"{api}/chat/{name}/history", timeout=30).json()
    root = [c for c in got["checkpoints"] if c["namespace"] == ""]
    assert [c["node"] for c in root] == ["generate", "retrieve", "__start__", "input"] and got["waiting"] == []
    assert root[0]["values"]["messages"][-1]["content"] == tokens(first)
    retrieved = root[1]
    assert retrieved["next"] == ["generate"] and retrieved["values"]["retrieved_docs"]
    edit = {"retrieved_docs": retrieved["values"]["retrieved_docs"][:1]}
    made = httpx.post(f"{api}/chat/{name}/fork", json={"checkpoint_id": retrieved["checkpoint_id"], "values": edit},
                      timeout=30)  # fmt: skip
    assert made.status_code == 201, made.text
    fork = made.json()
    assert fork["forked_from"] == {"session_id": name, "checkpoint_id": retrieved["checkpoint_id"]}
    assert fork["head"]["next"] == ["generate"] and len(fork["head"]["values"]["retrieved_docs"]) == 1
    with chat(deployment) as ws:
        ran = resume(ws, fork["session_id"], None, model="fake/stream")
    assert ran[-1]["type"] == "done" and ran[-1]["status"] == "ok" and tokens(ran)
    assert [kind for kind, _ in history(deployment, "chat", fork["session_id"])] == ["human", "ai"]
    assert [kind for kind, _ in history(deployment, "chat", name)] == ["human", "ai"], "the original is untouched"
    refused = httpx.post(f"{api}/chat/{name}/fork", json={"checkpoint_id": retrieved["checkpoint_id"],
                                                         "values": {"colour": "red"}}, timeout=30)  # fmt: skip
    assert refused.status_code == 400 and "colour" in refused.json()["detail"]["message"]
    assert httpx.get(f"{api}/chat/nobody-{name}/history", timeout=30).status_code == 404


def test_the_cli_asks_through_the_same_runtime(deployment: Deployment, tmp_path: Path) -> None:
    """``workbench ask`` on a home of its own: with Postgres or a LangGraph Server its session is the shared one."""
    name = session("cli")
    asked = run_cli(tmp_path, "ask", "What is hybrid search?", "--session", name, "--model", "fake/stream",
                    **deployment.env)  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    answer = asked.stdout.splitlines()[0]
    assert answer.startswith("t0 t1 t2") and f"session: {name}" in asked.stderr
    assert history(replace(deployment, home=tmp_path), "chat", name) == [
        ("human", "What is hybrid search?"), ("ai", answer),
    ]  # fmt: skip


# --- voice --------------------------------------------------------------------------------------------------------


def test_a_voice_text_turn_streams_and_is_kept(deployment: Deployment) -> None:
    name = session("voice")
    with connect(f"{deployment.gateway.ws_url}/ws/assistant", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "text", "content": "What is hybrid search?", "session_id": name, "speak": False,
                            "model": "fake/stream", "persona": "docs-guide"}))  # fmt: skip
        messages = []
        while not messages or messages[-1].get("type") not in ("done", "error"):
            message = json.loads(ws.recv(timeout=60))
            validate_assistant_message(message)
            messages.append(message)
    kinds = [m.get("type", "token") for m in messages]
    assert kinds[0] == "retrieval" and "token" in kinds and "response" in kinds and kinds[-1] == "done"
    assert messages[-1]["status"] == "ok"
    assert logged(deployment, messages[-1]["run_id"], status="ok")["graph"] == "voice"
    assert [kind for kind, _ in history(deployment, "voice", name)] == ["human", "ai"]


# --- audits -------------------------------------------------------------------------------------------------------


def create_task(deployment: Deployment, repo: str) -> str:
    response = httpx.post(f"{deployment.gateway.url}/api/tasks/", json={"repo": repo, "model": "none"}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["task_id"]


def watch(deployment: Deployment, task_id: str, cancel_after_agents: bool = False) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with connect(f"{deployment.gateway.ws_url}/ws/tasks/{task_id}", open_timeout=30) as ws:
        try:
            while True:
                message = json.loads(ws.recv(timeout=180))
                validate_tasks_message(message)
                events.append(message)
                if cancel_after_agents and message.get("step") == "agents":
                    ws.send(json.dumps({"type": "cancel"}))
                    cancel_after_agents = False
        except ConnectionClosed:
            pass
    return events


def test_an_audit_streams_its_events_and_replays_them_to_a_late_watcher(deployment: Deployment) -> None:
    task_id = create_task(deployment, str(deployment.repos / "inventory-api"))
    live = watch(deployment, task_id)
    kinds = [e["type"] for e in live]
    assert kinds[0] == "task.started" and kinds[-1] == "task.completed"
    assert [e["seq"] for e in live] == list(range(len(live)))
    agents = sorted(e["agent"] for e in live if e["type"] == "task.agent_result")
    assert agents == ["bug_hunter", "explorer", "security"]
    assert watch(deployment, task_id) == live, "a late watcher gets the same events"
    report = httpx.get(f"{deployment.gateway.url}/api/tasks/{task_id}/results", timeout=30).json()
    assert ("inventory/db.py", 32) in {(f["file"], f["line"]) for f in report["findings"]}


def test_cancelling_an_audit_stops_it_where_it_runs(deployment: Deployment) -> None:
    task_id = create_task(deployment, str(deployment.repos / "big"))
    events = watch(deployment, task_id, cancel_after_agents=True)
    assert events[-1]["type"] == "task.error" and "cancelled" in events[-1]["message"]
    assert not [e for e in events if e["type"] == "task.completed"]
    info = httpx.get(f"{deployment.gateway.url}/api/tasks/{task_id}", timeout=30).json()
    assert info["status"] == "cancelled"
    run = logged(deployment, info["run_id"], status="aborted")
    assert run["graph"] == "repo_audit"


# --- several gateways ---------------------------------------------------------------------------------------------


def test_a_session_continues_on_another_gateway_process(deployment: Deployment) -> None:
    if deployment.runtime == "sqlite":
        pytest.skip("SQLite sessions live in one home; several gateways share Postgres or a LangGraph Server")
    other_home = deployment.home.parent / f"{deployment.home.name}-b"
    other_home.mkdir(exist_ok=True)
    other = Server(other_home, deployment.env).start()
    try:
        name = session("shared")
        with chat(deployment) as ws:
            assert turn(ws, "asked on the first gateway", name, model="fake/stream")[-1]["status"] == "ok"
        with connect(f"{other.ws_url}/ws/chat", open_timeout=30) as ws:
            assert turn(ws, "asked on the second gateway", name, model="fake/stream")[-1]["status"] == "ok"
        with chat(deployment) as first, connect(f"{other.ws_url}/ws/chat", open_timeout=30) as second:
            send(first, QUESTION, name)
            assert receive(first)["type"] == "retrieval"
            send(second, "Me too", name, model="fake/stream")
            refused = receive(second)
            assert (refused["type"], refused["code"]) == ("error", "busy"), "the other process sees it busy"
            first.send(json.dumps({"type": "abort"}))
            until_done(first)
    finally:
        other.stop()
    kept = history(deployment, "chat", name)
    humans = [text for kind, text in kept if kind == "human"]
    assert humans[:2] == ["asked on the first gateway", "asked on the second gateway"]


def test_a_gateway_whose_langgraph_server_is_down_fails_turns_at_once_with_what_to_do(tmp_path: Path) -> None:
    """Nothing listens on the configured server: the gateway starts, and each turn gets a clear error, not a hang."""
    from tests.integration.conftest import free_port

    down = f"http://127.0.0.1:{free_port()}"
    gateway = Server(tmp_path, {"WORKBENCH_GRAPH_SERVER": down, "WORKBENCH_GRAPH_SERVER_TIMEOUT_S": "3",
                                "WORKBENCH_WARM_SPEECH": "false"}).start()  # fmt: skip
    try:
        with connect(f"{gateway.ws_url}/ws/chat", open_timeout=30) as ws:
            started = time.monotonic()
            messages = turn(ws, QUESTION, "down", model="fake/stream")
            assert time.monotonic() - started < 30
        error, done = messages
        assert error["code"] == "model_unavailable" and down not in error["message"]
        assert "WORKBENCH_GRAPH_SERVER" in error["message"] and done["status"] == "error"
    finally:
        gateway.stop()
    assert not (tmp_path / "qdrant").exists(), "a gateway to a LangGraph Server indexes nothing itself"
    assert down in next(tmp_path.glob("server-*.log")).read_text(), "the server log names the address"

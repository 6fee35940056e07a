"""/ws/chat against a real uvicorn server with real WebSocket clients; every message is schema-validated."""

from __future__ import annotations

import json
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.integration.conftest import running_server, validate_chat_message
from tests.servers import wait_for_run
from workbench.runlog import recent_runs

pytestmark = pytest.mark.integration


def receive(ws, timeout: float = 60) -> dict:
    message = json.loads(ws.recv(timeout=timeout))
    validate_chat_message(message)
    return message


def turn(ws, content: str, session: str, **extra) -> list[dict]:
    """Send a user message and collect everything up to ``done``."""
    ws.send(json.dumps({"type": "user_message", "content": content, "session_id": session, **extra}))
    messages = []
    while True:
        message = receive(ws)
        messages.append(message)
        if message.get("type") == "done":
            return messages


def tokens(messages: list[dict]) -> str:
    return "".join(m["content"] for m in messages if m.get("role") == "assistant")


def checkpointed_messages(home, session: str) -> list:
    """The conversation the server's SQLite checkpointer holds for ``session``."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    with sqlite3.connect(home / "checkpoints.sqlite") as connection:
        state = SqliteSaver(connection).get({"configurable": {"thread_id": session}})
    return state["channel_values"]["messages"] if state else []


def test_happy_path_streams_retrieval_tokens_then_done(chat_server):
    with connect(f"{chat_server.ws_url}/ws/chat") as ws:
        messages = turn(ws, "How do I configure the data folder?", "happy", model="extractive")
    retrieval, *chunks, done = messages
    assert retrieval["type"] == "retrieval"
    assert retrieval["documents"] and all(d["source"] and d["chunk_id"] for d in retrieval["documents"])
    assert chunks and all(m == {"role": "assistant", "content": m["content"]} for m in chunks)
    assert done["type"] == "done" and done["status"] == "ok" and done["model"] == "extractive"
    assert done["citations"], "the extractive answer cites its sentences"
    run = wait_for_run(chat_server.home, done["run_id"])
    assert run["status"] == "ok" and run["entry_point"] == "ws" and run["session_id"] == "happy"
    assert run["output"] == tokens(messages)


def test_abort_mid_stream_stops_tokens_and_logs_aborted(chat_server):
    with connect(f"{chat_server.ws_url}/ws/chat") as ws:
        ws.send(
            json.dumps(
                {"type": "user_message", "content": "How do I configure the data folder?", "session_id": "abort"}
            )
        )
        received = []
        while sum(1 for m in received if m.get("role")) < 5:
            received.append(receive(ws))
        ws.send(json.dumps({"type": "abort"}))
        after = []
        while not after or after[-1].get("type") != "done":
            after.append(receive(ws))
        acked = next(i for i, m in enumerate(after) if m.get("type") == "aborted")
        assert all(m.get("role") is None for m in after[acked:]), "no token after the abort is acknowledged"
        assert after[-1]["status"] == "aborted"
        run_id = after[acked]["run_id"]
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)
        # the socket stays usable
        assert turn(ws, "What is hybrid search?", "abort-2", model="extractive")[-1]["status"] == "ok"
    run = wait_for_run(chat_server.home, run_id)
    assert run["status"] == "aborted"
    assert run["output"].startswith("word0 word1 word2")
    assert len(run["output"].split()) < 400


def test_disconnect_mid_stream_stops_work_and_logs_the_run(chat_server):
    ws = connect(f"{chat_server.ws_url}/ws/chat")
    ws.send(
        json.dumps({"type": "user_message", "content": "How do I configure the data folder?", "session_id": "gone"})
    )
    run_id = receive(ws)["run_id"]
    receive(ws)
    ws.close()
    run = wait_for_run(chat_server.home, run_id)
    assert run["status"] == "aborted"
    assert len(run["output"].split()) < 400
    # the session is free again: the run really stopped
    with connect(f"{chat_server.ws_url}/ws/chat") as ws2:
        assert turn(ws2, "Hello again", "gone", model="extractive")[-1]["status"] == "ok"


def test_concurrent_sessions_stream_and_do_not_share_history(chat_server):
    results: dict[str, list[dict]] = {}

    def talk(session: str, first: str) -> None:
        with connect(f"{chat_server.ws_url}/ws/chat") as ws:
            turn(ws, first, session, model="fake/scripted")
            results[session] = turn(ws, "What did I ask before?", session, model="fake/scripted")

    threads = [threading.Thread(target=talk, args=(f"c{i}", f"secret-{i} question")) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == ["c0", "c1", "c2"]
    for i in range(3):
        deadline = time.monotonic() + 15
        while len(recent_runs(chat_server.home / "runs.duckdb", 100, session_id=f"c{i}")) < 2:
            assert time.monotonic() < deadline, f"runs of session c{i} not logged"
            time.sleep(0.2)
        assert tokens(results[f"c{i}"])
        history = [m.content for m in checkpointed_messages(chat_server.home, f"c{i}")]
        assert history[0] == f"secret-{i} question" and history[2] == "What did I ask before?"
        assert not any(f"secret-{j}" in text for text in history for j in range(3) if j != i)


def test_history_survives_a_server_restart(tmp_path):
    question = "Which port does the server use by default?"
    with running_server(tmp_path, WORKBENCH_LLM="extractive") as server, connect(f"{server.ws_url}/ws/chat") as ws:
        assert turn(ws, question, "persist")[-1]["status"] == "ok"
    with running_server(tmp_path, WORKBENCH_LLM="fake/scripted") as server, connect(f"{server.ws_url}/ws/chat") as ws:
        assert turn(ws, "And the host?", "persist")[-1]["status"] == "ok"
    contents = [m.content for m in checkpointed_messages(tmp_path, "persist")]
    assert contents[0] == question and contents[2] == "And the host?" and len(contents) == 4


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"content": "no type"}', "invalid_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "user_message", "session_id": "x"}', "invalid_message"),
        ('{"type": "user_message", "content": "", "session_id": "x"}', "invalid_message"),
        ('{"type": "user_message", "content": "hi", "session_id": "../../etc"}', "invalid_message"),
        ('{"type": "user_message", "content": 5, "session_id": "x"}', "invalid_message"),
        ('{"type": "user_message", "content": "hi", "session_id": "x", "top_k": 0}', "invalid_message"),
        ('{"type": "abort"}', "nothing_to_abort"),
    ],
)
def test_bad_input_gets_an_error_and_the_socket_stays_usable(chat_server, payload, code):
    with connect(f"{chat_server.ws_url}/ws/chat") as ws:
        ws.send(payload)
        error = receive(ws)
        assert error["type"] == "error" and error["code"] == code and error["message"]
        assert turn(ws, "What is hybrid search?", f"bad-{code}", model="extractive")[-1]["status"] == "ok"


def test_binary_frame_gets_an_error_and_the_socket_stays_usable(chat_server):
    with connect(f"{chat_server.ws_url}/ws/chat") as ws:
        ws.send(b"\x00\x01binary")
        assert receive(ws)["code"] == "binary_not_supported"
        assert turn(ws, "What is hybrid search?", "binary", model="extractive")[-1]["status"] == "ok"


def test_oversized_message_is_refused_with_close_1009_and_server_carries_on(chat_server):
    with connect(f"{chat_server.ws_url}/ws/chat", max_size=None) as ws:
        big = json.dumps({"type": "user_message", "content": "x" * 70_000, "session_id": "big"})
        ws.send(big)
        assert receive(ws)["code"] == "message_too_large"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1009
    with connect(f"{chat_server.ws_url}/ws/chat") as ws:
        assert turn(ws, "What is hybrid search?", "after-big", model="extractive")[-1]["status"] == "ok"


def test_second_message_while_answering_is_refused_as_busy(chat_server):
    with connect(f"{chat_server.ws_url}/ws/chat") as ws:
        ws.send(json.dumps({"type": "user_message", "content": "long", "session_id": "busy"}))
        receive(ws)
        ws.send(json.dumps({"type": "user_message", "content": "again", "session_id": "busy"}))
        messages = []
        while not messages or messages[-1].get("type") != "error":
            messages.append(receive(ws))
        assert messages[-1]["code"] == "busy"
        ws.send(json.dumps({"type": "abort"}))
        while receive(ws).get("type") != "done":
            pass


def test_an_agent_spec_answers_a_turn_in_its_own_session(chat_server):
    question = "Which port does the workbench server listen on by default?"
    with connect(f"{chat_server.ws_url}/ws/chat") as ws:
        messages = turn(ws, question, "agent-1", model="extractive", agent="rag_chat")
        again = turn(ws, "And which host?", "agent-1", model="extractive", agent="research_loop")
    retrieval, *chunks, done = messages
    assert retrieval["type"] == "retrieval" and retrieval["query"] == question and retrieval["documents"]
    assert done["status"] == "ok" and done["model"] == "extractive" and done["citations"]
    assert "8000" in tokens(messages)
    run = wait_for_run(chat_server.home, done["run_id"])
    assert (run["graph"], run["entry_point"], run["session_id"], run["status"]) == ("rag_chat", "ws", "agent-1", "ok")
    assert wait_for_run(chat_server.home, again[-1]["run_id"])["graph"] == "research_loop"
    assert checkpointed_messages(chat_server.home, "agent-1") == [], "agent sessions are not the chat graph's"


@pytest.mark.parametrize(
    ("agent", "code"),
    [("nope", "invalid_config"), ("../agents/rag-chat", "invalid_message"), ("RAG", "invalid_message")],
)
def test_an_unknown_agent_is_refused_and_the_socket_stays_usable(chat_server, agent, code):
    with connect(f"{chat_server.ws_url}/ws/chat") as ws:
        ws.send(json.dumps({"type": "user_message", "content": "Hi", "session_id": "agent-x", "agent": agent}))
        error = receive(ws)
        assert error["type"] == "error" and error["code"] == code, error
        if code == "invalid_config":
            known = "approval, calculator, nested_approval, rag_chat, research_loop"
            assert f"unknown agent 'nope'; choose one of {known}" in error["message"]
        assert "/" not in error["message"].replace("../agents/rag-chat", "")  # no server path
        assert turn(ws, "What is hybrid search?", "agent-x", model="extractive")[-1]["status"] == "ok"

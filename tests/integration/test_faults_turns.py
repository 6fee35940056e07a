"""A graph that raises on a real server: every ``/ws/chat`` turn ends with ``error`` and ``done``, whatever the
exception (a tool's ``RuntimeError`` after the answer streamed, its ``NotImplementedError``, LangGraph's
``GraphRecursionError`` from a router that loops), the server log has the failure at error level, and the run log
holds the turn as the error its client heard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.integration.conftest import running_server, validate_chat_message
from tests.integration.test_ws_chat import wait_for_run

pytestmark = pytest.mark.integration

TOOLS = '''
from langchain_core.tools import tool


@tool
def explode(question: str) -> str:
    """Always fails, as a broken tool does."""
    raise RuntimeError("the tool broke")


@tool
def unfinished(question: str) -> str:
    """Not written yet."""
    raise NotImplementedError
'''


def tool_spec(name: str, tool: str) -> str:
    return f"""\
name: {name}
version: 1
state:
  query: {{type: str, default: ""}}
  result: {{type: str, default: ""}}
nodes:
  answer: {{kind: llm, model: extractive, prompt: chat-answer@v1}}
  act: {{kind: tool, tool: {tool}, arguments: {{question: query}}, output: result}}
edges:
  - {{from: START, to: answer}}
  - {{from: answer, to: act}}
  - {{from: act, to: END}}
"""


LOOP_SPEC = """\
name: looping
version: 1
state:
  rounds: {type: int, default: 0}
nodes:
  spin: {kind: router, routes: {again: rounds < 1000}, default: stop}
edges:
  - {from: START, to: spin}
conditional_edges:
  - from: spin
    map: {again: spin, stop: END}
"""


def turn(ws, content: str, session: str, agent: str) -> list[dict]:
    ws.send(json.dumps({"type": "user_message", "content": content, "session_id": session, "agent": agent}))
    messages = []
    while True:
        message = json.loads(ws.recv(timeout=120))  # a hang fails here (the loop takes ~15 s to its limit)
        validate_chat_message(message)
        messages.append(message)
        if message.get("type") == "done":
            return messages


def test_a_graph_that_raises_ends_every_turn_with_error_and_done(tmp_path: Path) -> None:
    agents, modules, home = tmp_path / "agents", tmp_path / "modules", tmp_path / "home"
    for folder in (agents, modules, home):
        folder.mkdir()
    (modules / "broken_tools.py").write_text(TOOLS)
    (agents / "exploding.yaml").write_text(tool_spec("exploding", "explode"))
    (agents / "unfinished.yaml").write_text(tool_spec("unfinished", "unfinished"))
    (agents / "looping.yaml").write_text(LOOP_SPEC)
    env = {
        "WORKBENCH_AGENTS_DIR": str(agents),
        "WORKBENCH_AGENT_TOOLS": "broken_tools:explode,broken_tools:unfinished",
        "PYTHONPATH": str(modules),
        "WORKBENCH_LLM": "extractive",
    }
    with running_server(home, **env) as server, connect(f"{server.ws_url}/ws/chat") as ws:
        for agent in ("exploding", "unfinished", "looping", "exploding"):
            messages = turn(ws, "Which port does the server use?", f"s-{agent}", agent)
            *before, error, done = messages
            assert (error["type"], error["code"], done["status"]) == ("error", "internal_error", "error"), messages
            assert done["run_id"] == error["run_id"] and "Error" not in error["message"]
            if agent == "exploding":
                assert any(m.get("role") == "assistant" for m in before), "the answer streamed before the tool broke"
            assert wait_for_run(home, done["run_id"])["status"] == "error"
        log = server.log_path.read_text()
    assert log.count("ERROR") >= 4 or log.count("failed") >= 4, "each failure is in the server log"

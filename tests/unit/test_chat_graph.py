"""The chat graph with a scripted model and a fake store: retrieval, citations, tools, rewrite loop, memory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from graphs.chat import builder
from graphs.chat_state import ChatContext
from workbench.citations import after_context
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog, recent_runs
from workbench.runlog.callback import RunLogCallback
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, flushed, tool_call

SNAPSHOT = Path(__file__).parent / "snapshots" / "chat_graph.mmd"


def doc(i: int, text: str, dense: float | None = 0.8) -> dict:
    return {
        "chunk_id": f"c{i}", "source": f"/docs/f{i}.md", "title": f"F{i}", "section": None, "page": None,
        "text": text, "score": 1.0 / i, "dense_score": dense, "sparse_score": 2.0,
    }  # fmt: skip


class FakeStore:
    """Returns queued results per search and records the queries."""

    def __init__(self, *results: list[dict]) -> None:
        self.results = list(results)
        self.queries: list[tuple] = []

    def search(self, collection, query, k=5, filters=None, mode="hybrid"):
        self.queries.append((collection, query, k, filters, mode))
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore([doc(1, "The default home is .workbench."), doc(2, "Qdrant runs in local mode.")])


@dataclass
class ChatApp:
    """The compiled chat graph, its run log, and the clients its runs get in their context."""

    graph: Any
    runlog: RunLog
    resources: Resources

    def context(self, **knobs: Any) -> ChatContext:
        return ChatContext(resources=self.resources, **knobs)


@pytest.fixture
def app(tmp_path, model, store):
    settings = Settings(home=tmp_path, llm="fake")
    resources = Resources(settings, store=store, models=ModelRegistry(settings, {"fake": model}))
    runlog = RunLog(tmp_path / "runs.duckdb")
    graph = builder.compile(checkpointer=InMemorySaver(), name="chat").with_config(callbacks=[RunLogCallback(runlog)])
    yield ChatApp(graph, runlog, resources)
    runlog.close()


def config(thread: str) -> dict:
    return {"configurable": {"thread_id": thread}}


def test_graph_shape_matches_snapshot():
    drawing = builder.compile().get_graph().draw_mermaid()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(drawing)
    assert drawing == SNAPSHOT.read_text(), "graph shape changed; review it, then rerun with UPDATE_SNAPSHOTS=1"


async def test_answer_uses_numbered_context_and_streams_tokens(app, model, store):
    graph = app.graph
    model.enqueue("The default home is .workbench [1].")
    tokens, retrievals = [], []
    async for mode, chunk in graph.astream(
        {"messages": [HumanMessage("Where is data kept?")], "metadata": {"source": "/docs/f1.md"}},
        config("t1"), context=app.context(top_k=2), stream_mode=["messages", "custom"],
    ):  # fmt: skip
        if mode == "custom":
            retrievals.append(chunk)
        elif chunk[1]["langgraph_node"] == "generate" and chunk[0].content:
            tokens.append(chunk[0].content)
    assert "".join(tokens) == "The default home is .workbench [1]."
    assert [d["chunk_id"] for d in retrievals[0]["documents"]] == ["c1", "c2"]
    assert store.queries == [("docs", "Where is data kept?", 2, {"source": "/docs/f1.md"}, "hybrid")]
    system, asked = model.calls[0][0], model.calls[0][-1]
    assert isinstance(system, SystemMessage) and "CONTEXT" not in system.content, "the instructions are fixed"
    assert "[1] (source: f1.md)\nThe default home is .workbench." in asked.content
    assert "[2] (source: f2.md)" in asked.content and asked.content.endswith("Question: Where is data kept?")


async def test_tool_call_runs_calculator_and_answers_with_its_result(app, model):
    graph = app.graph
    model.enqueue(tool_call("calculator", {"expression": "6 * 7"}), "The answer is 42.")
    state = await graph.ainvoke({"messages": [HumanMessage("What is 6 times 7?")]}, config("t2"), context=app.context())
    tool_messages = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_messages] == ["42"]
    assert state["messages"][-1].content == "The answer is 42."
    assert model.bound_tools == ["calculator", "search_documents"]
    assert isinstance(model.calls[1][-1], ToolMessage)


async def test_off_topic_retrieval_rewrites_query_and_retrieves_again(app, model, store):
    graph = app.graph
    store.results = [[doc(1, "Unrelated text.", dense=0.05)], [doc(2, "Port 8000 is the default.", dense=0.9)]]
    model.enqueue("default server port", "Port 8000 [1].")
    state = await graph.ainvoke(
        {"messages": [HumanMessage("which port?")]}, config("t3"), context=app.context(max_rewrites=2)
    )
    assert [q[1] for q in store.queries] == ["which port?", "default server port"]
    assert state["rewrites"] == 1
    assert state["retrieved_docs"][0]["chunk_id"] == "c2"
    assert state["messages"][-1].content == "Port 8000 [1]."


async def test_rewrites_are_bounded(app, model, store):
    graph = app.graph
    store.results = [[doc(1, "Unrelated.", dense=0.01)]]
    model.default = "nothing found"
    state = await graph.ainvoke({"messages": [HumanMessage("q?")]}, config("t4"), context=app.context(max_rewrites=2))
    assert len(store.queries) == 3
    assert state["rewrites"] == 2


async def test_history_is_kept_per_thread_and_isolated(app, model):
    graph = app.graph
    model.enqueue("first answer", "second answer", "other answer")
    await graph.ainvoke({"messages": [HumanMessage("first question")]}, config("a"), context=app.context())
    await graph.ainvoke({"messages": [HumanMessage("second question")]}, config("a"), context=app.context())
    await graph.ainvoke({"messages": [HumanMessage("other question")]}, config("b"), context=app.context())
    seen_in_a = [after_context(m.content) for m in model.calls[1] if isinstance(m, HumanMessage | AIMessage)]
    seen_in_b = [after_context(m.content) for m in model.calls[2] if isinstance(m, HumanMessage | AIMessage)]
    assert seen_in_a == ["first question", "first answer", "Question: second question"], "asked with its context"
    assert seen_in_b == ["Question: other question"]


async def test_run_is_logged_with_model_prompt_and_retrieved_docs(app, model):
    graph, runlog = app.graph, app.runlog
    cfg = {**config("s1"), "metadata": {"entry_point": "test", "prompt_version": "v1"}}
    await graph.ainvoke({"messages": [HumanMessage("Where is data kept?")]}, cfg, context=app.context())
    flushed(runlog)
    (run,) = recent_runs(runlog, limit=5)
    assert run["graph"] == "chat"
    assert run["status"] == "ok"
    assert run["session_id"] == "s1"
    assert run["input"] == "Where is data kept?"
    assert run["output"] == "This is a scripted answer [1]."
    assert run["model"] == "fake"
    assert [d["chunk_id"] for d in run["retrieved"]] == ["c1", "c2"]

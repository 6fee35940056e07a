"""Every run is a trace: the spans RunLogCallback records on real compiled graphs (run → node → LLM / tool /
retrieval / a node's own steps, subgraphs nested), what they hold, what they never hold, and how they are stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph

from tests.unit.test_runlog_callback import ANSWER, StreamingFake
from workbench.runlog import RunLog, RunLogCallback
from workbench.runlog.otel import root_span_id_of
from workbench.runlog.queries import get_trace, recent_runs
from workbench.runlog.semconv import documents
from workbench.runlog.spans import TEXT_BOUND
from workbench.runlog.steps import step
from workbench.runlog.trace import build_tree, critical_path, rollup, walk

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
HITS = [
    {"chunk_id": "c1", "source": "geo.md", "score": 0.032, "dense_score": 0.71, "sparse_score": 2.5, "text": "Paris."},
    {"chunk_id": "c2", "source": "eu.md", "score": 0.016, "dense_score": 0.44, "sparse_score": None, "text": "EU."},
]


@tool
def lookup(query: str, api_key: str = "") -> str:
    """Look a term up."""
    return f"found {query}"


def chat_graph(model: StreamingFake) -> Any:
    """retrieve (a retrieval step) → respond (an LLM call, then a tool call), like the chat graph."""

    async def retrieve(state: MessagesState) -> dict[str, Any]:
        with step("retrieval", "retrieval docs", {"gen_ai.retrieval.query.text": "capital"}) as span:
            await asyncio.sleep(0.02)
            span.set("gen_ai.retrieval.documents", documents(HITS))
        return {}

    async def respond(state: MessagesState) -> dict[str, Any]:
        reply = await model.ainvoke(state["messages"])
        await asyncio.to_thread(lambda: lookup.invoke({"query": "capital", "api_key": SECRET}))
        return {"messages": [reply]}

    builder = StateGraph(MessagesState)
    builder.add_node("retrieve", retrieve)
    builder.add_node("respond", respond)
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "respond")
    builder.add_edge("respond", END)
    return builder.compile(name="chat")


@pytest.fixture
def runlog(tmp_path: Path) -> Iterator[RunLog]:
    log = RunLog(tmp_path / "runs.duckdb", flush_interval=0.02)
    yield log
    log.close()


def traced(runlog: RunLog, run_id: UUID) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    assert runlog.flush(10)
    trace = get_trace(runlog, str(run_id))
    assert trace is not None
    return trace["run"], {span["name"]: span for span in trace["spans"]}


async def test_a_chat_run_is_a_tree_of_run_node_llm_tool_and_retrieval_spans(runlog: RunLog) -> None:
    graph = chat_graph(StreamingFake(delay_s=0.005)).with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()
    question = f"What is the capital of France? my key is {SECRET}"
    async for _ in graph.astream({"messages": [("user", question)]}, {"run_id": run_id}, stream_mode="messages"):
        pass
    row, spans = traced(runlog, run_id)

    root = spans["chat"]
    assert root["kind"] == "run" and root["parent_id"] is None and root["status"] == "ok"
    assert root["trace_id"] == f"{run_id.int:032x}" and root["span_id"] == f"{root_span_id_of(run_id):016x}"
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert {s["trace_id"] for s in spans.values()} == {root["trace_id"]}
    retrieve, respond = spans["retrieve"], spans["respond"]
    assert (retrieve["kind"], retrieve["parent_id"]) == ("node", root["span_id"])
    assert (respond["kind"], respond["parent_id"]) == ("node", root["span_id"])

    retrieval = spans["retrieval docs"]
    assert (retrieval["kind"], retrieval["parent_id"]) == ("retrieval", retrieve["span_id"])
    assert retrieval["duration_ms"] >= 20
    hits = json.loads(retrieval["attributes"]["gen_ai.retrieval.documents"])
    assert [(h["id"], h["dense_score"], h["sparse_score"], h["score"]) for h in hits] == [
        ("c1", 0.71, 2.5, 0.032),
        ("c2", 0.44, None, 0.016),
    ]

    llm = spans["chat streamer"]
    assert (llm["kind"], llm["parent_id"]) == ("llm", respond["span_id"])
    attributes = llm["attributes"]
    assert attributes["gen_ai.request.model"] == "streamer" and attributes["gen_ai.provider.name"] == "fake"
    assert json.loads(attributes["gen_ai.input.messages"])[0]["role"] == "user"
    completion = json.loads(attributes["gen_ai.output.messages"])
    assert completion[0]["role"] == "assistant" and completion[0]["content"].strip() == ANSWER
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (7, 13)
    assert 0 < attributes["gen_ai.response.time_to_first_chunk"] * 1000 <= llm["duration_ms"]
    assert attributes["workbench.tokens_per_s"] > 0

    tool_span = spans["execute_tool lookup"]
    assert (tool_span["kind"], tool_span["parent_id"]) == ("tool", respond["span_id"])
    assert json.loads(tool_span["attributes"]["gen_ai.tool.call.arguments"]) == {
        "query": "capital",
        "api_key": "[secret]",
    }
    assert tool_span["attributes"]["gen_ai.tool.call.result"] == "found capital"

    stored = json.dumps([row, list(spans.values())], default=str)
    assert SECRET not in stored and "[secret]" in stored
    path = critical_path(build_tree(spans.values()))  # the nodes ran one after the other: all of it is critical
    names = ["chat", "retrieve", "retrieval docs", "respond", "chat streamer", "execute_tool lookup"]
    assert path == [spans[name]["span_id"] for name in names]
    totals = rollup(spans.values())
    assert totals["tokens_in"] == 7 and totals["llm_ms"] == pytest.approx(llm["duration_ms"], abs=0.01)
    listed = recent_runs(runlog.path, 5)[0]
    assert listed["spans"] == 6 and listed["retrieval_ms"] == pytest.approx(retrieval["duration_ms"], abs=0.01)


async def test_a_subgraph_nests_under_its_node_and_a_failing_tool_marks_its_span(runlog: RunLog) -> None:
    @tool
    def broken(query: str) -> str:
        """Always fails."""
        raise RuntimeError("the index is gone")

    async def inner(state: MessagesState) -> dict[str, Any]:
        with contextlib.suppress(RuntimeError):
            await broken.ainvoke({"query": "x"})
        return {"messages": [AIMessage("inner done")]}

    sub = StateGraph(MessagesState)
    sub.add_node("inner", inner)
    sub.add_edge(START, "inner")
    sub.add_edge("inner", END)
    outer = StateGraph(MessagesState)
    outer.add_node("agent", sub.compile(name="agent"))
    outer.add_edge(START, "agent")
    outer.add_edge("agent", END)
    graph = outer.compile(name="outer").with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()
    await graph.ainvoke({"messages": [("user", "hi")]}, {"run_id": run_id})
    _, spans = traced(runlog, run_id)

    assert spans["agent"]["parent_id"] == spans["outer"]["span_id"]
    assert spans["inner"]["parent_id"] == spans["agent"]["span_id"]
    assert spans["inner"]["attributes"]["workbench.namespace"] == "agent"
    failed = spans["execute_tool broken"]
    assert failed["parent_id"] == spans["inner"]["span_id"]
    assert failed["status"] == "error" and "the index is gone" in failed["error"]


async def test_long_values_are_cut_with_a_marker_and_listed(runlog: RunLog) -> None:
    long_text = "word " * (TEXT_BOUND // 2)

    async def respond(state: MessagesState) -> dict[str, Any]:
        with step("step", "long") as span:
            span.set("workbench.note", long_text)
        return {"messages": [ToolMessage("x", tool_call_id="1")]}

    builder = StateGraph(MessagesState)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    graph = builder.compile(name="long").with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()
    await graph.ainvoke({"messages": [("user", "hi")]}, {"run_id": run_id})
    _, spans = traced(runlog, run_id)
    note = spans["long"]["attributes"]["workbench.note"]
    assert len(note) < len(long_text) and note.endswith(f"…[truncated: {len(long_text)} chars]")
    assert spans["long"]["attributes"]["workbench.truncated"] == ["workbench.note"]


def test_a_step_outside_a_logged_run_records_nothing_and_costs_nothing() -> None:
    with step("retrieval", "retrieval") as span:
        span.set("gen_ai.retrieval.query.text", "q")
    assert span.attributes.values == {"gen_ai.retrieval.query.text": "q"}


def test_the_critical_path_follows_the_chain_that_set_the_wall_time() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def span(span_id: str, parent: str | None, start: int, end: int) -> dict[str, Any]:
        return {
            "span_id": span_id,
            "parent_id": parent,
            "started_at": t0 + timedelta(milliseconds=start),
            "ended_at": t0 + timedelta(milliseconds=end),
            "duration_ms": end - start,
            "name": span_id,
            "kind": "node",
        }

    # root 0-100: a (0-40) and b (10-30) in parallel, then c (40-100) with c1 (45-60) and c2 (60-95)
    spans = [
        span("root", None, 0, 100),
        span("a", "root", 0, 40),
        span("b", "root", 10, 30),
        span("c", "root", 40, 100),
        span("c1", "c", 45, 60),
        span("c2", "c", 60, 95),
    ]
    roots = build_tree(spans)
    assert [node.span_id for node in walk(roots)] == ["root", "a", "b", "c", "c1", "c2"]
    assert critical_path(roots) == ["root", "a", "c", "c1", "c2"]
    # a span whose parent was never written (its run was killed) is still shown, as a root
    assert [node.span_id for node in build_tree([span("orphan", "gone", 0, 5)])] == ["orphan"]
    # parent links that loop (a hand-edited log) are cut, not followed forever or hidden
    looped = build_tree([span("x", "y", 0, 5), span("y", "x", 1, 4)])
    assert sorted(node.span_id for node in walk(looped)) == ["x", "y"]


async def test_with_tracing_off_a_run_is_a_row_without_spans(runlog: RunLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    graph = chat_graph(StreamingFake()).with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()
    await graph.ainvoke({"messages": [("user", "hi")]}, {"run_id": run_id})
    row, spans = traced(runlog, run_id)
    assert row["status"] == "ok" and row["output"].strip() == ANSWER and row["tokens_out"] == 13
    assert [span["attributes"] for span in spans.values()] == [{"workbench.from_row": True}]  # only the row's


def test_a_run_cut_off_before_its_own_span_ended_gets_one_from_its_row(runlog: RunLog) -> None:
    from datetime import UTC, datetime, timedelta

    from workbench.runlog.schema import RunRecord, SpanRecord

    run_id, t0 = str(uuid4()), datetime(2026, 1, 1, tzinfo=UTC)
    root = f"{root_span_id_of(run_id):016x}"
    row = RunRecord(run_id, "chat", status="interrupted", error="stopped", started_at=t0, ended_at=t0 + timedelta(1))
    node = SpanRecord(run_id, "a" * 16, f"{UUID(run_id).int:032x}", root, "retrieve", "node", t0, t0, 5.0)
    runlog.log_records([row, node])
    assert runlog.flush(10)
    trace = get_trace(runlog, run_id)
    assert trace is not None
    own, child = trace["spans"]
    assert (own["span_id"], own["kind"], own["status"], own["name"]) == (root, "run", "interrupted", "chat")
    assert own["attributes"] == {"workbench.from_row": True} and child["parent_id"] == root
    runlog.log_records([node])  # a replayed journal brings a span again: the first one written stays
    assert runlog.flush(10) and len(get_trace(runlog, run_id)["spans"]) == 2  # type: ignore[index]

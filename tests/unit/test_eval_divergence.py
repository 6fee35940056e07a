"""Where two runs of an eval case part ways: the first differing step of two traces made of spans shaped like the
run log's (run → node → LLM / tool / retrieval), for each kind of difference, runs that end early, older runs
with only a node timeline, attributes that are not valid JSON; then two real chat-graph runs through the run log
that differ only in top_k."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from graphs.chat import builder
from graphs.chat_state import ChatContext
from workbench.evals.divergence import ENDED, SUMMARY, divergences, first_divergence, run_reader, steps_of
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog
from workbench.runlog.callback import RunLogCallback
from workbench.runlog.schema import EventRecord, RunLogUnavailable, RunRecord
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, flushed

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ROOT = "00000000000000aa"


def span(
    span_id: str, parent: str | None, kind: str, name: str, at: int, status: str = "ok", error: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:  # fmt: skip
    """A span row as ``get_trace`` returns it, started ``at`` ms after T0; dotted attribute names use ``__``."""
    return {
        "run_id": "r", "span_id": span_id, "trace_id": "t" * 32, "parent_id": parent, "name": name, "kind": kind,
        "started_at": T0 + timedelta(milliseconds=at), "ended_at": T0 + timedelta(milliseconds=at + 5),
        "duration_ms": 5.0, "status": status, "error": error,
        "attributes": {key.replace("__", "."): value for key, value in attributes.items()},
    }  # fmt: skip


def passages(*ids: str) -> str:
    return json.dumps([{"id": i, "source": f"/corpus/{i}.md", "score": 0.5, "text": f"text {i}"} for i in ids])


def output(text: str = "", **calls: dict[str, Any]) -> str:
    tool_calls = [{"id": f"call_{name}", "name": name, "arguments": args} for name, args in calls.items()]
    return json.dumps([{"role": "assistant", "content": text, **({"tool_calls": tool_calls} if calls else {})}])


def trace(*spans: Any) -> dict[str, Any]:
    root = span(ROOT, None, "run", "chat", 0, gen_ai__usage__input_tokens=100)
    return {"run": {"run_id": "r", "graph": "chat"}, "spans": [root, *spans]}


def chat_run(
    *, ids: tuple[str, ...] = ("c1", "c2"), query: str = "top k", answer: str = "The default is 5 [1].",
    arguments: str = '{"query": "top k", "k": 3}', result: str = "3 passages", offset: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """retrieve (a retrieval) → agent (an LLM call asking for a tool) → tools (the search) → agent (the answer)."""
    at = offset
    return trace(
        span("n1", ROOT, "node", "retrieve", at + 1, workbench__node="retrieve"),
        span("s1", "n1", "retrieval", "retrieval docs", at + 2, gen_ai__retrieval__query__text=query,
             gen_ai__retrieval__documents=passages(*ids), workbench__retrieval__top_k=len(ids)),
        span("n2", ROOT, "node", "agent", at + 10),
        span("s2", "n2", "llm", "chat qwen", at + 11, gen_ai__request__model="qwen",
             gen_ai__output__messages=output(search={"query": "top k"}), gen_ai__usage__output_tokens=9 + offset),
        span("n3", ROOT, "node", "tools", at + 20),
        span("s3", "n3", "tool", "execute_tool search", at + 21, gen_ai__tool__name="search",
             gen_ai__tool__call__arguments=arguments, gen_ai__tool__call__result=result,
             gen_ai__tool__call__id=f"call-{offset}"),
        span("n4", ROOT, "node", "agent", at + 30),
        span("s4", "n4", "llm", "chat qwen", at + 31, gen_ai__request__model="qwen",
             gen_ai__output__messages=output(answer)),
    )  # fmt: skip


def test_runs_that_did_the_same_steps_with_the_same_results_do_not_diverge_whatever_their_timings():
    a = chat_run()
    b = chat_run(offset=7, arguments='{"k": 3, "query": "top k"}', answer="The default  is 5 [1].\n")
    b["spans"].insert(1, span("g1", ROOT, "gateway", "gateway", 0))  # timing only: not a step
    assert first_divergence(a, b) is None
    assert [(s.path, s.kind) for s in steps_of(a)][:4] == [
        ("retrieve", "node"),
        ("retrieve > retrieval docs", "retrieval"),
        ("agent", "node"),
        ("agent > chat qwen", "llm"),
    ]


def test_a_retrieval_that_found_other_passages_is_where_the_runs_part():
    a, b = chat_run(ids=("c1",)), chat_run(ids=("c1", "c2", "c3", "c4", "c5"))
    found = first_divergence(a, b)
    assert found is not None
    assert (found.index, found.kind, found.path) == (1, "retrieval", "retrieve > retrieval docs")
    assert found.a == '"top k" → 1 passage [c1.md#c1]'
    assert found.b == '"top k" → 5 passages [c1.md#c1, c2.md#c2, c3.md#c3, …]'
    assert (found.span_id_a, found.span_id_b) == ("s1", "s1")
    assert found.describe() == f"step 2 (retrieve > retrieval docs): retrieval differs — a: {found.a} · b: {found.b}"
    assert json.loads(json.dumps(found.as_dict()))["description"] == found.describe()


def test_the_same_passages_for_another_query_is_a_retrieval_difference():
    found = first_divergence(chat_run(query="top k"), chat_run(query="default k"))
    assert found is not None and found.kind == "retrieval" and '"default k"' in found.b


def test_a_tool_called_with_other_arguments_or_giving_another_result_is_a_tool_call_difference():
    found = first_divergence(chat_run(), chat_run(arguments='{"query": "top k", "k": 10}'))
    assert found is not None
    assert (found.index, found.kind, found.path) == (5, "tool call", "tools > execute_tool search")
    assert (
        found.a == 'search(query="top k", k=3) → 3 passages' and found.b == 'search(query="top k", k=10) → 3 passages'
    )
    found = first_divergence(chat_run(), chat_run(result="no passages"))
    assert found is not None and found.kind == "tool call" and found.b.endswith("→ no passages")


def test_another_answer_from_the_model_is_a_model_output_difference():
    found = first_divergence(chat_run(), chat_run(answer="I do not know."))
    assert found is not None
    assert (found.index, found.kind, found.path) == (7, "model output", "agent > chat qwen")
    assert (found.a, found.b) == ('chat qwen: "The default is 5 [1]."', 'chat qwen: "I do not know."')


def test_another_model_at_the_same_step_differs_only_when_it_wrote_something_else():
    a, b = chat_run(), chat_run()
    b["spans"][-1] = span("s4", "n4", "llm", "chat llama", 31, gen_ai__request__model="llama",
                          gen_ai__output__messages=output("The default is 5 [1]."))  # fmt: skip
    assert first_divergence(a, b) is None
    b["spans"][-1]["attributes"]["gen_ai.output.messages"] = output("Five.")
    found = first_divergence(a, b)
    assert found is not None and (found.kind, found.b) == ("model output", 'chat llama: "Five."')


def test_a_graph_that_went_another_way_is_a_node_path_difference():
    a = chat_run()
    b = chat_run()
    b["spans"][3] = span("n2", ROOT, "node", "rewrite", 10)  # rewrite instead of agent, same LLM call inside
    found = first_divergence(a, b)
    assert found is not None
    assert (found.index, found.kind, found.path) == (2, "node path", "")
    assert (found.a, found.b) == ("agent", "rewrite")
    assert found.describe().startswith("step 3: node path differs — a: agent · b: rewrite")


def test_a_run_that_stopped_early_says_which_one_ended():
    a, b = chat_run(), chat_run()
    b["spans"] = b["spans"][:-2]  # no final answer
    found = first_divergence(a, b)
    assert found is not None
    assert (found.index, found.kind, found.path, found.b) == (6, "node path", "agent", ENDED)
    assert (found.span_id_a, found.span_id_b) == ("n4", None)
    assert "run b ended earlier" in found.describe()
    assert "run a ended earlier" in first_divergence(b, a).describe()  # type: ignore[union-attr]


def test_a_failed_step_is_a_difference_reported_at_the_step_that_failed_inside_its_node():
    a, b = chat_run(), chat_run()
    b["spans"][5] = {**b["spans"][5], "status": "error", "error": "tools node failed"}
    b["spans"][6] = {**b["spans"][6], "status": "error", "error": "search index is unavailable"}
    found = first_divergence(a, b)
    assert found is not None
    assert (found.index, found.kind, found.path) == (5, "error", "tools > execute_tool search")
    assert found.b.endswith("[error: search index is unavailable]")


def test_a_node_that_failed_before_doing_anything_is_reported_by_its_own_error():
    a, b = chat_run(), chat_run()
    b["spans"] = [*b["spans"][:5], {**b["spans"][5], "status": "error", "error": "ran out of tool calls"}]
    found = first_divergence(a, b)
    assert found is not None
    assert (found.index, found.kind, found.path) == (4, "error", "tools")
    assert (found.a, found.b) == ("tools", "tools [error: ran out of tool calls]")


def events(*steps: tuple[str, str], status: str = "ok") -> dict[str, Any]:
    """A run logged before runs had spans, as ``get_run`` returns it: its own span only, and its events."""
    rows = [
        {"run_id": "old", "seq": i, "node": node, "kind": kind, "status": status if i == len(steps) - 1 else "ok",
         "detail": {"model": "groq/llama"} if kind == "llm" else None}
        for i, (node, kind) in enumerate(steps)
    ]  # fmt: skip
    return {"run_id": "old", "spans": [span(ROOT, None, "run", "chat", 0)], "events": rows}


def test_runs_without_spans_are_compared_by_their_node_timelines():
    a = events(("retrieve", "node"), ("retrieval docs", "retriever"), ("generate", "node"), ("generate", "llm"))
    b = events(("retrieve", "node"), ("retrieval docs", "retriever"), ("rewrite", "node"), ("rewrite", "llm"))
    assert [s.path for s in steps_of(a)] == [
        "retrieve",
        "retrieve > retrieval docs",
        "generate",
        "generate > chat groq/llama",
    ]
    assert all(s.span_id is None for s in steps_of(a))
    found = first_divergence(a, b)
    assert found is not None and (found.index, found.kind, found.a, found.b) == (2, "node path", "generate", "rewrite")
    assert first_divergence(a, a) is None
    failed = first_divergence(a, events(*[("retrieve", "node"), ("retrieval docs", "retriever")], status="error"))
    assert failed is not None and failed.kind == "error" and failed.index == 1


def test_a_run_with_spans_and_one_without_are_compared_at_the_grain_both_have():
    old = events(("retrieve", "node"), ("retrieval docs", "retriever"), ("agent", "node"), ("agent", "llm"))
    found = first_divergence(old, chat_run())  # the new run's timeline is made from its spans
    assert found is not None
    assert (found.index, found.kind, found.a) == (4, "node path", ENDED)
    assert found.b == "tools"


def test_attributes_that_are_not_valid_json_are_compared_by_their_text():
    cut = passages("c1", "c2")[:60] + "…[truncated: 90000 chars]"  # the run log's marker after a cut
    a, b = chat_run(), chat_run()
    a["spans"][2]["attributes"]["gen_ai.retrieval.documents"] = cut
    b["spans"][2]["attributes"]["gen_ai.retrieval.documents"] = cut.replace("c1", "c9")
    found = first_divergence(a, b)
    assert found is not None and found.kind == "retrieval" and "[c1" in found.a and "[c9" in found.b
    a, b = chat_run(), chat_run()
    a["spans"][-1]["attributes"]["gen_ai.output.messages"] = '[{"role": "assistant", "content": "The def'
    b["spans"][-1]["attributes"]["gen_ai.output.messages"] = '[{"role": "assistant", "content": "Nothing'
    found = first_divergence(a, b)
    assert found is not None and found.kind == "model output" and "The def" in found.a


def test_odd_spans_never_raise_and_every_summary_is_bounded():
    long = "word " * 2000
    run = trace(
        span("n1", ROOT, "node", "agent", 1),
        span("s1", "n1", "llm", "chat qwen", 2, gen_ai__output__messages=output(long)),
        span("s2", "n1", "tool", "execute_tool x", 3, gen_ai__tool__call__arguments=json.dumps({"q": long})),
        span("s3", "n1", "retrieval", "retrieval", 4, gen_ai__retrieval__documents='"not a list"'),
        span("s4", "n1", "mystery", "", 5, status="error", error=long),
        {**span("s5", "n1", "tool", "execute_tool y", 6), "attributes": "not json {"},
        {"name": "no id", "kind": "node"},
        "not a span",
    )
    steps = steps_of(run)
    assert [s.kind for s in steps] == ["node", "llm", "tool", "retrieval", "mystery", "tool"]
    assert all(len(s.summary) <= SUMMARY and (s.error is None or len(s.error) <= SUMMARY) for s in steps)
    assert steps[5].summary == "y()"
    assert first_divergence(run, {"spans": None}) is not None


def test_divergences_reads_each_case_and_says_why_when_a_trace_is_missing():
    traces = {"a1": chat_run(), "b1": chat_run(ids=("c3",)), "a2": chat_run(), "b2": chat_run()}

    def read(run_id: str) -> dict[str, Any] | None:
        if run_id == "broken":
            raise RunLogUnavailable("the run log is damaged; move runs.duckdb aside")
        return traces.get(run_id)

    found = divergences(
        [("flipped", "a1", "b1"), ("scored", "a2", "b2"), ("gone", "a1", "b9"), ("none", None, "b1"),
         ("damaged", "broken", "b1")],
        read,
    )  # fmt: skip
    flipped = found["flipped"]
    assert not isinstance(flipped, str) and flipped is not None and flipped.kind == "retrieval"
    assert found["scored"] is None
    assert found["gone"] == "run b's trace is not in this run log"
    assert found["none"] == "run a logged no trace of this case"
    assert found["damaged"] == "the run log is damaged; move runs.duckdb aside"


# -- real runs through the run log ---------------------------------------------------------------------------


class TopKStore:
    """A vector store that honours k: the first k of five passages."""

    def search(self, collection, query, k=5, filters=None, mode="hybrid"):
        return [
            {"chunk_id": f"c{i}", "source": f"/corpus/f{i}.md", "title": None, "section": None, "page": None,
             "text": f"Passage {i}.", "score": 1.0 / i, "dense_score": 0.9, "sparse_score": 1.0}
            for i in range(1, k + 1)
        ]  # fmt: skip


@pytest.fixture
def runlog(tmp_path: Path):
    log = RunLog(tmp_path / "runs.duckdb")
    yield log
    log.close()


async def test_two_chat_runs_with_another_top_k_part_at_their_retrieval(tmp_path: Path, runlog: RunLog):
    model = ScriptedChatModel()
    settings = Settings(home=tmp_path, llm="fake")
    store: Any = TopKStore()
    resources = Resources(settings, store=store, models=ModelRegistry(settings, {"fake": model}))
    graph = builder.compile(checkpointer=InMemorySaver(), name="chat").with_config(callbacks=[RunLogCallback(runlog)])
    run_ids: list[str] = []
    for top_k in (1, 5):
        model.enqueue("The default is 5 [1].")
        run_id = uuid4()
        config: RunnableConfig = {"run_id": run_id, "configurable": {"thread_id": str(run_id)}}
        await graph.ainvoke(
            {"messages": [HumanMessage("What is top k?")]},
            config,
            context=ChatContext(resources=resources, top_k=top_k),
        )
        run_ids.append(str(run_id))
    assert flushed(runlog)

    first, second = run_ids
    found = divergences([("top-k", first, second), ("same", first, first)], run_reader(runlog))
    parted = found["top-k"]
    assert not isinstance(parted, str) and parted is not None
    assert (parted.index, parted.kind, parted.path) == (1, "retrieval", "retrieve > retrieval docs")
    assert parted.a == '"What is top k?" → 1 passage [f1.md#c1]'
    assert parted.b.startswith('"What is top k?" → 5 passages [f1.md#c1, f2.md#c2, f3.md#c3, …]')
    assert parted.span_id_a and parted.span_id_b and parted.span_id_a != parted.span_id_b
    assert found["same"] is None


def test_an_older_run_logged_without_spans_is_read_by_its_node_timeline(runlog: RunLog):
    for run_id, nodes in (("old-a", ("retrieve", "generate")), ("old-b", ("retrieve", "rewrite"))):
        runlog.log_run(RunRecord(run_id, "chat", status="ok", started_at=T0, ended_at=T0))
        runlog.log_events([EventRecord(run_id, seq, node, started_at=T0) for seq, node in enumerate(nodes)])
    assert runlog.flush(10)
    found = divergences([("old", "old-a", "old-b")], run_reader(runlog))["old"]
    assert not isinstance(found, str) and found is not None
    assert (found.index, found.kind, found.a, found.b) == (1, "node path", "generate", "rewrite")

"""Session histories of the in-process runtime on a real SQLite checkpointer: every step saved and listed (subgraph
namespaces included, as LangGraph itself reports them), interrupts inside a subgraph waited on and resumed, a turn
cut short rolled back, and forks with edited state that run on."""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from workbench.runtime import GraphRun, LocalRuntime, ThreadNotFound

GRAPH = "demo"


class State(TypedDict, total=False):
    question: str
    answer: str
    log: Annotated[list[str], operator.add]


def plan(state: State) -> State:
    if state.get("question") == "explode":
        raise RuntimeError("the planner broke")
    return {"answer": f"plan for {state.get('question')}", "log": ["plan"]}


def approve(state: State) -> State:
    return {"answer": f"{state.get('answer')} ({interrupt({'question': 'approve?'})})", "log": ["approve"]}


inner = StateGraph(State)
inner.add_node("approve", approve)
inner.add_edge(START, "approve")
inner.add_edge("approve", END)
approval = inner.compile()


async def review(state: State) -> State:
    """A node that calls a subgraph (as agent specs' subgraph nodes do), whose node asks a human."""
    result = await approval.ainvoke({"answer": state.get("answer", ""), "log": []})
    return {"answer": result["answer"], "log": ["review"]}


def wrapped(node: Any) -> Any:
    """``node`` inside another function, as the spec compiler wraps its nodes: LangGraph cannot walk to the
    subgraph ``node`` calls."""

    async def run(state: State) -> State:
        return await node(state)

    return run


def build(saver: AsyncSqliteSaver, gated: bool, hidden: bool = False) -> Any:
    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_edge(START, "plan")
    if gated:
        graph.add_node("review", wrapped(review) if hidden else review)
        graph.add_edge("plan", "review")
        graph.add_edge("review", END)
    else:
        graph.add_edge("plan", END)
    return graph.compile(checkpointer=saver)


@pytest.fixture
async def runtime(tmp_path) -> AsyncIterator[LocalRuntime]:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "checkpoints.sqlite")) as saver:
        local = LocalRuntime(saver, name="sqlite")
        local.graphs[GRAPH] = build(saver, gated=True)
        local.graphs["plain"] = build(saver, gated=False)
        local.graphs["hidden"] = build(saver, gated=True, hidden=True)
        yield local


async def run(runtime: LocalRuntime, session: str, question: str | None, graph: str = GRAPH, **extra: Any) -> list:
    given = None if question is None else {"question": question}
    parts = GraphRun(graph, given, str(uuid.uuid4()), thread=session, stream_mode=("values",), **extra)
    return [part async for part in runtime.stream(parts)]


async def test_the_history_lists_every_checkpoint_as_langgraph_reports_it_subgraphs_included(runtime):
    parts = await run(runtime, "s1", "ship it?")
    assert "__interrupt__" in parts[-1][1], "the run stopped on the subgraph's question"
    records = await runtime.history(GRAPH, "s1")
    graph, saver = runtime.graphs[GRAPH], runtime.checkpointer
    config = {"configurable": {"thread_id": runtime.thread_id(GRAPH, "s1")}}
    theirs = [s async for s in graph.aget_state_history(config)]
    root = [r for r in records if r.namespace == ""]
    assert [r.checkpoint_id for r in root] == [s.config["configurable"]["checkpoint_id"] for s in theirs]
    assert [r.next for r in root] == [list(s.next) for s in theirs]
    assert [r.step for r in root] == [s.metadata["step"] for s in theirs]
    assert [r.node for r in root] == ["plan", "__start__", "input"] and root[0].values["answer"] == "plan for ship it?"
    inside = [r for r in records if r.namespace]
    raw = [t async for t in saver.alist(config) if t.config["configurable"]["checkpoint_ns"]]
    assert [r.checkpoint_id for r in inside] == [t.config["configurable"]["checkpoint_id"] for t in raw]
    assert {r.namespace.split(":")[0] for r in inside} == {"review"}
    assert inside[0].next == ["approve"] and inside[0].interrupts[0].value == {"question": "approve?"}


async def test_an_interrupt_inside_a_subgraph_is_waited_on_listed_and_resumed(runtime):
    await run(runtime, "s2", "deploy?")
    (question,) = await runtime.waiting(GRAPH, "s2")
    assert question.value == {"question": "approve?"} and question.namespace.startswith("review:")
    (listed,) = [t for t in await runtime.threads(GRAPH) if t.session_id == "s2"]
    assert (listed.status, listed.first_question) == ("waiting", "")  # no messages in this graph's state
    parts = await run(runtime, "s2", None, resume="approved")
    assert parts[-1][1]["answer"] == "plan for deploy? (approved)"
    assert await runtime.waiting(GRAPH, "s2") == []
    assert (await runtime.state(GRAPH, "s2"))["log"] == ["plan", "review"]


async def test_a_question_from_a_subgraph_called_inside_a_node_is_placed_in_its_namespace(runtime):
    parts = await run(runtime, "s9", "deploy?", graph="hidden")
    assert parts[-1][1]["__interrupt__"][0].value == {"question": "approve?"}
    (question,) = await runtime.waiting("hidden", "s9")
    assert question.namespace.startswith("review:"), "found where the checkpointer saved it"
    await run(runtime, "s9", None, graph="hidden", resume="ok")
    assert (await runtime.state("hidden", "s9"))["answer"] == "plan for deploy? (ok)"


async def test_a_turn_that_fails_is_rolled_back_and_stays_in_the_history(runtime):
    await run(runtime, "s3", "first", graph="plain")
    with pytest.raises(RuntimeError, match="the planner broke"):
        await run(runtime, "s3", "explode", graph="plain")
    state = await runtime.state("plain", "s3")
    assert (state["question"], state["log"]) == ("first", ["plan"]), "the session is where its last turn ended"
    records = await runtime.history("plain", "s3")
    assert records[0].source == "fork" and records[0].values["question"] == "first"
    assert any(r.values.get("question") == "explode" for r in records), "the failed turn is kept for debugging"
    await run(runtime, "s3", "second", graph="plain")
    assert (await runtime.state("plain", "s3"))["log"] == ["plan", "plan"]


async def test_a_first_turn_that_fails_leaves_no_session(runtime):
    with pytest.raises(RuntimeError):
        await run(runtime, "s4", "explode", graph="plain")
    assert await runtime.state("plain", "s4") == {}
    assert [t.session_id for t in await runtime.threads("plain")] == []


async def test_a_fork_with_edited_state_is_a_session_of_its_own_that_runs_on(runtime):
    await run(runtime, "s5", "release?")
    planned = next(r for r in await runtime.history(GRAPH, "s5") if r.namespace == "" and r.node == "plan")
    session, head = await runtime.fork(GRAPH, "s5", planned.checkpoint_id, {"answer": "a better plan"})
    assert session.startswith("s5.fork-") and head.values["answer"] == "a better plan"
    assert head.next == ["review"], "the fork goes on from the node after the one it was made at"
    parts = await run(runtime, session, None)
    assert "__interrupt__" in parts[-1][1]
    await run(runtime, session, None, resume="yes")
    assert (await runtime.state(GRAPH, session))["answer"] == "a better plan (yes)"
    assert (await runtime.state(GRAPH, "s5"))["answer"] == "plan for release?", "the original is untouched"
    (fork,) = [t for t in await runtime.threads(GRAPH) if t.session_id == session]
    assert fork.forked_from == {"session_id": "s5", "checkpoint_id": planned.checkpoint_id}


async def test_bad_forks_are_refused_with_what_to_do(runtime):
    await run(runtime, "s6", "why?")
    records = [r for r in await runtime.history(GRAPH, "s6") if r.namespace == ""]
    with pytest.raises(ValueError, match="no state field colour in this graph; its fields: answer, log, question"):
        await runtime.fork(GRAPH, "s6", records[0].checkpoint_id, {"colour": "red"})
    with pytest.raises(ValueError, match="holds a run's input"):
        await runtime.fork(GRAPH, "s6", records[-1].checkpoint_id)
    with pytest.raises(ThreadNotFound):
        await runtime.fork(GRAPH, "s6", str(uuid.uuid4()))
    with pytest.raises(ValueError, match="messages"):
        await runtime.fork(GRAPH, "s6", records[0].checkpoint_id, {"messages": "hi"})


async def test_abandoning_a_waiting_session_goes_back_to_where_its_last_finished_turn_ended(runtime):
    await run(runtime, "s7", "one")
    await run(runtime, "s7", None, resume="yes")
    assert await runtime.abandon(GRAPH, "s7") is False, "it waits on nothing"
    await run(runtime, "s7", "two")
    assert await runtime.waiting(GRAPH, "s7")
    assert await runtime.abandon(GRAPH, "s7") is True
    assert await runtime.waiting(GRAPH, "s7") == []
    state = await runtime.state(GRAPH, "s7")
    assert (state["question"], state["answer"]) == ("one", "plan for one (yes)")
    await run(runtime, "s8", "never answered")
    assert await runtime.abandon(GRAPH, "s8") is True
    assert await runtime.state(GRAPH, "s8") == {}, "no turn of it had finished: the session is cleared"


async def test_a_forks_checkpoints_say_which_node_their_state_was_written_as(runtime):
    await run(runtime, "s10", "label?")
    planned = next(r for r in await runtime.history(GRAPH, "s10") if r.namespace == "" and r.node == "plan")
    session, head = await runtime.fork(GRAPH, "s10", planned.checkpoint_id, {"answer": "edited"})
    records = [r for r in await runtime.history(GRAPH, session) if r.namespace == ""]
    assert [(r.node, r.source) for r in records] == [("plan", "update"), ("plan", "update")]
    assert head.node == records[0].node and head.checkpoint_id == records[0].checkpoint_id


async def test_a_fork_of_a_runs_start_changes_only_its_input_fields(runtime):
    """What a run starts with is written as its input: a field the input does not take is refused, not dropped."""
    from langgraph.graph import StateGraph as Graph

    class Input(TypedDict, total=False):
        question: str

    graph = Graph(State, input_schema=Input)
    graph.add_node("plan", plan)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", END)
    runtime.graphs["typed"] = graph.compile(checkpointer=runtime.checkpointer)
    await run(runtime, "s11", "why?", graph="typed")
    started = next(r for r in await runtime.history("typed", "s11") if r.node == "__start__")
    with pytest.raises(ValueError, match=r"only its input \(question\) can change; to change answer, fork from"):
        await runtime.fork("typed", "s11", started.checkpoint_id, {"answer": "dropped otherwise"})
    session, head = await runtime.fork("typed", "s11", started.checkpoint_id, {"question": "how?"})
    assert head.values["question"] == "how?" and head.next == ["plan"]

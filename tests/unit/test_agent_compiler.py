"""Compiling agent specs to LangGraph graphs: their shape is the spec's, and they run on fakes (a store that
returns queued results, a scripted model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from tests.unit.test_agent_specs import GOOD
from tests.unit.test_chat_graph import FakeStore, doc
from workbench.agents import registry
from workbench.agents.compiler import SpecContext, compile_spec
from workbench.agents.validate import load_spec
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, tool_call

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Fakes:
    """A scripted model and a fake store, as the clients a spec's runs get in their context."""

    model: ScriptedChatModel
    store: FakeStore
    resources: Resources

    def context(self, **knobs: Any) -> SpecContext:
        return SpecContext(resources=self.resources, **knobs)


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    model = ScriptedChatModel()
    store = FakeStore([], [doc(1, "The default port is 8000.")])  # the first search finds nothing, the next one hits
    monkeypatch.setenv("WORKBENCH_MODEL_SMART", "fake")
    monkeypatch.setenv("WORKBENCH_MODEL_FAST", "fake")
    settings = Settings(home=tmp_path, llm="fake", testing=True)
    return Fakes(model, store, Resources(settings, store=store, models=ModelRegistry(settings, {"fake": model})))


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agents" / "tiny.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_the_graph_has_the_specs_nodes_and_edges(tmp_path, fakes):
    spec = load_spec(spec_file(tmp_path, GOOD), registry.known(tmp_path / "agents"))
    drawing = compile_spec(spec, folder=tmp_path / "agents").get_graph().draw_mermaid()
    for line in ("__start__ --> retrieve;", "retrieve --> decide;", "decide -. &nbsp;again&nbsp; .-> retrieve;",
                 "decide -.-> answer;", "answer --> __end__;"):  # fmt: skip
        assert line in drawing, drawing


async def test_a_router_loops_until_its_condition_fails_then_the_llm_answers(tmp_path, fakes):
    model, store = fakes.model, fakes.store
    model.enqueue("The default port is 8000 [1].")
    spec = load_spec(spec_file(tmp_path, GOOD), registry.known(tmp_path / "agents"))
    graph = compile_spec(spec, folder=tmp_path / "agents")
    result = await graph.ainvoke(
        {"messages": [HumanMessage("Which port?")], "metadata": {"source": "a.md"}}, context=fakes.context()
    )
    assert [q[1] for q in store.queries] == ["Which port?", "Which port?"]  # retrieved again: nothing came back
    assert store.queries[0][3] == {"source": "a.md"}  # the turn's metadata filters the search
    assert isinstance(result["messages"][-1], AIMessage) and "8000" in result["messages"][-1].content
    system = model.calls[0][0].content
    assert "[1]" in system and "The default port is 8000." in system  # the documents are the prompt's context


async def test_an_llm_node_runs_the_tools_the_model_calls(tmp_path, fakes):
    model = fakes.model
    model.enqueue(tool_call("calculator", {"expression": "6 * 7"}), "It is 42.")
    text = GOOD.replace("    context: documents\n", "    context: documents\n    tools: [calculator]\n")
    spec = load_spec(spec_file(tmp_path, text), registry.known(tmp_path / "agents"))
    result = await compile_spec(spec, folder=tmp_path / "agents").ainvoke(
        {"messages": [HumanMessage("6 times 7?")]}, context=fakes.context()
    )
    kinds = [type(m).__name__ for m in result["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert result["messages"][2].content == "42" and result["messages"][-1].content == "It is 42."


def test_the_example_rag_chat_spec_compiles():
    spec = load_spec(ROOT / "agents" / "rag-chat.yaml", registry.known())
    graph = compile_spec(spec)
    assert set(graph.get_graph().nodes) == {"__start__", "retrieve", "decide", "rewrite", "generate", "__end__"}


def test_the_cli_draws_a_spec_by_name_and_refuses_a_broken_one(tmp_path):
    from typer.testing import CliRunner

    from workbench.cli import app

    drawn = CliRunner().invoke(app, ["agents", "draw", "rag_chat"])
    assert drawn.exit_code == 0 and "retrieve --> decide;" in drawn.output
    bad = spec_file(tmp_path, GOOD.replace("model: smart", "model: huge"))
    refused = CliRunner().invoke(app, ["agents", "draw", str(bad)])
    assert refused.exit_code == 1 and "unknown model 'huge'" in refused.output


async def test_the_rag_chat_spec_rewrites_an_off_topic_question_once_then_answers(fakes):
    model, store = fakes.model, fakes.store
    store.results = [[doc(1, "Voices are piper models.", dense=0.1)], [doc(2, "The default port is 8000.", dense=0.7)]]
    model.enqueue("workbench server default port", "The server listens on port 8000 [1].")
    graph = compile_spec(load_spec(ROOT / "agents" / "rag-chat.yaml", registry.known()))
    result = await graph.ainvoke({"messages": [HumanMessage("Which port does it use?")]}, context=fakes.context())
    assert [q[1] for q in store.queries] == ["Which port does it use?", "workbench server default port"]
    assert (result["rewrites"], result["query"], result["relevance"]) == (1, "workbench server default port", 0.7)
    assert [type(m).__name__ for m in result["messages"]] == ["HumanMessage", "AIMessage"]  # the rewrite is not a reply
    assert "8000" in result["messages"][-1].content


SNAPSHOTS = Path(__file__).parent / "snapshots" / "agents"


@pytest.mark.parametrize("name", ["rag_chat", "research_loop", "calculator", "approval", "nested_approval"])
def test_each_example_spec_compiles_to_its_snapshot(name):
    import os

    from workbench.agents import catalog

    agent = catalog.require(name, registry.AGENTS_DIR)
    assert agent.spec is not None
    drawing = compile_spec(agent.spec).get_graph().draw_mermaid()
    snapshot = SNAPSHOTS / f"{name}.mmd"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(drawing)
    assert drawing == snapshot.read_text(), "the graph's shape changed; review it, then rerun with UPDATE_SNAPSHOTS=1"


def _flow(graph, routers: set[str], tool_nodes: set[str]) -> set[tuple[str, str]]:
    """The graph's edges with its routers folded into their predecessors and its tool nodes into the node that
    calls them (where the spec's llm node runs its tool loop itself)."""
    edges = {(e.source, e.target) for e in graph.get_graph().edges}
    for router in routers:
        into = {s for s, t in edges if t == router}
        out = {t for s, t in edges if s == router}
        edges = {(s, t) for s, t in edges if router not in (s, t)} | {(s, t) for s in into for t in out}
    return {(s, t) for s, t in edges if s not in tool_nodes and t not in tool_nodes}


def test_the_rag_chat_spec_has_the_chat_graphs_shape():
    from graphs.chat import builder

    spec = load_spec(ROOT / "agents" / "rag-chat.yaml", registry.known())
    ours = _flow(compile_spec(spec), {"decide"}, set())
    theirs = _flow(builder.compile(), set(), {"tools"})
    assert ours == theirs == {
        ("__start__", "retrieve"), ("retrieve", "rewrite"), ("retrieve", "generate"), ("rewrite", "retrieve"),
        ("generate", "__end__"),
    }  # fmt: skip


async def test_turn_fields_start_fresh_each_turn_of_a_session(fakes):
    from langgraph.checkpoint.memory import InMemorySaver

    model, store = fakes.model, fakes.store
    off_topic, on_topic = [doc(1, "Voices are piper models.", dense=0.1)], [doc(2, "Port 8000.", dense=0.7)]
    store.results = [off_topic, on_topic, off_topic, on_topic]
    model.enqueue("server port", "Port 8000 [1].", "voice models", "Piper [1].")
    graph = compile_spec(load_spec(ROOT / "agents" / "rag-chat.yaml", registry.known()), checkpointer=InMemorySaver())
    session = {"configurable": {"thread_id": "s1"}}
    first = await graph.ainvoke({"messages": [HumanMessage("Which port?")]}, session, context=fakes.context())
    second = await graph.ainvoke({"messages": [HumanMessage("And the voices?")]}, session, context=fakes.context())
    assert first["rewrites"] == 1 and second["rewrites"] == 1  # the second turn may rewrite again
    assert [q[1] for q in store.queries] == ["Which port?", "server port", "And the voices?", "voice models"]
    assert len(second["messages"]) == 4  # the session keeps the conversation


async def test_the_turns_knobs_override_the_spec_and_the_answer_node_announces_its_passages(fakes):
    model, store = fakes.model, fakes.store
    store.results = [[doc(1, "The default port is 8000.", dense=0.9)]]
    model.enqueue("Port 8000 [1].")
    graph = compile_spec(load_spec(ROOT / "agents" / "rag-chat.yaml", registry.known()))
    context = fakes.context(model="fake", collection="other", top_k=7, search_mode="dense")
    events = [
        chunk
        async for mode, chunk in graph.astream(
            {"messages": [HumanMessage("Which port?")]}, context=context, stream_mode=["custom", "values"]
        )
        if mode == "custom"
    ]
    assert store.queries == [("other", "Which port?", 7, None, "dense")]
    assert [e["type"] for e in events] == ["retrieval"]  # once, from the answering node
    assert events[0]["query"] == "Which port?" and events[0]["documents"][0]["chunk_id"] == "c1"


async def test_on_the_extractive_baseline_a_rewrite_widens_the_query_with_earlier_questions(tmp_path, monkeypatch):
    from langgraph.checkpoint.memory import InMemorySaver

    store = FakeStore([doc(1, "Voices are piper models.", dense=0.1)])
    monkeypatch.setenv("WORKBENCH_MODEL_SMART", "extractive")
    monkeypatch.setenv("WORKBENCH_MODEL_FAST", "extractive")
    context = SpecContext(resources=Resources(Settings(home=tmp_path, llm="extractive", testing=True), store=store))
    graph = compile_spec(load_spec(ROOT / "agents" / "rag-chat.yaml", registry.known()), checkpointer=InMemorySaver())
    session = {"configurable": {"thread_id": "s"}}
    await graph.ainvoke({"messages": [HumanMessage("What is the home folder?")]}, session, context=context)
    result = await graph.ainvoke({"messages": [HumanMessage("And its default?")]}, session, context=context)
    assert store.queries[-1][1] == "What is the home folder? And its default?"
    assert result["model"] == "extractive" and isinstance(result["messages"][-1], AIMessage)


async def test_the_research_loop_revises_once_when_the_critic_asks_then_answers_once(fakes):
    model, store = fakes.model, fakes.store
    store.results = [[doc(1, "The server listens on 8000.")], [doc(2, "Set WORKBENCH_PORT to change it.")]]
    model.enqueue(
        "server port",  # plan
        "It listens on 8000 [1].",  # draft
        "revise: say how to change it",  # critique
        "change server port",  # plan again, with the critic's note
        "It listens on 8000; WORKBENCH_PORT changes it [1].",  # draft
        "accept",  # critique
        "It listens on 8000; set WORKBENCH_PORT to change it [1].",  # the answer
    )
    spec = load_spec(ROOT / "agents" / "research-loop.yaml", registry.known())
    graph = compile_spec(spec)
    parts = [
        part
        async for part in graph.astream(
            {"messages": [HumanMessage("Which port, and how to change it?")]},
            context=fakes.context(),
            stream_mode=["custom", "values"],
        )
    ]
    result = parts[-1][1]
    assert [q[1] for q in store.queries] == ["server port", "change server port"]
    assert (result["rounds"], result["verdict"]) == (2, "accept")
    assert "revise: say how to change it" in model.calls[3][0].content  # the planner saw the critic's note
    assert "It listens on 8000 [1]." in model.calls[2][0].content  # the critic saw the draft
    final = model.calls[6][0].content
    assert "WORKBENCH_PORT changes it" in final and "Reviewer's note: accept" in final  # the answer sees both
    assert [type(m).__name__ for m in result["messages"]] == ["HumanMessage", "AIMessage"]  # drafts stay out
    assert result["messages"][-1].content == "It listens on 8000; set WORKBENCH_PORT to change it [1]."
    assert [p[1]["type"] for p in parts if p[0] == "custom"] == ["retrieval"]  # announced once, by the answer


async def test_the_calculator_agent_calls_the_tool_and_answers_with_its_result(fakes):
    model = fakes.model
    model.enqueue(tool_call("calculator", {"expression": "2 * (3 + 4)"}), "2 * (3 + 4) is 14.")
    spec = load_spec(ROOT / "agents" / "calculator.yaml", registry.known())
    result = await compile_spec(spec).ainvoke(
        {"messages": [HumanMessage("What is 2 * (3 + 4)?")]}, context=fakes.context()
    )
    assert model.bound_tools == ["calculator"]
    assert [type(m).__name__ for m in result["messages"]] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert result["messages"][2].content == "14" and result["model"] == "fake"


async def test_the_chat_service_runs_an_agent_with_its_own_session_and_streams_only_the_answer(tmp_path, fakes):
    from langgraph.checkpoint.memory import InMemorySaver

    from workbench.errors import ConfigurationError
    from workbench.events import ChatDoneEvent, RetrievalEvent, TokenEvent
    from workbench.runlog import RunLog
    from workbench.runlog.callback import RunLogCallback
    from workbench.runtime import LocalRuntime
    from workbench.turns.chat import ChatService, TurnRequest

    model, store = fakes.model, fakes.store
    store.results = [[doc(1, "Voices are piper models.", dense=0.1)], [doc(2, "The default port is 8000.", dense=0.7)]]
    model.enqueue("workbench server port", "The port is 8000 [1].")
    runlog = RunLog(tmp_path / "runs.duckdb")
    resources = fakes.resources.with_settings(Settings(home=tmp_path, llm="fake"))
    service = ChatService(resources, LocalRuntime(InMemorySaver(), resources=resources), RunLogCallback(runlog))
    try:
        request = TurnRequest("Which port?", "s1", agent="rag_chat", entry_point="test")
        events = [event async for event in service.stream(request)]
        with pytest.raises(
            ConfigurationError,
            match="unknown agent 'nope'; choose one of approval, calculator, nested_approval, rag_chat",
        ):
            service.check(TurnRequest("Hi", "s1", agent="nope"))
        agent_history = await service.history("s1", agent="rag_chat")
        chat_history = await service.history("s1")
    finally:
        runlog.close()
    retrieval, tokens, done = events[0], events[1:-1], events[-1]
    assert isinstance(retrieval, RetrievalEvent) and isinstance(done, ChatDoneEvent) and tokens
    assert all(isinstance(e, TokenEvent) for e in tokens)
    assert retrieval.query == "workbench server port" and retrieval.documents[0].text.endswith("8000.")
    streamed = "".join(e.content for e in tokens if isinstance(e, TokenEvent))
    assert streamed == "The port is 8000 [1]." == done.answer  # the rewrite's text is not streamed
    assert done.citations == [1] and done.model == "fake"
    assert [m.content for m in agent_history] == ["Which port?", "The port is 8000 [1]."]
    assert chat_history == []  # the chat graph's session of the same id is another conversation


TOOL_SPEC = """\
name: arithmetic
version: 1
state:
  expression: {type: str, default: ""}
  result: {type: str, default: ""}
nodes:
  extract: {kind: llm, model: fast, prompt: chat-rewrite@v1, output: expression, append_messages: false}
  calculate: {kind: tool, tool: calculator, arguments: {expression: expression}, output: result}
edges:
  - {from: START, to: extract}
  - {from: extract, to: calculate}
  - {from: calculate, to: END}
"""

APPROVAL_SPEC = """\
name: approval
version: 1
state:
  approved: {type: str, default: ""}
nodes:
  ask: {kind: interrupt, question: "Answer this one?", output: approved}
  gate:
    kind: router
    routes: {go: lower(approved) == "yes"}
    default: stop
  answer: {kind: llm, model: smart, prompt: chat-answer@v1}
edges:
  - {from: START, to: ask}
  - {from: ask, to: gate}
  - {from: answer, to: END}
conditional_edges:
  - from: gate
    map: {go: answer, stop: END}
"""


async def test_a_tool_node_runs_its_tool_on_state_fields(tmp_path, fakes):
    model = fakes.model
    model.enqueue("6 * 7")
    spec = load_spec(spec_file(tmp_path, TOOL_SPEC), registry.known(tmp_path / "agents"))
    result = await compile_spec(spec, folder=tmp_path / "agents").ainvoke(
        {"messages": [HumanMessage("six sevens")]}, context=fakes.context()
    )
    assert (result["expression"], result["result"]) == ("6 * 7", "42")
    assert [type(m).__name__ for m in result["messages"]] == ["HumanMessage"]


async def test_an_interrupt_node_waits_for_a_human_and_resumes_with_the_answer(tmp_path, fakes):
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    model = fakes.model
    model.enqueue("Approved answer.")
    spec = load_spec(spec_file(tmp_path, APPROVAL_SPEC), registry.known(tmp_path / "agents"))
    graph = compile_spec(spec, folder=tmp_path / "agents", checkpointer=InMemorySaver())
    session = {"configurable": {"thread_id": "t"}}
    paused = await graph.ainvoke({"messages": [HumanMessage("Please answer")]}, session, context=fakes.context())
    assert paused["__interrupt__"][0].value == {"question": "Answer this one?"} and model.calls == []
    resumed = await graph.ainvoke(Command(resume="yes"), session, context=fakes.context())
    assert resumed["approved"] == "yes" and resumed["messages"][-1].content == "Approved answer."


async def test_a_subgraph_node_runs_another_spec_on_the_conversation(tmp_path, fakes):
    model, store = fakes.model, fakes.store
    store.results = [[doc(1, "The default port is 8000.")]]
    model.enqueue("Port 8000 [1].")
    spec_file(tmp_path, GOOD)  # agents/tiny.yaml
    outer = tmp_path / "agents" / "outer.yaml"
    outer.write_text("name: outer\nversion: 1\nnodes:\n  inner: {kind: subgraph, agent: tiny}\n"
                     "edges:\n  - {from: START, to: inner}\n  - {from: inner, to: END}\n")  # fmt: skip
    spec = load_spec(outer, registry.known(tmp_path / "agents"))
    result = await compile_spec(spec, folder=tmp_path / "agents").ainvoke(
        {"messages": [HumanMessage("Which port?")]}, context=fakes.context()
    )
    assert [m.content for m in result["messages"]] == ["Which port?", "Port 8000 [1]."]


async def test_the_chat_service_stops_a_turn_on_its_question_and_runs_it_on_with_the_answer(
    tmp_path, fakes, monkeypatch
):
    from langgraph.checkpoint.memory import InMemorySaver

    from workbench.events import ChatDoneEvent, InterruptEvent
    from workbench.runtime import LocalRuntime
    from workbench.turns.chat import ChatService, TurnRequest

    spec_file(tmp_path, APPROVAL_SPEC)
    monkeypatch.setenv("WORKBENCH_AGENTS_DIR", str(tmp_path / "agents"))
    fakes.model.enqueue("Approved answer.")
    resources = fakes.resources.with_settings(Settings(home=tmp_path, llm="fake"))
    service = ChatService(resources, LocalRuntime(InMemorySaver(), resources=resources))
    asked = [e async for e in service.stream(TurnRequest("Please answer", "s", agent="approval"))]
    (stopped,) = asked
    assert isinstance(stopped, InterruptEvent) and stopped.session_id == "s"
    assert [q.value for q in stopped.interrupts] == [{"question": "Answer this one?"}]
    request = TurnRequest("", "s", agent="approval", continues=True, resume="yes")
    assert [q.id for q in await service.pending(request)] == [stopped.interrupts[0].id]
    answered = [e async for e in service.stream(request)]
    assert isinstance(answered[-1], ChatDoneEvent) and answered[-1].answer == "Approved answer."
    assert await service.pending(request) == [] and fakes.model.calls, "the model ran only after the answer"


UNSET_SPEC = """\
name: unset
version: 1
state:
  note: {type: str}
  memo: {type: str, persist: true}
  heard: {type: str}
  kept: {type: str}
nodes:
  first: {kind: tool, tool: seen, arguments: {text: note}, output: heard}
  second: {kind: tool, tool: seen, arguments: {text: memo}, output: kept}
edges:
  - {from: START, to: first}
  - {from: first, to: second}
  - {from: second, to: END}
"""


async def test_a_str_field_without_a_default_reaches_a_tool_as_an_empty_string(tmp_path, fakes, monkeypatch):
    from langchain_core.tools import tool

    @tool
    def seen(text: str) -> str:
        """Say what was given."""
        return f"got {text!r}"

    monkeypatch.setitem(registry._tools, "seen", seen)
    spec = load_spec(spec_file(tmp_path, UNSET_SPEC), registry.known(tmp_path / "agents"))
    result = await compile_spec(spec, folder=tmp_path / "agents").ainvoke(
        {"messages": [HumanMessage("hi")]}, context=fakes.context()
    )
    assert (result["heard"], result["kept"]) == ("got ''", "got ''")

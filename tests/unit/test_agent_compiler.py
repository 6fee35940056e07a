"""Compiling agent specs to LangGraph graphs: their shape is the spec's, and they run on fakes (a store that
returns queued results, a scripted model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from tests.unit.test_agent_specs import GOOD
from tests.unit.test_chat_graph import FakeStore, doc
from workbench.agents import registry
from workbench.agents.compiler import compile_spec
from workbench.agents.validate import load_spec
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources, set_resources
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, tool_call

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    model = ScriptedChatModel()
    store = FakeStore([], [doc(1, "The default port is 8000.")])  # the first search finds nothing, the next one hits
    settings = Settings(home=tmp_path, llm="fake", testing=True)
    monkeypatch.setenv("WORKBENCH_MODEL_SMART", "fake")
    monkeypatch.setenv("WORKBENCH_MODEL_FAST", "fake")
    previous = set_resources(Resources(settings, store=store, models=ModelRegistry(settings, {"fake": model})))
    yield model, store
    set_resources(previous)


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
    model, store = fakes
    model.enqueue("The default port is 8000 [1].")
    spec = load_spec(spec_file(tmp_path, GOOD), registry.known(tmp_path / "agents"))
    graph = compile_spec(spec, folder=tmp_path / "agents")
    result = await graph.ainvoke({"messages": [HumanMessage("Which port?")], "metadata": {"source": "a.md"}})
    assert [q[1] for q in store.queries] == ["Which port?", "Which port?"]  # retrieved again: nothing came back
    assert store.queries[0][3] == {"source": "a.md"}  # the turn's metadata filters the search
    assert isinstance(result["messages"][-1], AIMessage) and "8000" in result["messages"][-1].content
    system = model.calls[0][0].content
    assert "[1]" in system and "The default port is 8000." in system  # the documents are the prompt's context


async def test_an_llm_node_runs_the_tools_the_model_calls(tmp_path, fakes):
    model, _ = fakes
    model.enqueue(tool_call("calculator", {"expression": "6 * 7"}), "It is 42.")
    text = GOOD.replace("    context: documents\n", "    context: documents\n    tools: [calculator]\n")
    spec = load_spec(spec_file(tmp_path, text), registry.known(tmp_path / "agents"))
    result = await compile_spec(spec, folder=tmp_path / "agents").ainvoke({"messages": [HumanMessage("6 times 7?")]})
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
    model, store = fakes
    store.results = [[doc(1, "Voices are piper models.", dense=0.1)], [doc(2, "The default port is 8000.", dense=0.7)]]
    model.enqueue("workbench server default port", "The server listens on port 8000 [1].")
    graph = compile_spec(load_spec(ROOT / "agents" / "rag-chat.yaml", registry.known()))
    result = await graph.ainvoke({"messages": [HumanMessage("Which port does it use?")]})
    assert [q[1] for q in store.queries] == ["Which port does it use?", "workbench server default port"]
    assert (result["rewrites"], result["query"], result["relevance"]) == (1, "workbench server default port", 0.7)
    assert [type(m).__name__ for m in result["messages"]] == ["HumanMessage", "AIMessage"]  # the rewrite is not a reply
    assert "8000" in result["messages"][-1].content

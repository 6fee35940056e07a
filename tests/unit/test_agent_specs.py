"""Agent specs: every validation error on a bad spec (its message and line), all errors at once, the example spec,
and the condition language's limits."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from workbench.agents import conditions
from workbench.agents.source import SpecError
from workbench.agents.spec import ZERO
from workbench.agents.validate import Known, load_spec
from workbench.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KNOWN = Known(
    models=frozenset({"fast", "smart"}),
    prompts=frozenset({"chat-answer@v1", "chat-rewrite@v1"}),
    tools=frozenset({"calculator", "search_documents"}),
    agents=frozenset({"helper"}),
)
GOOD = """\
name: tiny
version: 1
state:
  documents: {type: documents}
  rewrites: {type: int, default: 0}
nodes:
  retrieve:
    kind: retriever
    output: documents
  decide:
    kind: router
    routes:
      again: len(documents) == 0 and rewrites < 1
    default: answer
  answer:
    kind: llm
    model: smart
    prompt: chat-answer@v1
    context: documents
edges:
  - {from: START, to: retrieve}
  - {from: retrieve, to: decide}
  - {from: answer, to: END}
conditional_edges:
  - from: decide
    map: {again: retrieve, answer: answer}
"""


def problems(tmp_path: Path, text: str, name: str = "spec.yaml") -> list[tuple[int | None, str | None, str]]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as caught:
        load_spec(path, KNOWN)
    assert all(p.file == name for p in caught.value.problems)
    return [(p.line, p.node, p.message) for p in caught.value.problems]


def test_the_good_spec_and_the_example_rag_chat_spec_validate(tmp_path):
    (tmp_path / "tiny.yaml").write_text(GOOD)
    spec = load_spec(tmp_path / "tiny.yaml", KNOWN)
    assert (spec.name, spec.version, list(spec.nodes)) == ("tiny", "1", ["retrieve", "decide", "answer"])
    rag = load_spec(ROOT / "agents" / "rag-chat.yaml", KNOWN)
    assert {n.kind for n in rag.nodes.values()} == {"retriever", "router", "llm"}


def test_json_is_read_too(tmp_path):
    import json

    import yaml

    (tmp_path / "tiny.json").write_text(json.dumps(yaml.safe_load(GOOD), indent=2))
    assert load_spec(tmp_path / "tiny.json", KNOWN).name == "tiny"


def test_unknown_node_kind_and_unknown_field(tmp_path):
    found = problems(
        tmp_path,
        GOOD.replace("    kind: retriever\n", "    kind: retreiver\n").replace(
            "    context: documents\n", "    context: documents\n    temperature: 0.2\n"
        ),
    )
    assert (
        7,
        "retrieve",
        "unknown node kind 'retreiver'; use llm, retriever, tool, router, subgraph or interrupt",
    ) in found
    assert (20, "answer", "unknown field 'temperature'") in found


def test_dangling_edges_name_the_missing_node(tmp_path):
    found = problems(tmp_path, GOOD.replace("  - {from: answer, to: END}", "  - {from: answer, to: summarize}"))
    assert (23, None, "edge to unknown node 'summarize'") in found


def test_unreachable_nodes_and_nodes_that_cannot_finish(tmp_path):
    text = GOOD.replace("  - {from: retrieve, to: decide}\n", "") + "  # end\n"
    found = problems(tmp_path, text)
    assert (7, "retrieve", "cannot reach END") in found
    assert (10, "decide", "cannot be reached from START") in found
    assert (15, "answer", "cannot be reached from START") in found


def test_a_conditional_map_that_misses_a_route_or_names_an_unknown_one(tmp_path):
    found = problems(
        tmp_path, GOOD.replace("map: {again: retrieve, answer: answer}", "map: {agian: retrieve, answer: answer}")
    )
    assert (26, "decide", "the conditional map misses route 'again'") in found
    assert (26, "decide", "route 'agian' is not one of the router's") in found


def test_a_router_without_a_map_and_a_conditional_edge_from_a_non_router(tmp_path):
    text = GOOD.replace("  - from: decide\n", "  - from: answer\n")
    found = problems(tmp_path, text)
    assert (10, "decide", "a router needs a conditional edge mapping its routes") in found
    assert (25, None, "conditional edge from 'answer', which is not a router") in found


def test_unresolved_model_prompt_tool_and_agent_references(tmp_path):
    text = GOOD.replace("model: smart", "model: huge").replace("chat-answer@v1", "chat-answer@v9")
    text = text.replace("    context: documents\n", "    context: documents\n    tools: [calculator, shell]\n")
    text = text.replace("nodes:\n", "nodes:\n  side:\n    kind: subgraph\n    agent: tiny\n", 1)
    found = problems(tmp_path, text)
    messages = {m for _, _, m in found}
    assert "unknown model 'huge'; models: fast, smart" in messages
    assert "unknown prompt 'chat-answer@v9'; prompts: chat-answer@v1, chat-rewrite@v1" in messages
    assert "unknown tool 'shell'; tools: calculator, search_documents" in messages
    assert "unknown agent 'tiny' (a spec may not contain itself)" in messages
    lines = {m: line for line, _, m in found}
    assert lines["unknown model 'huge'; models: fast, smart"] == 20
    assert lines["unknown tool 'shell'; tools: calculator, search_documents"] == 23


def test_state_fields_of_the_wrong_type_or_not_declared(tmp_path):
    text = GOOD.replace("  documents: {type: documents}", "  documents: {type: str}")
    text = text.replace("    context: documents\n", "    context: documents\n    output: summary\n")
    found = problems(tmp_path, text)
    assert (9, "retrieve", "output needs a documents field; 'documents' is str") in found
    assert (19, "answer", "context needs a documents field; 'documents' is str") in found
    assert (20, "answer", "output names state field 'summary', which the state does not declare") in found


def test_a_condition_outside_the_language_is_reported_on_its_line(tmp_path):
    found = problems(tmp_path, GOOD.replace("len(documents) == 0 and rewrites < 1", "documents.__class__ or open('x')"))
    messages = [m for line, node, m in found if line == 13 and node == "decide"]
    assert "route 'again': attribute access (documents.__class__) is not allowed; call a function instead" in messages
    assert any("open() is not an allowed function" in m for m in messages)


def test_all_errors_are_reported_at_once_in_line_order(tmp_path):
    text = GOOD.replace("model: smart", "model: huge").replace(
        "  - {from: answer, to: END}", "  - {from: answer, to: x}"
    )
    found = problems(tmp_path, text)
    assert len(found) >= 3  # the model, the dangling edge, and answer can no longer reach END
    assert [line for line, _, _ in found] == sorted(line or 0 for line, _, _ in found)


def test_a_file_that_is_not_yaml_says_where(tmp_path):
    assert problems(tmp_path, "name: a\nnodes: [\n") == [
        (3, None, "is not valid YAML or JSON: expected the node content, but found '<stream end>'")
    ]


@pytest.mark.parametrize(
    "expression",
    ["x.__class__", "().__class__.__bases__", "open('/etc/passwd')", "__import__('os')", "documents[0]",
     "[d for d in documents]", "lambda: 1", "len(documents, key=1)", "exec('1')"],
)  # fmt: skip
def test_the_condition_language_refuses_attributes_subscripts_and_other_calls(expression):
    assert conditions.problems(expression, {"documents"})


def test_conditions_evaluate_over_the_state():
    state = {"documents": [], "rewrites": 0, "last_message": "Why is the sky blue?", "messages": []}
    assert conditions.evaluate("len(documents) == 0 and rewrites < 1", state)
    assert conditions.evaluate('startswith(lower(last_message), "why")', state)
    assert not conditions.evaluate('"green" in last_message or rewrites >= 1', state)


def test_the_checked_in_json_schema_is_generated_and_accepts_the_example():
    import json

    import jsonschema
    import yaml

    from workbench.agents.spec import json_schema

    schema = json.loads((ROOT / "protocols" / "agent-spec.schema.json").read_text())
    assert schema == json_schema(), "run: python -m workbench.server.schemas"
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(yaml.safe_load((ROOT / "agents" / "rag-chat.yaml").read_text()))
    bad = yaml.safe_load(GOOD.replace("kind: retriever", "kind: retreiver"))
    assert not validator.is_valid(bad)


def test_the_registries_know_the_models_prompts_tools_and_specs(monkeypatch):
    from langchain_core.tools import tool

    from workbench.agents import registry

    monkeypatch.setenv("WORKBENCH_MODEL_SMART", "openai/gpt-4o-mini")
    monkeypatch.setenv("WORKBENCH_MODEL_LOCAL_TINY", "local/smollm2-135m")
    monkeypatch.setenv("WORKBENCH_MODEL_CACHE_SIZE", "3")  # a setting of its own, not a model id
    table = registry.models()
    assert (
        table["smart"] == "openai/gpt-4o-mini"
        and table["fast"] == "default"
        and table["local_tiny"] == "local/smollm2-135m"
        and "cache_size" not in table
    )
    assert registry.models(Settings(_env_file=None, agent_models={"smart": "extractive"}))["smart"] == "extractive"
    assert {"chat-answer@v1", "chat-answer@v2", "chat-rewrite@v1"} <= set(registry.prompts())
    assert {"calculator", "search_documents"} <= set(registry.tools())

    @tool
    def word_count(text: str) -> int:
        """How many words the text has."""
        return len(text.split())

    registry.register_tool(word_count)
    try:
        assert "word_count" in registry.known().tools
    finally:
        registry._tools.pop("word_count")
    assert "rag_chat" in registry.known().agents
    load_spec(ROOT / "agents" / "rag-chat.yaml", registry.known())  # the example refers only to what exists


def test_the_cli_lists_and_validates_specs_and_exits_1_on_a_bad_one(tmp_path):
    from typer.testing import CliRunner

    from workbench.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["agents", "list"])
    assert listed.exit_code == 0 and "rag-chat.yaml\trag_chat\t1\tok" in listed.output
    assert runner.invoke(app, ["agents", "validate"]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nnodes:\n  a: {kind: llm, model: huge, prompt: chat-answer@v1}\n"
                   "edges: [{from: START, to: a}]\n")  # fmt: skip
    result = runner.invoke(app, ["agents", "validate", str(bad)])
    assert result.exit_code == 1
    assert "bad.yaml:4: node a: unknown model 'huge'" in result.output
    assert "bad.yaml:4: node a: cannot reach END" in result.output


def test_a_name_taken_by_a_built_in_graph_and_reserved_state_fields(tmp_path):
    text = GOOD.replace("name: tiny", "name: chat")
    text = text.replace(
        "  rewrites: {type: int, default: 0}", "  rewrites: {type: int, default: 0}\n  model: {type: str}"
    )
    found = problems(tmp_path, text)
    assert (1, None, "the name 'chat' is a built-in graph's; choose another") in found
    assert (6, None, "state field 'model' is kept by every agent (filters, served model, turn); rename it") in found


def test_a_prompt_placeholder_that_is_not_a_str_field_is_reported(tmp_path):
    known = Known(
        models=KNOWN.models,
        prompts=KNOWN.prompts | {"agent-critique@v1"},
        tools=KNOWN.tools,
        prompt_fields={"agent-critique@v1": frozenset({"question", "draft", "context"})},
    )
    path = tmp_path / "spec.yaml"
    path.write_text(GOOD.replace("chat-answer@v1", "agent-critique@v1"))
    with pytest.raises(SpecError) as caught:
        load_spec(path, known)
    assert [(p.line, p.node, p.message) for p in caught.value.problems] == [
        (18, "answer", "prompt 'agent-critique@v1' uses {draft}: declare it as a `str` state field")
    ]
    path.write_text(GOOD.replace("chat-answer@v1", "agent-critique@v1").replace(
        "  rewrites:", "  draft: {type: str, default: ''}\n  rewrites:"))  # fmt: skip
    assert load_spec(path, known).nodes["answer"].kind == "llm"


def test_every_example_spec_validates_against_the_registries_and_the_schema():
    import json

    import jsonschema
    import yaml

    from workbench.agents import catalog, registry

    schema = jsonschema.Draft202012Validator(json.loads((ROOT / "protocols" / "agent-spec.schema.json").read_text()))
    found = catalog.agents(registry.AGENTS_DIR)
    assert {a.name for a in found} == {"rag_chat", "research_loop", "calculator", "approval", "nested_approval"}
    for agent in found:
        assert agent.ok, agent.problems
        schema.validate(yaml.safe_load(agent.path.read_text()))
        assert len(agent.digest) == 12


def test_the_catalog_refuses_unknown_and_broken_agents_by_name(tmp_path, monkeypatch):
    from workbench.agents import catalog
    from workbench.errors import ConfigurationError

    (tmp_path / "tiny.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text(GOOD.replace("name: tiny", "name: broken").replace("smart", "huge"))
    monkeypatch.setenv("WORKBENCH_AGENTS_DIR", str(tmp_path))
    assert catalog.names() == ["tiny"]
    assert catalog.require("tiny").spec is not None
    with pytest.raises(ConfigurationError, match=r"unknown agent '\.\./etc'; choose one of tiny"):
        catalog.require("../etc")
    with pytest.raises(ConfigurationError, match="agent 'broken' has 1 problem"):
        catalog.require("broken")
    listed = {a.name: a for a in catalog.agents()}
    assert not listed["broken"].ok and "unknown model 'huge'" in str(listed["broken"].problems[0])


def test_langgraph_json_serves_every_spec_and_sync_would_change_nothing():
    import json

    from workbench.agents import catalog, registry

    config = json.loads((ROOT / "langgraph.json").read_text())
    assert catalog.stale_entries(config, registry.AGENTS_DIR) == ([], []), "run: workbench agents sync"
    assert catalog.synced(config, registry.AGENTS_DIR) == config
    config["graphs"].pop("calculator")
    config["graphs"]["gone"] = "./graphs/agents.py:gone"
    assert catalog.stale_entries(config, registry.AGENTS_DIR) == (["calculator"], ["gone"])
    fixed = catalog.synced(config, registry.AGENTS_DIR)
    assert list(fixed["graphs"])[:3] == ["chat", "voice", "repo_audit"]  # the built-in graphs stay, first
    assert "gone" not in fixed["graphs"] and fixed["graphs"]["calculator"] == "./graphs/agents.py:calculator"


def test_the_langgraph_module_holds_a_graph_per_valid_spec_and_nothing_else_public():
    import graphs.agents

    public = {name for name in vars(graphs.agents) if not name.startswith("_")}
    assert public == {"rag_chat", "research_loop", "calculator", "approval", "nested_approval"}
    assert graphs.agents.rag_chat.get_graph().nodes.keys() >= {"retrieve", "decide", "rewrite", "generate"}


GUIDE = ROOT / "datasets" / "corpus" / "agent-specs.md"


def _blocks(language: str) -> list[str]:
    import re

    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_guides_first_spec_validates_and_its_conditions_parse(tmp_path):
    from workbench.agents import registry

    first = next(block for block in _blocks("yaml") if block.startswith("name:"))
    (tmp_path / "guide.yaml").write_text(first)
    assert load_spec(tmp_path / "guide.yaml", registry.known(tmp_path)).name == "guide_helper"
    import yaml

    routes = next(yaml.safe_load(b)["routes"] for b in _blocks("yaml") if b.startswith("routes:"))
    for condition in routes.values():
        assert conditions.problems(condition, {"relevance", "rewrites", "verdict", "rounds"}) == []


def test_the_guides_tool_example_is_added_through_the_environment(tmp_path, monkeypatch):
    from workbench.agents import registry
    from workbench.errors import ConfigurationError

    (tmp_path / "my_tools.py").write_text(_blocks("python")[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("WORKBENCH_AGENT_TOOLS", "my_tools:word_count")
    assert registry.tools()["word_count"].invoke({"text": "three short words"}) == 3
    assert "word_count" in registry.known().tools
    monkeypatch.setenv("WORKBENCH_AGENT_TOOLS", "my_tools:nothing")
    with pytest.raises(ConfigurationError, match="cannot import 'my_tools:nothing'"):
        registry.tools()
    monkeypatch.setenv("WORKBENCH_AGENT_TOOLS", "os:sep")
    with pytest.raises(ConfigurationError, match="is not a LangChain tool"):
        registry.tools()


def test_the_catalog_refuses_a_subgraph_of_a_broken_spec_a_duplicate_name_and_an_unreadable_file(tmp_path):
    from workbench.agents import catalog

    (tmp_path / "a-tiny.yaml").write_text(GOOD)
    (tmp_path / "b-tiny-again.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text(GOOD.replace("name: tiny", "name: broken").replace("smart", "huge"))
    outer = "name: outer\nversion: 1\nnodes:\n  inner: {kind: subgraph, agent: %s}\nedges:\n"
    outer += "  - {from: START, to: inner}\n  - {from: inner, to: END}\n"
    (tmp_path / "outer.yaml").write_text(outer % "broken")
    (tmp_path / "outer-ok.yaml").write_text((outer % "tiny").replace("name: outer", "name: outer_ok"))
    found = {a.path.name: a for a in catalog.agents(tmp_path)}
    assert found["a-tiny.yaml"].ok
    assert [str(p) for p in found["b-tiny-again.yaml"].problems] == ["b-tiny-again.yaml:1: a-tiny.yaml has this name"]
    assert [(p.node, p.message) for p in found["outer.yaml"].problems] == [
        ("inner", "subgraph agent 'broken' has problems")
    ]
    assert catalog.names(tmp_path) == ["outer_ok", "tiny"]
    unreadable = catalog.read(tmp_path / "gone.yaml", tmp_path)
    assert not unreadable.ok and [p.message for p in unreadable.problems] == ["cannot be read"]


def with_fields(fields: str) -> str:
    """GOOD with ``fields`` (YAML lines) declared after its two state fields (they start on line 6)."""
    return GOOD.replace("  rewrites: {type: int, default: 0}\n", f"  rewrites: {{type: int, default: 0}}\n{fields}")


def test_state_fields_named_as_a_prompt_value_or_a_condition_name_are_refused_on_their_line(tmp_path):
    text = with_fields(
        "  question: {type: str}\n  context: {type: str, default: ''}\n  last_message: {type: int}\n"
        "  conversation: {type: documents}\n"  # a documents field may take the name: it is never rendered as text
    )
    assert problems(tmp_path, text) == [
        (6, None, "state field 'question' collides with {question}, which every prompt receives as the user's last "
                  "message; rename the field (e.g. 'my_question')"),
        (7, None, "state field 'context' collides with {context}, which every prompt receives as the passages of the "
                  "node's `context` field; rename the field (e.g. 'my_context')"),
        (8, None, "state field 'last_message' collides with the name conditions read as the text of the last "
                  "message; rename the field (e.g. 'my_last_message')"),
    ]  # fmt: skip


def test_the_cli_and_the_catalog_refuse_a_str_field_named_question(tmp_path):
    from typer.testing import CliRunner

    from workbench.agents import catalog
    from workbench.cli import app

    path = tmp_path / "asker.yaml"
    path.write_text(with_fields("  question: {type: str}\n").replace("name: tiny", "name: asker"))
    result = CliRunner().invoke(app, ["agents", "validate", str(path)])
    assert result.exit_code == 1
    assert "asker.yaml:6: state field 'question' collides with {question}" in result.output
    assert "rename the field (e.g. 'my_question')" in result.output
    agent = catalog.read(path, known=KNOWN)
    assert not agent.ok and [p.line for p in agent.problems] == [6], "a turn's check refuses it too"


def test_a_default_of_another_type_or_null_is_refused_and_a_missing_one_is_the_types_zero_value(tmp_path):
    text = with_fields(
        "  query: {type: str, default: null}\n  flag: {type: bool, default: 1}\n  score: {type: float, default: 1}\n"
        "  count: {type: int, default: '3'}\n  tags: {type: list, default: {}}\n"
    )
    assert problems(tmp_path, text) == [
        (6, None, "state field 'query' is of type str: give it a default of that type, or leave `default` out (it "
                  'then starts as "")'),
        (7, None, "state field 'flag' is of type bool: give it a default of that type, or leave `default` out (it "
                  "then starts as False)"),
        (9, None, "state field 'count' is of type int: give it a default of that type, or leave `default` out (it "
                  "then starts as 0)"),
        (10, None, "state field 'tags' is of type list: give it a default of that type, or leave `default` out (it "
                   "then starts as [])"),
    ]  # fmt: skip
    path = tmp_path / "zero.yaml"
    path.write_text(with_fields("".join(f"  f_{kind}: {{type: {kind}}}\n" for kind in ZERO)))
    spec = load_spec(path, KNOWN)
    assert {name: field.default for name, field in spec.state.items() if name.startswith("f_")} == {
        "f_str": "", "f_int": 0, "f_float": 0.0, "f_bool": False, "f_list": [], "f_dict": {}, "f_documents": [],
    }  # fmt: skip
    assert spec.state["documents"].default == [] and spec.state["documents"].default is not ZERO["documents"]

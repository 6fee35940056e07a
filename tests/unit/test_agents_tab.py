"""The Agents tab's pure helpers on a temporary agents folder: the listing rows, problem lines that name the file
only, the drawing of a spec that validates, and who can be chatted with."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from workbench.agents.source import SpecProblem
from workbench.ui import agents_tab

ROOT = Path(__file__).resolve().parents[2]
CALCULATOR = (ROOT / "agents" / "calculator.yaml").read_text()
BROKEN = CALCULATOR.replace("name: calculator", "name: broken").replace("model: smart", "model: nope")
MODEL_LINE = next(i for i, line in enumerate(BROKEN.splitlines(), start=1) if "model: nope" in line)


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """An agents folder with the calculator spec and a copy of it naming a model the registry does not know."""
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "calculator.yaml").write_text(CALCULATOR)
    (agents / "broken.yaml").write_text(BROKEN)
    monkeypatch.setenv("WORKBENCH_AGENTS_DIR", str(agents))
    return agents


def test_the_listing_has_one_row_per_file_with_its_status_hash_and_description(folder):
    agents = agents_tab.read_agents()
    rows = agents_tab.listing_rows(agents)
    digest = hashlib.sha256((folder / "calculator.yaml").read_bytes()).hexdigest()[:12]
    assert rows[1] == [
        "calculator.yaml", "calculator", "1", "ok", digest,
        "Answers arithmetic questions by calling the calculator tool.",
    ]  # fmt: skip
    assert rows[0][:4] == ["broken.yaml", "broken", "-", "1 problem(s)"] and rows[0][5] == ""
    assert agents_tab.choices(agents) == ["broken", "calculator"]
    table = agents_tab.listing_markdown(agents)
    assert table.splitlines()[0] == "| file | name | version | status | hash | description |"
    assert "calculator.yaml" in table and digest in table and str(folder) not in table


def test_an_empty_folder_says_how_to_add_an_agent(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_AGENTS_DIR", str(tmp_path))
    assert agents_tab.read_agents() == []
    assert "add a YAML spec" in agents_tab.listing_markdown([])
    assert agents_tab.detail(None).drawing is None


def test_problem_lines_give_the_line_and_node_and_name_the_file_only(folder):
    broken = agents_tab.find(agents_tab.read_agents(), "broken")
    assert broken is not None and not broken.ok
    (line,) = agents_tab.problem_lines(broken.problems)
    assert line.startswith(f"broken.yaml:{MODEL_LINE}: node solve: unknown model 'nope'; models: ")
    assert str(folder) not in line
    elsewhere = SpecProblem(str(folder / "other.yaml"), 3, "is wrong", "plan")
    assert agents_tab.problem_lines([elsewhere]) == ["other.yaml:3: node plan: is wrong"]

    shown = agents_tab.detail(broken)
    assert not shown.ok and shown.drawing is None
    assert line in shown.problems and "1 problem(s)" in shown.problems and str(folder) not in shown.problems


def test_a_spec_that_validates_is_drawn_with_its_nodes(folder):
    calculator = agents_tab.find(agents_tab.read_agents(), "calculator")
    assert calculator is not None
    shown = agents_tab.detail(calculator)
    assert shown.ok and "validates" in shown.problems
    assert shown.drawing is not None
    assert {"__start__", "solve", "__end__"} <= set(shown.drawing.replace("(", " ").replace(")", " ").split())
    assert "__start__ --> solve" in shown.drawing and "solve --> __end__" in shown.drawing
    assert agents_tab.mermaid_markdown(shown.drawing).startswith("```mermaid\n")
    assert agents_tab.mermaid_markdown(None) == ""


def test_an_agent_whose_subgraph_spec_is_broken_is_broken_too(folder):
    (folder / "outer.yaml").write_text(
        "name: outer\nversion: 1\nnodes:\n  inner:\n    kind: subgraph\n    agent: broken\n"
        "edges:\n  - {from: START, to: inner}\n  - {from: inner, to: END}\n"
    )
    outer = agents_tab.find(agents_tab.read_agents(), "outer")
    assert outer is not None and not outer.ok, "an agent is only as runnable as the agents it runs"
    shown = agents_tab.detail(outer)
    assert not shown.ok and "outer.yaml: node inner: subgraph agent 'broken' has problems" in shown.problems


def test_only_an_agent_that_validates_can_be_chatted_with(folder):
    known = agents_tab.snapshot(agents_tab.read_agents())
    assert known == {"broken": False, "calculator": True}
    assert agents_tab.refusal("calculator", known) is None
    assert "cannot be chatted with" in str(agents_tab.refusal("broken", known))
    assert "press Reload" in str(agents_tab.refusal("gone", known))
    assert "Choose an agent" in str(agents_tab.refusal(None, known))


def test_reading_again_sees_a_spec_edited_since(folder):
    before = agents_tab.find(agents_tab.read_agents(), "broken")
    fixed = BROKEN.replace("model: nope", "model: smart").replace("version: 1", "version: 2")
    (folder / "broken.yaml").write_text(fixed)
    after = agents_tab.find(agents_tab.read_agents(), "broken")
    assert before is not None and after is not None
    assert after.ok and after.version == "2" and after.digest != before.digest
    assert agents_tab.listing_rows([after])[0][3] == "ok"


def test_two_files_of_one_name_offer_the_name_once_and_find_the_first(folder):
    (folder / "copy.yaml").write_text(CALCULATOR)
    agents = agents_tab.read_agents()
    assert [a.path.name for a in agents] == ["broken.yaml", "calculator.yaml", "copy.yaml"]
    assert agents_tab.choices(agents) == ["broken", "calculator"]
    found = agents_tab.find(agents, "calculator")
    assert found is not None and found.path.name == "calculator.yaml"

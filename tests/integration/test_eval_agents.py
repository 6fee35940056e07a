"""``workbench eval chat-rag --agent ...``: agent specs evaluated against each other, and against the built-in
chat graph, on the whole QA set with the extractive model; each variant an MLflow run that records the spec's
version and hash. The rag_chat spec answers every case as the chat graph does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import eval_case_rows, run_cli
from tests.integration.test_eval_chat_rag import EXPERIMENT, mlflow_client
from workbench.agents import catalog, registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval-agents-home")


@pytest.fixture(scope="module")
def compared(home: Path) -> subprocess.CompletedProcess:
    done = run_cli(
        home, "eval", "chat-rag", "--model", "extractive", "--set", "top_k=5",
        "--agent", "rag_chat", "--agent", "research_loop", "--agent", "chat",
        timeout=600, unset=("MLFLOW_TRACKING_URI",), WORKBENCH_LLM="extractive",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def runs_by_agent(home: Path) -> dict[str, object]:
    client = mlflow_client(home)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    return {r.data.params["agent"]: r for r in client.search_runs([experiment.experiment_id])}


def test_each_agent_is_an_mlflow_run_with_its_version_hash_and_drawing(home, compared):
    runs = runs_by_agent(home)
    assert set(runs) == {"rag_chat", "research_loop", "chat"}
    for name in ("rag_chat", "research_loop"):
        params = runs[name].data.params
        agent = catalog.require(name, registry.AGENTS_DIR)
        assert (params["agent_version"], params["agent_hash"]) == (agent.version, agent.digest)
        assert len(params["graph_version"]) == 12 and params["search_mode"] == "hybrid" and params["top_k"] == "5"
        assert runs[name].data.metrics["cases"] == 48 and runs[name].data.metrics["errors"] == 0
    assert (
        runs["research_loop"].data.params["prompt_id"]
        == "agent-plan@v1,chat-answer@v2,agent-critique@v1,agent-answer@v1"
    )
    assert runs["rag_chat"].data.params["graph_version"] != runs["chat"].data.params["graph_version"]
    assert "agent_hash" not in runs["chat"].data.params


def test_the_rag_chat_spec_gives_the_chat_graphs_answers_case_by_case(home, compared):
    client = mlflow_client(home)
    runs = runs_by_agent(home)
    spec = {r["case_id"]: r for r in eval_case_rows(client, runs["rag_chat"].info.run_id)}
    built_in = {r["case_id"]: r for r in eval_case_rows(client, runs["chat"].info.run_id)}
    assert len(spec) == len(built_in) == 48
    differing = [case for case in spec if spec[case]["output"] != built_in[case]["output"]]
    assert differing == []
    assert [spec[c]["outcome"] for c in sorted(spec)] == [built_in[c]["outcome"] for c in sorted(spec)]


def test_the_cli_compares_the_two_specs_case_by_case(compared):
    out = compared.stdout
    assert "chat-rag [agent=rag_chat]" in out and "chat-rag [agent=research_loop]" in out
    assert "param  agent                  rag_chat -> research_loop" in out
    assert "of 48 cases changed outcome" in out


def test_each_case_is_a_logged_run_of_its_agent(home, compared):
    from workbench.runlog import get_run

    client = mlflow_client(home)
    run = runs_by_agent(home)["research_loop"]
    for row in eval_case_rows(client, run.info.run_id)[:5]:
        logged = get_run(home / "runs.duckdb", row["run_id"])
        assert logged is not None and (logged["graph"], logged["entry_point"]) == ("research_loop", "eval")

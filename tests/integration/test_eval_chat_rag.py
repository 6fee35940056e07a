"""``workbench eval chat-rag`` end to end: the bundled corpus indexed with MiniLM in local Qdrant, the extractive
model through the real chat graph, two prompt versions as two MLflow runs in the sqlite store with their params,
metrics, case tables (each case's run in the DuckDB log) and linked prompt versions; then a promoted run as a
case of the next eval."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import eval_case_rows, run_cli

pytestmark = pytest.mark.integration

EXPERIMENT = "workbench/chat-rag"


def workbench(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(home, *args, timeout=280, unset=("MLFLOW_TRACKING_URI",), WORKBENCH_LLM="extractive")


def mlflow_client(home: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{(home / 'mlflow.db').resolve()}")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval-home")


@pytest.fixture(scope="module")
def compared(home: Path) -> subprocess.CompletedProcess:
    """One CLI run comparing prompt v1 and v2 over the first 8 QA cases."""
    done = workbench(
        home, "eval", "chat-rag", "--model", "extractive", "--prompt-version", "v1", "--prompt-version", "v2",
        "--limit", "8",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_prompt_versions_are_two_mlflow_runs_with_params_and_metrics(home, compared):
    client = mlflow_client(home)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    assert [r.data.params["prompt_version"] for r in runs] == ["v1", "v2"]
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        assert params["model"] == "extractive" and params["model_resolved"] == "extractive"
        assert params["prompt_name"] == "chat-answer" and len(params["graph_version"]) == 12
        assert (params["top_k"], params["search_mode"], params["collection"]) == ("5", "hybrid", "docs")
        assert params["cases_promoted"] == "0" and params["judge"] == "off"
        assert metrics["cases"] == 8 and metrics["errors"] == 0
        for name in ("recall_at_k", "mrr", "token_f1", "fact_containment", "groundedness", "pass_rate"):
            assert 0.0 <= metrics[name] <= 1.0, name
        assert metrics["recall_at_k"] >= 0.75, "hybrid search finds most keyword questions' facts in the top 5"
        assert metrics["groundedness"] == 1.0, "the extractive baseline only quotes what it cites"
        assert 0 < metrics["ttft_p50_s"] <= metrics["latency_p50_s"] <= metrics["latency_p95_s"] < 10
    # the extractive baseline ignores the prompt's wording: both versions score the same
    assert runs[0].data.metrics["recall_at_k"] == runs[1].data.metrics["recall_at_k"]


def test_each_case_row_links_to_its_chat_run_in_the_duckdb_log(home, compared):
    from workbench.runlog import get_run

    client = mlflow_client(home)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    for run in client.search_runs([experiment.experiment_id]):
        rows = eval_case_rows(client, run.info.run_id)
        assert [r["case_id"] for r in rows] == [f"q{i:02d}" for i in range(1, 9)]
        for row in rows:
            logged = get_run(home / "runs.duckdb", row["run_id"])
            assert logged is not None, row
            assert (logged["graph"], logged["entry_point"], logged["status"]) == ("chat", "eval", "ok")
            assert logged["prompt_version"] == run.data.params["prompt_version"]
            assert logged["output"].startswith("Extractive answer") and row["output"] == logged["output"]
            assert row["outcome"] in {"pass", "fail"} and row["metric.latency_s"] > 0


def test_the_prompt_versions_used_are_registered_and_linked(home, compared):
    client = mlflow_client(home)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    tags = [r.data.tags["workbench.prompts"] for r in runs]
    assert tags == [
        "prompts:/chat-answer/1, prompts:/chat-rewrite/1",
        "prompts:/chat-answer/2, prompts:/chat-rewrite/1",
    ]
    v2 = client.load_prompt("prompts:/chat-answer/2")
    assert v2.tags["workbench_label"] == "v2" and "{{context}}" in v2.template
    linked = json.loads(runs[1].data.tags["mlflow.linkedPrompts"])
    assert {(p["name"], str(p["version"])) for p in linked} == {("chat-answer", "2"), ("chat-rewrite", "1")}


def test_the_cli_prints_a_case_by_case_comparison(compared):
    out = compared.stdout
    assert "chat-rag [prompt_version=v1]" in out and "chat-rag [prompt_version=v2]" in out
    assert "param  prompt_version         v1 -> v2" in out
    assert "0 of 8 cases changed outcome" in out


def test_a_promoted_run_is_a_case_of_the_next_eval(home, compared):
    from workbench.evals.cases import promote
    from workbench.settings import Settings

    asked = workbench(home, "ask", "Which port does the server listen on by default?", "--session", "promote-me")
    assert asked.returncode == 0, asked.stderr[-3000:]
    runs = workbench(home, "runs", "--json", "--limit", "1")
    (run,) = [json.loads(line) for line in runs.stdout.splitlines()]
    assert run["session_id"] == "promote-me"
    _, case = promote(Settings(home=home), run["run_id"], include_output=True)

    again = workbench(home, "eval", "chat-rag", "--model", "extractive", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    (line,) = again.stdout.splitlines()
    result = json.loads(line)
    assert result["params"]["cases_promoted"] == 1 and result["metrics"]["cases"] == 49
    client = mlflow_client(home)
    rows = {r["case_id"]: r for r in eval_case_rows(client, result["mlflow_run_id"])}
    promoted = rows[case.id]
    assert promoted["source"] == "promoted" and promoted["outcome"] == "pass"
    assert promoted["metric.token_f1"] == 1.0, "the same model answers the same way as the promoted run"
    assert promoted["metric.source_hit"] == 1.0 and promoted["metric.recall_at_k"] is None  # no gold facts

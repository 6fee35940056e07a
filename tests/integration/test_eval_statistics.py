"""``workbench eval`` end to end with statistics: two top-k settings of the real chat-rag suite (extractive model,
MiniLM over local Qdrant) compared with ``workbench eval compare --json``, where the changed cases' runs part ways
read from their traces, ``workbench eval gate`` passing and failing on two pairs of those runs, and an imported
question file run with repeats."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration

FIELDS = {"a", "b", "delta", "ci_low", "ci_high", "p_value", "test", "verdict", "n_cases", "mde"}


def workbench(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(home, *args, timeout=400, unset=("MLFLOW_TRACKING_URI",), WORKBENCH_LLM="extractive")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval-stats-home")


@pytest.fixture(scope="module")
def top_k_runs(home: Path) -> tuple[str, str]:
    """The MLflow runs of top_k=1 and top_k=5 over the first 16 QA cases."""
    done = workbench(home, "eval", "chat-rag", "--model", "extractive", "--set", "top_k=1,5", "--limit", "16", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    one, five = (json.loads(line) for line in done.stdout.splitlines())
    assert (one["params"]["top_k"], five["params"]["top_k"]) == (1, 5)
    return one["mlflow_run_id"], five["mlflow_run_id"]


def test_compare_gives_every_metric_its_interval_test_and_verdict_and_where_changed_cases_part(home, top_k_runs):
    done = workbench(home, "eval", "compare", *top_k_runs, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    metrics = data["metrics"]
    assert {"pass_rate", "recall_at_k", "reciprocal_rank", "token_f1", "latency_s"} <= set(metrics)
    for name, stat in metrics.items():
        assert set(stat) >= FIELDS, name
        assert stat["n_cases"] == 16 and stat["verdict"] in {"better", "worse", "inconclusive"}
        assert stat["ci_low"] <= stat["delta"] <= stat["ci_high"], name
        assert 0 <= stat["p_value"] <= 1
    assert metrics["pass_rate"]["test"] == "mcnemar_exact"
    assert metrics["token_f1"]["test"] == "sign_flip_permutation"
    recall = metrics["recall_at_k"]
    assert recall["delta"] > 0, "five passages find the facts of more questions than one"
    changed = [c for c in data["cases"] if c["outcome_a"] != c["outcome_b"]]
    assert changed and data["cases"][: len(changed)] == changed, "the changed cases come first"
    for case in changed:
        where = case["divergence"]
        assert isinstance(where, dict), case
        assert where["kind"] == "retrieval" and where["description"].startswith("step "), where
    text = workbench(home, "eval", "compare", *top_k_runs)
    assert "recall_at_k" in text.stdout and " [" in text.stdout and "parts ways at step" in text.stdout


def test_the_gate_passes_the_better_run_and_fails_the_worse_one(home, top_k_runs):
    one, five = top_k_runs
    gate = ("eval", "gate", "--metric", "recall_at_k", "--margin", "0")
    better = workbench(home, *gate, "--baseline", one, "--candidate", five)
    assert better.returncode == 0, better.stdout + better.stderr[-2000:]
    assert better.stdout.startswith("pass: recall_at_k") and len(better.stdout.splitlines()) == 1
    worse = workbench(home, *gate, "--baseline", five, "--candidate", one)
    assert worse.returncode == 1, worse.stdout + worse.stderr[-2000:]
    assert worse.stdout.startswith("FAIL: recall_at_k") and "may be worse by more than the margin" in worse.stdout


def test_an_imported_question_file_runs_with_repeats(home, tmp_path):
    questions = tmp_path / "mine.csv"
    questions.write_text(
        "id,question,answer,answer_2,source\n"
        "port,Which port does the server listen on by default?,8000,port 8000,\n"
        "home,WORKBENCH_HOME default,./.workbench,,configuration.md\n"
    )
    done = workbench(home, "eval", "chat-rag", "--model", "extractive", "--dataset", str(questions), "--repeats", "2",
                     "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (json.loads(line) for line in done.stdout.splitlines())
    assert (run["params"]["dataset"], run["params"]["repeats"]) == ("mine.csv", 2)
    assert run["variant"] == "model=extractive", "the file's path is not part of the variant's name"
    assert (run["metrics"]["cases"], run["metrics"]["samples"]) == (2, 4)
    assert {"pass_at_k", "pass_all_k", "flaky_cases"} <= set(run["metrics"])
    assert [(c["case_id"], c["samples"]) for c in run["case_spreads"]] == [("port", 2), ("home", 2)]
    assert [c["case_id"] for c in run["cases"]] == ["port", "port", "home", "home"]

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "fine", "answer": "yes"}\n{"question": ""}\nnot json\n')
    refused = workbench(home, "eval", "chat-rag", "--model", "extractive", "--dataset", str(broken))
    assert refused.returncode == 2 and "line 2" in refused.stderr and "line 3" in refused.stderr
    assert str(tmp_path) not in refused.stderr and "Traceback" not in refused.stderr

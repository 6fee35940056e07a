"""``workbench eval audit`` and ``workbench eval voice`` on the offline defaults (the real analyzers; Whisper tiny.en,
Piper joe-us), read back from the MLflow store and the DuckDB run log they leave in a fresh WORKBENCH_HOME."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from tests.integration.conftest import ROOT, eval_case_rows, run_cli
from workbench.runlog import get_run

pytestmark = pytest.mark.integration
FIXTURES = sorted(p.name.removesuffix(".expected.yaml") for p in (ROOT / "datasets" / "repos").glob("*.expected.yaml"))


def workbench_eval(home: Path, *args: str) -> subprocess.CompletedProcess:
    done = run_cli(home, "eval", *args, timeout=900, unset=("MLFLOW_TRACKING_URI",))
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def logged(home: Path, suite: str) -> tuple[MlflowClient, list[Run]]:
    """The suite's MLflow runs, oldest first."""
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"workbench/{suite}")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return client, list(runs)


def assert_logged_runs(home: Path, rows: list[dict[str, Any]], graph: str) -> None:
    """Every case names its run in the DuckDB log: a run of ``graph`` started by the eval."""
    for row in rows:
        run = get_run(home / "runs.duckdb", row["run_id"])
        assert run is not None, row
        assert (run["graph"], run["entry_point"], run["status"]) == (graph, "eval", "ok")


def test_eval_audit_logs_scores_per_agent_and_compares_agent_sets(tmp_path):
    home = tmp_path / "home"
    shown = workbench_eval(home, "audit")
    assert "audit [default]" in shown.stdout and "overall_f1" in shown.stdout

    client, (run,) = logged(home, "audit")
    params, metrics = run.data.params, run.data.metrics
    assert (params["model"], params["model_resolved"]) == ("none", "none")
    assert params["agents"] == "explorer+bug_hunter+security"
    assert (params["prompt_version"], params["min_f1"], params["suite"]) == ("audit-v2", "0.8", "audit")
    assert len(params["graph_version"]) == 12 and params["llm_reviews"] == "5"
    assert (metrics["cases"], metrics["errors"], metrics["pass_rate"]) == (len(FIXTURES), 0, 1.0)
    assert metrics["overall_f1"] >= 0.8 and metrics["overall_precision"] >= 0.9
    assert metrics["security_recall"] >= 0.8 and metrics["bug_hunter_recall"] >= 0.8
    assert metrics["findings_total"] >= metrics["overall_tp"] > 0 and metrics["duration_p50_s"] > 0
    assert "workbench.prompts" not in run.data.tags, "no model triaged: no prompt was used"

    rows = eval_case_rows(client, run.info.run_id)
    assert [r["case_id"] for r in rows] == FIXTURES and {r["source"] for r in rows} == {"bundled"}
    assert all(r["outcome"] == "pass" and r["metric.overall_f1"] is not None for r in rows)
    assert_logged_runs(home, rows, "repo_audit")

    # two variants: the security agent alone, then all three; the first two runs are compared case by case
    compared = workbench_eval(home, "audit", "--set", "agents=security,explorer+bug_hunter+security")
    assert "cases changed outcome" in compared.stdout
    _, (_, alone, together) = logged(home, "audit")
    assert alone.data.params["agents"] == "security" and alone.data.metrics["bug_hunter_recall"] == 0.0
    assert alone.data.metrics["security_recall"] == together.data.metrics["security_recall"]
    assert together.data.metrics["overall_f1"] == metrics["overall_f1"] > alone.data.metrics["overall_f1"]


def test_eval_voice_logs_wer_real_time_factors_and_turn_latencies(tmp_path):
    home = tmp_path / "home"
    shown = workbench_eval(home, "voice", "--limit", "3")
    assert "voice [default]" in shown.stdout

    client, (run,) = logged(home, "voice")
    params, metrics = run.data.params, run.data.metrics
    assert (params["stt_resolved"], params["tts_resolved"]) == ("local/tiny.en", "piper/joe-us")
    assert (params["model"], params["persona"], params["full_turn"]) == ("extractive", "assistant", "True")
    assert params["persona_version"].startswith("assistant-") and params["max_wer"] == "0.2"
    assert (metrics["cases"], metrics["errors"], metrics["wer_cases"]) == (3, 0, 2)
    assert metrics["wer"] <= 0.2
    assert 0 < metrics["stt_rtf_p50"] < 2 and 0 < metrics["tts_rtf_p50"] < 2
    for name in ("first_audio_p50_s", "first_audio_p95_s", "stt_s_p50", "tts_s_p50", "total_p50_s"):
        assert metrics[name] > 0, name
    assert metrics["first_audio_p50_s"] <= metrics["first_audio_p95_s"] and "llm_ttft_p50_s" in metrics
    uri = "prompts:/voice-persona-assistant/1"
    assert run.data.tags["workbench.prompts"] == uri
    linked = json.loads(run.data.tags["mlflow.linkedPrompts"])
    assert [(p["name"], str(p["version"])) for p in linked] == [("voice-persona-assistant", "1")]

    rows = eval_case_rows(client, run.info.run_id)
    assert [r["case_id"] for r in rows] == ["clip-jfk", "clip-hotwords", "say-1"]
    assert rows[0]["metric.wer"] <= 0.2 and "fellow americans" in rows[0]["output"].lower()
    assert rows[1]["metric.wer"] is None and rows[1]["metric.stt_rtf"] > 0, "no reference: real-time factors only"
    assert all(r["outcome"] == "pass" and r["metric.first_audio_s"] > 0 for r in rows)
    assert_logged_runs(home, rows, "voice")

"""The ``workbench`` command: ask streams a cited answer, runs lists it from the DuckDB log, ingest is idempotent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


def workbench(home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_LLM": "extractive"}
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_ask_then_runs_shows_the_logged_cli_run(tmp_path):
    asked = workbench(tmp_path, "ask", "Which port does the server listen on by default?", "--session", "cli1")
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.startswith("Extractive answer")
    assert "[1] " in asked.stdout and ".md" in asked.stdout, "citations are listed under the answer"
    listed = workbench(tmp_path, "runs", "--json", "--limit", "5")
    (run,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert run["entry_point"] == "cli" and run["session_id"] == "cli1" and run["status"] == "ok"
    assert run["model"] == "extractive" and run["retrieved"]


def test_ingest_twice_changes_nothing_the_second_time(tmp_path):
    corpus = ROOT / "datasets" / "corpus"
    first = workbench(tmp_path, "ingest", str(corpus / "installation.md"), "--collection", "mine")
    second = workbench(tmp_path, "ingest", str(corpus / "installation.md"), "--collection", "mine")
    assert "1 added" in first.stdout, first.stderr
    assert "1 unchanged" in second.stdout and "0 chunks" in second.stdout
    missing = workbench(tmp_path, "ingest", str(tmp_path / "nope.md"))
    assert missing.returncode != 0

"""The ``workbench`` command: ask streams a cited answer, runs lists it from the DuckDB log, ingest is idempotent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT, run_cli

pytestmark = pytest.mark.integration


def workbench(home, *args: str) -> subprocess.CompletedProcess:
    return run_cli(home, *args, WORKBENCH_LLM="extractive")


def test_ask_then_runs_shows_the_logged_cli_run(tmp_path):
    asked = workbench(tmp_path, "ask", "Which port does the server listen on by default?", "--session", "cli1")
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.startswith("Extractive answer")
    assert "[1] " in asked.stdout and ".md" in asked.stdout, "citations are listed under the answer"
    listed = workbench(tmp_path, "runs", "--json", "--limit", "5")
    (run,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert run["entry_point"] == "cli" and run["session_id"] == "cli1" and run["status"] == "ok"
    assert run["model"] == "extractive" and run["retrieved"]
    assert run["spans"] >= 4 and run["retrieval_ms"] > 0  # the run's roll-ups come with it

    shown = workbench(tmp_path, "runs", "show", run["run_id"][:8])
    assert shown.returncode == 0, shown.stderr
    header, totals, *tree = shown.stdout.splitlines()
    assert run["run_id"][:8] in header and "retrieval" in totals and f"{run['spans']} spans" in totals
    assert tree[0].startswith("* chat (run)")  # the run's span is the root, on the critical path
    assert any(re.match(r"^\*\s{3}retrieve \(node\)\s+\d+\.\d ms$", line) for line in tree), tree
    assert any(re.match(r"^\*\s{5}retrieval \S+ \(retrieval\)", line) for line in tree), tree
    trace = json.loads(workbench(tmp_path, "runs", "show", run["run_id"], "--json").stdout)
    assert trace["run"]["run_id"] == run["run_id"] and len(trace["spans"]) == run["spans"]
    assert trace["critical_path"][0] == next(s["span_id"] for s in trace["spans"] if s["parent_id"] is None)
    unknown = workbench(tmp_path, "runs", "show", "ffffffff")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: no run has an id starting with")
    assert "Traceback" not in unknown.stderr


def test_ingest_twice_changes_nothing_the_second_time(tmp_path):
    corpus = ROOT / "datasets" / "corpus"
    first = workbench(tmp_path, "ingest", str(corpus / "installation.md"), "--collection", "mine")
    second = workbench(tmp_path, "ingest", str(corpus / "installation.md"), "--collection", "mine")
    assert "1 added" in first.stdout, first.stderr
    assert "1 unchanged" in second.stdout and "0 chunks" in second.stdout
    missing = workbench(tmp_path, "ingest", str(tmp_path / "nope.md"))
    assert missing.returncode != 0


def test_audit_writes_the_report_fails_on_high_and_leaves_its_findings_in_the_run_log(tmp_path):
    from workbench.audit.store import report_of_run
    from workbench.runlog import recent_runs
    from workbench.runlog.schema import connect

    out = tmp_path / "report.json"
    repo = ROOT / "datasets" / "repos" / "inventory-api"
    done = workbench(tmp_path, "audit", str(repo), "--model", "none", "--format", "json", "-o", str(out),
                     "--fail-on", "high")  # fmt: skip
    assert done.returncode == 3, done.stderr  # inventory-api has planted high-severity problems
    assert "completed" in done.stderr, "progress goes to stderr"
    report = json.loads(out.read_text())
    assert report["status"] == "completed" and report["counts"]["high"] > 0

    (run,) = recent_runs(tmp_path / "runs.duckdb", limit=5)
    assert (run["graph"], run["entry_point"], run["status"]) == ("repo_audit", "cli", "ok")
    with connect(tmp_path / "runs.duckdb") as con:
        task = con.execute("SELECT task_id, status, progress FROM tasks WHERE run_id = ?", [run["run_id"]]).fetchone()
        assert task is not None and task[1:] == ("completed", 100.0), "a CLI audit is recorded as a finished task"
        stored = con.execute("SELECT count(*) FROM findings WHERE task_id = ?", [task[0]]).fetchone()
        assert stored == (len(report["findings"]),)
        assert con.execute("SELECT location FROM repositories").fetchall() == [(str(repo),)]
    logged = report_of_run(tmp_path / "runs.duckdb", run["run_id"])  # what the Runs tab shows
    assert logged is not None and [f["rule"] for f in logged["findings"]] == [f["rule"] for f in report["findings"]]

    refused = workbench(tmp_path, "audit", "ext::sh -c touch% /tmp/pwned")
    assert refused.returncode == 2 and "ext::" in refused.stderr


def test_agents_run_answers_with_a_spec_and_continues_its_session(tmp_path):
    first = workbench(tmp_path, "agents", "run", "rag_chat", "Which port does the server use by default?",
                      "--session", "cli-agent")  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    assert "8000" in first.stdout and "session: cli-agent" in first.stderr
    assert re.search(r"^\[\d\] corpus/installation\.md", first.stdout, flags=re.M), "citations under the answer"
    again = workbench(tmp_path, "agents", "run", "rag_chat", "And the host?", "--session", "cli-agent")
    assert again.returncode == 0, again.stderr[-2000:]
    runs = workbench(tmp_path, "runs", "--json", "--graph", "rag_chat")
    rows = [json.loads(line) for line in runs.stdout.splitlines()]
    assert [(r["entry_point"], r["session_id"], r["status"]) for r in rows] == [("cli", "cli-agent", "ok")] * 2
    refused = workbench(tmp_path, "agents", "run", "nope", "Hi")
    assert refused.returncode == 2 and "unknown agent 'nope'; choose one of" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_index_export_then_import_moves_a_collection_between_stores(tmp_path):
    edge_home, local_home = tmp_path / "edge-home", tmp_path / "local-home"
    ingested = workbench(edge_home, "ingest", str(ROOT / "datasets" / "corpus" / "installation.md"))
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    assert (edge_home / "qdrant-edge" / "docs").is_dir() and not (edge_home / "qdrant").exists()
    exported = workbench(edge_home, "index", "export", str(tmp_path / "docs.jsonl"))
    assert exported.returncode == 0, exported.stderr[-2000:]
    points = int(exported.stdout.split()[1])
    assert points > 3 and len((tmp_path / "docs.jsonl").read_text().splitlines()) == points + 1
    imported = run_cli(local_home, "index", "import", str(tmp_path / "docs.jsonl"), WORKBENCH_LLM="extractive",
                       WORKBENCH_VECTOR_STORE="local")  # fmt: skip
    assert imported.returncode == 0 and f"imported {points} points into 'docs'" in imported.stdout, imported.stderr
    asked = run_cli(local_home, "ask", "Which port does the server listen on by default?", WORKBENCH_LLM="extractive",
                    WORKBENCH_VECTOR_STORE="local")  # fmt: skip
    assert asked.returncode == 0 and "8000" in asked.stdout, asked.stderr[-2000:]
    (tmp_path / "broken.jsonl").write_text("{}\n")
    refused = workbench(local_home, "index", "import", str(tmp_path / "broken.jsonl"))
    assert refused.returncode == 2 and "line 1: not a workbench index file" in refused.stderr
    assert "Traceback" not in refused.stderr and str(tmp_path) not in refused.stderr


def test_a_cli_turn_and_runs_load_only_what_they_use(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "port.md").write_text("# Port\n\nThe server listens on port 8000 by default.\n")
    probe = (
        "import sys\nfrom workbench.cli import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = ('gradio', 'mlflow', 'git', 'qdrant_client', 'fastapi', 'faster_whisper', 'graphs.repo_audit')\n"
        "print('loaded:', sorted(m for m in heavy if m in sys.modules))\n"
    )
    for args in (["ask", "--model", "extractive", "Which port?"], ["runs"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=300, cwd=ROOT,
            env={**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "WORKBENCH_CORPUS_DIR": str(corpus)},
        )  # fmt: skip
        assert "loaded: []" in done.stdout, (args, done.stdout[-1500:], done.stderr[-1500:])
        assert args[0] != "ask" or "8000" in done.stdout, done.stderr[-1500:]  # the turn did run

"""Promote a logged run to an eval case: its input (and optionally its output, as the reference) is appended to
the suite's promoted cases under ``WORKBENCH_HOME/evals/<suite>.jsonl``, which the suite reads with its bundled
dataset on every later run.

chat runs become ``chat-rag`` cases (the question; the answer as reference), repo_audit runs ``audit`` cases (the
repository; the findings as expected ones). Voice runs cannot be promoted: recordings are never kept.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from workbench.audit.store import report_of_run
from workbench.errors import WorkbenchError
from workbench.evals.suite import Case
from workbench.runlog import get_run
from workbench.settings import Settings

SUITE_OF_GRAPH = {"chat": "chat-rag", "repo_audit": "audit"}
_lock = threading.Lock()


class PromotionError(WorkbenchError):
    """The run cannot become an eval case (unknown run, no input, a graph no suite reads)."""


def promoted_path(settings: Settings, suite: str) -> Path:
    return settings.home / "evals" / f"{suite}.jsonl"


def load_promoted(settings: Settings, suite: str) -> list[Case]:
    path = promoted_path(settings, suite)
    if not path.is_file():
        return []
    cases = []
    for line in path.read_text().splitlines():
        if line.strip():
            data = json.loads(line)
            cases.append(Case(data["id"], data["input"], data.get("expected", {}), "promoted", data.get("origin")))
    return cases


def case_from_run(settings: Settings, run: dict[str, Any], include_output: bool) -> tuple[str, Case]:
    """The suite a run belongs to and the case it makes."""
    graph = run.get("graph") or ""
    suite = SUITE_OF_GRAPH.get(graph)
    if suite is None:
        why = "recordings are never kept" if graph == "voice" else f"no suite evaluates {graph!r} runs"
        raise PromotionError(f"run {run['run_id']} cannot become an eval case: {why}")
    text = (run.get("input") or "").strip()
    if not text:
        raise PromotionError(f"run {run['run_id']} has no logged input")
    case_id = f"run-{run['run_id'][:8]}"
    expected: dict[str, Any] = {}
    if suite == "chat-rag":
        inputs: dict[str, Any] = {"question": text}
        if include_output and run.get("output"):
            expected["answer"] = run["output"]
        if run.get("retrieved"):
            expected["sources"] = sorted({d.get("source", "").rsplit("/", 1)[-1] for d in run["retrieved"]} - {""})
    else:
        inputs = {"repo": text}
        report = _report(run.get("output")) or report_of_run(settings.runlog_path, run["run_id"])
        if include_output and report is not None:
            expected["findings"] = [
                {"file": f["file"], "line": f.get("line"), "category": f["category"], "cwe": f.get("cwe"),
                 "agent": f["agent"]}
                for f in report.get("findings", [])
                if f.get("severity") != "info"
            ]  # fmt: skip
    return suite, Case(case_id, inputs, expected, "promoted", run["run_id"])


def _report(output: str | None) -> dict[str, Any] | None:
    try:
        data = json.loads(output or "")
    except ValueError:
        return None
    return data.get("report") if isinstance(data, dict) else None


def promote(settings: Settings, run_id: str, *, include_output: bool = False) -> tuple[str, Case]:
    """Append the run as a case of its suite (once: promoting a run again replaces its case)."""
    run = get_run(settings.runlog_path, run_id)
    if run is None:
        raise PromotionError(f"no run {run_id!r} in {settings.runlog_path}")
    suite, case = case_from_run(settings, run, include_output)
    path = promoted_path(settings, suite)
    with _lock:
        kept = [c for c in load_promoted(settings, suite) if c.id != case.id]
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            json.dumps({"id": c.id, "input": c.input, "expected": c.expected, "origin": c.origin})
            for c in [*kept, case]
        ]
        path.write_text("\n".join(lines) + "\n")
    return suite, case

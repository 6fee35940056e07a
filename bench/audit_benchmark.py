"""The audit on OWASP's Benchmark for Python, scored upstream's way, against bandit alone and semgrep alone.

    .venv/bin/python bench/audit_benchmark.py [PATH] [--triage MODEL] [--json]

PATH: a BenchmarkPython checkout (``expectedresults-*.csv`` beside ``testcode/``) or the shared subset
(``expected.csv`` beside ``repo/``; the default is ``../shared/data/benchmark-python``). The tree is copied to a
temporary folder and made a git repository there; nothing of it enters the project (it is GPL-3.0 data).

In one run, on the same copy:
- bandit alone, as a user runs it (``bandit -r . -f json``, every test, bandit's own CWEs), from the bandit tool
  venv when setup made one (its Python parses 3.12 syntax), else this environment's;
- semgrep alone: the workbench's rules (workbench/audit/semgrep/), every finding;
- the analyzers one after another (the explorer's map, then every tool of the three agents), wall time;
- the workbench: a whole audit through the graph (model ``none``), wall time; scored twice: the findings the
  report stands behind (severity low or above, confidence medium or above: low-confidence findings and
  informational hints are listed for review, not claimed) and every finding.
- with ``--triage MODEL`` (e.g. local/qwen2.5-coder-1.5b): the model reviews every taint trace of the audit
  (workbench/audit/triage.triage_traces; a dismissed trace drops to low confidence), and the workbench is scored
  again, with the model's seconds per trace and how its verdicts split over real and false cases.
Scoring (workbench/audit/benchmark.py): a case is flagged when a finding with its CWE is in its file; per category
TPR − FPR; the score is their mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.audit import audit, sequential  # noqa: E402
from workbench.audit.analyzers import run_semgrep  # noqa: E402
from workbench.audit.analyzers.security_tools import bandit_command  # noqa: E402
from workbench.audit.benchmark import BenchmarkScore, hits, load_cases, locate, reported, score  # noqa: E402
from workbench.audit.triage import triage_traces  # noqa: E402
from workbench.resources import Resources  # noqa: E402
from workbench.settings import Settings  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "benchmark-python"


def copy_as_repo(tree: Path, dest: Path) -> Path:
    """The benchmark tree copied to `dest`, committed once (the audit reads a git checkout)."""
    shutil.copytree(tree, dest, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    git = ["git", "-C", str(dest), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "benchmark"], check=True)
    return dest


def bandit_alone(root: Path) -> tuple[set[tuple[str, int]], dict[str, Any]]:
    tool, version, grammar = bandit_command()
    started = time.perf_counter()
    done = subprocess.run([*tool, "-r", ".", "-f", "json", "-q"], cwd=root, capture_output=True, check=False)
    took = time.perf_counter() - started
    output = json.loads(done.stdout)
    found = [(r["filename"], (r.get("issue_cwe") or {}).get("id")) for r in output["results"]]
    info = {"version": version, "python": grammar, "seconds": took, "findings": len(found)}
    return hits(found), info | {"parse_errors": len(output.get("errors", []))}


def semgrep_alone(root: Path) -> tuple[set[tuple[str, int]], dict[str, Any]]:
    run = run_semgrep(root, timeout_s=600)
    if run.status not in ("ok", "partial"):
        raise SystemExit(f"semgrep did not run: {run.error}")
    found = [(f.file, f.cwe) for f in run.findings]
    info = {
        "version": run.version,
        "seconds": run.duration_s,
        "findings": len(found),
        "not_analyzed": len(run.not_analyzed),
    }
    return hits(found), info


def review_traces(resources: Resources, repo: Path, report: Any, spec: str, cases: list[Any]) -> dict[str, Any]:
    """The model's review of every taint trace in the report (on copies), and the findings it leaves reported."""
    choice = resources.models.choose(spec)
    fields = type(choice.model).model_fields
    model = choice.model.model_copy(
        update={k: v for k, v in {"temperature": 0.0, "max_tokens": 80}.items() if k in fields}
    )
    findings = [f.model_copy(deep=True) for f in report.findings]
    traced = [f for f in findings if f.trace]
    started = time.perf_counter()
    asyncio.run(triage_traces(model, repo, traced, len(traced)))
    took = time.perf_counter() - started
    labels = {(c.name, c.cwe): c.real for c in cases}
    split: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    for f in traced:
        key = (Path(f.file).stem, f.cwe)
        if key in labels:
            split[labels[key]][f.llm_verdict or "none"] += 1
    kept = reported(findings)
    return {
        "model": choice.spec, "traces": len(traced), "seconds_per_trace": took / max(1, len(traced)),
        "verdicts_real": dict(split[True]), "verdicts_false": dict(split[False]), "hits": kept,
    }  # fmt: skip


def table(columns: dict[str, BenchmarkScore]) -> list[str]:
    names = list(columns)
    head = f"{'category':16}" + "".join(f"{name:>26}" for name in names)
    lines = [head, f"{'':16}" + "".join(f"{'TPR  FPR  TPR-FPR':>26}" for _ in names)]
    categories = [c.category for c in next(iter(columns.values())).categories]
    for i, category in enumerate(categories):
        row = f"{category:16}"
        for result in columns.values():
            c = result.categories[i]
            row += f"{c.tpr:>12.2f} {c.fpr:4.2f} {c.score:+7.2f}"
        lines.append(row)
    lines.append("")
    for label, key in (("score", "score"), ("TPR", "tpr"), ("FPR", "fpr"), ("precision", "precision")):
        lines.append(f"{label:16}" + "".join(f"{getattr(r, key):>26.3f}" for r in columns.values()))
    lines.append(
        f"{'TPR-FPR > 0 in':16}"
        + "".join(f"{r.positive_categories:>19} of {len(r.categories)}" for r in columns.values())
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--triage", metavar="MODEL", help="also score with this model reviewing every taint trace")
    args = parser.parse_args()
    tree, expected = locate(args.path)
    cases = load_cases(expected)
    with tempfile.TemporaryDirectory(prefix="wb-owasp-") as tmp:
        repo = copy_as_repo(tree, Path(tmp) / "src" / "benchmark")
        settings = Settings(home=Path(tmp) / "home", audit_allowed_roots=[Path(tmp) / "src"], llm="extractive")
        resources = Resources(settings)
        try:
            bandit_hits, bandit_info = bandit_alone(repo)
            semgrep_hits, semgrep_info = semgrep_alone(repo)
            by_hand = sequential(repo)
            result = asyncio.run(audit(resources, repo))
            if args.triage:
                result["triage"] = review_traces(resources, repo, result["report"], args.triage, cases)
        finally:
            resources.close()
    report = result.pop("report")
    columns = {
        "bandit alone": score(cases, bandit_hits),
        "semgrep alone": score(cases, semgrep_hits),
        "workbench (reported)": score(cases, reported(report.findings)),
        "workbench (every finding)": score(cases, hits((f.file, f.cwe) for f in report.findings)),
    }
    if "triage" in result:
        columns["workbench + trace review (reported)"] = score(cases, result["triage"].pop("hits"))
    figures = {
        "cases": len(cases),
        "real": sum(c.real for c in cases),
        "categories": len({c.category for c in cases}),
        "tools": {"bandit": bandit_info, "semgrep": semgrep_info},
        "scores": {name: s.as_dict() for name, s in columns.items()},
        "audit": {"status": report.status, "wall_s": round(result["wall_s"], 2), "findings": len(report.findings)},
        "analyzers_one_after_another_s": round(by_hand["total_s"], 2),
        "triage": result.get("triage"),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    bandit, workbench = columns["bandit alone"], columns["workbench (reported)"]
    print(
        f"OWASP Benchmark for Python: {len(cases)} cases ({figures['real']} real) in {figures['categories']} categories"
    )
    print(
        f"bandit {bandit_info['version']} under Python {bandit_info['python']}: {bandit_info['findings']} findings, "
        f"{bandit_info['parse_errors']} files it could not parse, {bandit_info['seconds']:.2f} s"
    )
    print(
        f"semgrep {semgrep_info['version']} (workbench rules): {semgrep_info['findings']} findings, "
        f"{semgrep_info['not_analyzed']} files not analyzed, {semgrep_info['seconds']:.2f} s\n"
    )
    print("\n".join(table(columns)))
    ratio = workbench.score / bandit.score if bandit.score > 0 else float("inf")
    print(f"\nworkbench (reported) / bandit alone: score x{ratio:.2f}, FPR {workbench.fpr - bandit.fpr:+.3f}")
    if figures["triage"]:
        t = figures["triage"]
        print(f"trace review by {t['model']}: {t['traces']} traces, {t['seconds_per_trace']:.1f} s each; verdicts on "
              f"real cases {t['verdicts_real']}, on false ones {t['verdicts_false']}")  # fmt: skip
    print(f"audit wall time {result['wall_s']:.2f} s (status {report.status}, {len(report.findings)} merged findings) "
          f"against {by_hand['total_s']:.2f} s for the analyzers one after another "
          f"(x{by_hand['total_s'] / result['wall_s']:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()

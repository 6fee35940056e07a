"""Repo-audit benchmark: the graph's parallel fan-out against the same analyzers run one after another, and the
precision and recall of the default pipeline on the labelled fixture repositories.

    .venv/bin/python bench/audit.py [--packages requests,urllib3,...] [--runs 3] [--model local/smollm2-135m]
                                    [--no-timing] [--no-scoring] [--verbose] [--json]

(a) Timing. A medium real codebase is built in a temporary root: the installed sources of ``--packages`` (pure
    Python, from this environment's site-packages) copied side by side with a README and a pyproject, made a git
    repository with one commit per package. Baseline, "by hand": the explorer's ``build_repo_map`` and then
    ``run_ruff``, ``run_lizard``, ``run_bandit``, ``run_secrets``, ``run_patterns`` on the repository, one after
    another. Against it, a full audit through the graph (``run_audit``, model ``none`` so no LLM): clone, select,
    the three agents in parallel (each agent's analyzers in parallel too), aggregate. The two alternate over
    ``--runs`` runs; the ratio is sequential / graph (p50s), the speedup of the fan-out, clone included.
(b) Scoring. The default pipeline (graph, model ``none``) on each fixture of ``datasets/repos`` (copied to the
    temporary root), scored with :func:`workbench.audit.scoring.score_by_agent`: tp, fp, fn, precision, recall and
    F1 per repository and agent, and over all fixtures.
(c) With ``--model``: one more audit of the codebase with LLM triage (and the architecture summary), after the
    model is loaded and warmed; what triage adds is its wall time minus the graph's p50 without a model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.cli import QUIET_OFFLINE  # noqa: E402

for _key, _value in QUIET_OFFLINE.items():
    os.environ.setdefault(_key, _value)

import git  # noqa: E402

from graphs.repo_audit_state import AuditContext  # noqa: E402
from workbench.audit.agents import TOOLS  # noqa: E402
from workbench.audit.explorer import build_repo_map  # noqa: E402
from workbench.audit.models import SEVERITIES, AuditReport, Finding  # noqa: E402
from workbench.audit.scoring import Score, combine, load_expected, score_by_agent  # noqa: E402
from workbench.resources import Resources  # noqa: E402
from workbench.runtime import LocalRuntime  # noqa: E402
from workbench.settings import Settings  # noqa: E402
from workbench.tasks.runner import run_audit  # noqa: E402

REPOS = ROOT / "datasets" / "repos"
SITE = Path(sysconfig.get_paths()["purelib"])
DEFAULT_PACKAGES = "requests,urllib3,charset_normalizer,certifi,httpx,h11"
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.pyd")
TOOL_TIMEOUT_S = 600.0
_CLONED = re.compile(r"in ([0-9.]+) s$")


def spread(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


# --- the medium codebase --------------------------------------------------------------------------------------


def build_codebase(dest: Path, packages: list[str]) -> Path:
    """Copy the installed packages into ``dest`` and make it a git repository, one commit per package."""
    missing = [name for name in packages if not (SITE / name).is_dir()]
    if missing:
        raise SystemExit(f"not installed as packages in {SITE}: {', '.join(missing)}")
    dest.mkdir(parents=True)
    (dest / "README.md").write_text("# http-stack\n\nInstalled HTTP client packages, vendored for an audit.\n")
    deps = ", ".join(f'"{name.replace("_", "-")}"' for name in packages)
    (dest / "pyproject.toml").write_text(f'[project]\nname = "http-stack"\nversion = "0.1"\ndependencies = [{deps}]\n')
    repo = git.Repo.init(dest)
    author = git.Actor("Bench", "bench@example.invalid")
    repo.index.add(["README.md", "pyproject.toml"])
    repo.index.commit("project skeleton", author=author, committer=author)
    for name in packages:
        shutil.copytree(SITE / name, dest / name, ignore=SKIP)
        repo.git.add(name)
        repo.index.commit(f"add {name}", author=author, committer=author)
    repo.close()
    return dest


# --- (a) sequential baseline against the graph ---------------------------------------------------------------


def sequential(root: Path) -> dict[str, Any]:
    """The explorer's map, then every analyzer, one after another in this thread."""
    started = time.perf_counter()
    repo_map = build_repo_map(root)
    times = {"explorer": time.perf_counter() - started}
    findings: list[Finding] = []
    statuses = {}
    for name, tool in TOOLS.items():
        began = time.perf_counter()
        run = tool(root, timeout_s=TOOL_TIMEOUT_S)
        times[name] = time.perf_counter() - began
        statuses[name] = run.status if run.status == "ok" else f"{run.status}: {run.error}"
        findings += run.findings
    return {
        "total_s": time.perf_counter() - started,
        "tools_s": times,
        "status": statuses,
        "findings": len(findings),
        "by_tool": dict(Counter(f.tool for f in findings)),
        "counts": {s: sum(f.severity == s for f in findings) for s in SEVERITIES},
        "files": repo_map["files"],
        "lines": repo_map["lines"],
        "code_lines": repo_map["code_lines"],
        "python_files": next((x["files"] for x in repo_map["languages"] if x["language"] == "Python"), 0),
        "commits": (repo_map.get("history") or {}).get("commits"),
    }


async def audit(resources: Resources, repo: Path, model: str = "none") -> dict[str, Any]:
    """One audit through the graph; phase times from when its events arrive."""
    marks: dict[str, float] = {}
    clone_s = 0.0
    started = time.perf_counter()

    def on_event(event: dict[str, Any]) -> None:
        nonlocal clone_s
        now = time.perf_counter() - started
        step = event.get("step")
        if event["type"] == "task.progress" and step == "clone" and (found := _CLONED.search(event["message"])):
            marks["cloned"], clone_s = now, float(found.group(1))
        elif event["type"] == "task.progress" and step == "select" and event.get("plan") is not None:
            marks["selected"] = now
        elif event["type"] in ("task.agent_result", "task.error"):
            marks["agents_done"] = now

    runtime = LocalRuntime(None, resources=resources)
    context = AuditContext(model=model)
    report: AuditReport = await run_audit(
        {"repo": str(repo)}, on_event, runtime=runtime, settings=resources.settings, context=context
    )
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "clone_s": clone_s,
        "phases_s": {
            "clone (node)": marks.get("cloned", 0.0),
            "select": marks.get("selected", 0.0) - marks.get("cloned", 0.0),
            "agents": marks.get("agents_done", 0.0) - marks.get("selected", 0.0),
            "aggregate": wall - marks.get("agents_done", 0.0),
        },
        "status": report.status,
        "agents": {
            name: {
                "status": result.status,
                "duration_s": result.duration_s,
                "tools": {tool: info["duration_s"] for tool, info in result.tools.items()},
            }
            for name, result in report.agents.items()
        },
        "findings": len(report.findings),
        "counts": report.counts,
        "verdicts": dict(Counter(f.llm_verdict for f in report.findings if f.llm_verdict)),
        "notes": [f"{f.rule}: {f.llm_verdict}: {(f.llm_note or '')[:160]!r}" for f in report.findings if f.llm_verdict][
            :3
        ],
        "architecture_summary": bool((report.repo_map or {}).get("architecture_summary")),
        "report": report,
    }


def timing(resources: Resources, root: Path, runs: int) -> dict[str, Any]:
    seq: list[dict[str, Any]] = []
    graph: list[dict[str, Any]] = []
    for n in range(runs):  # alternate which goes first, so that a busy moment hurts both alike
        for which in ("seq", "graph") if n % 2 == 0 else ("graph", "seq"):
            if which == "seq":
                seq.append(sequential(root))
                took = seq[-1]["total_s"]
            else:
                graph.append(asyncio.run(audit(resources, root)))
                took = graph[-1]["wall_s"]
            print(f"  run {n + 1} {which}: {took:.2f} s", file=sys.stderr)
    for row in graph:
        row.pop("report")
    seq_p50 = statistics.median(r["total_s"] for r in seq)
    graph_p50 = statistics.median(r["wall_s"] for r in graph)
    agents = {name for row in graph for name in row["agents"]}
    # The fan-out cannot beat the slowest single tool, nor the sequential CPU time spread over every core.
    slowest = max(statistics.median(r["tools_s"][t] for r in seq) for t in seq[0]["tools_s"])
    floor = max(slowest, seq_p50 / (os.cpu_count() or 1))
    return {
        "codebase": {k: seq[0][k] for k in ("files", "python_files", "lines", "code_lines", "commits")},
        "runs": runs,
        "sequential": {
            "total_s": spread([r["total_s"] for r in seq]),
            "tools_s": {t: spread([r["tools_s"][t] for r in seq]) for t in seq[0]["tools_s"]},
            "status": seq[-1]["status"],
            "findings": seq[-1]["findings"],
            "by_tool": seq[-1]["by_tool"],
            "counts": seq[-1]["counts"],
        },
        "graph": {
            "wall_s": spread([r["wall_s"] for r in graph]),
            "clone_s": spread([r["clone_s"] for r in graph]),
            "phases_s": {p: spread([r["phases_s"][p] for r in graph]) for p in graph[0]["phases_s"]},
            "agents": {
                a: {
                    "duration_s": spread([r["agents"][a]["duration_s"] for r in graph]),
                    "tools_s": {
                        t: spread([r["agents"][a]["tools"][t] for r in graph]) for t in graph[0]["agents"][a]["tools"]
                    },
                }
                for a in sorted(agents)
            },
            "status": graph[-1]["status"],
            "findings": graph[-1]["findings"],
            "counts": graph[-1]["counts"],
        },
        "ratio_sequential_to_graph": round(seq_p50 / graph_p50, 2),
        "ratio_runs": [round(s["total_s"] / g["wall_s"], 2) for s, g in zip(seq, graph, strict=True)],
        "ratio_bound": round(seq_p50 / floor, 2),
    }


# --- (b) precision and recall on the fixtures ----------------------------------------------------------------


def score_row(score: Score) -> dict[str, Any]:
    return {
        "tp": score.tp,
        "fp": score.fp,
        "fn": score.fn,
        "precision": round(score.precision, 3),
        "recall": round(score.recall, 3),
        "f1": round(score.f1, 3),
        "missed": [f"{m.id} ({m.file}:{m.line} {m.category})" for m in score.missed],
        "false_positives": [f"{f.file}:{f.line} {f.rule} ({f.category}, {f.severity})" for f in score.false_positives],
    }


def scoring(resources: Resources, tmp: Path) -> dict[str, Any]:
    per_repo: dict[str, dict[str, Any]] = {}
    scores: dict[str, list[Score]] = {}
    for labels in sorted(REPOS.glob("*.expected.yaml")):
        name = labels.name.removesuffix(".expected.yaml")
        copy = shutil.copytree(REPOS / name, tmp / "fixtures" / name)
        result = asyncio.run(audit(resources, copy))
        by_agent = score_by_agent(result["report"].findings, load_expected(labels))
        for agent, score in by_agent.items():
            scores.setdefault(agent, []).append(score)
        per_repo[name] = {
            "wall_s": round(result["wall_s"], 2),
            "findings": result["findings"],
            "agents": {a: score_row(s) for a, s in by_agent.items()},
        }
    return {"repos": per_repo, "overall": {a: score_row(combine(s)) for a, s in scores.items()}}


# --- (c) the cost of LLM triage ------------------------------------------------------------------------------


def triage_cost(resources: Resources, root: Path, model: str, baseline_p50: float | None) -> dict[str, Any]:
    from langchain_core.messages import HumanMessage

    began = time.perf_counter()
    resources.models.choose(model).model.invoke([HumanMessage("Hi")])  # load and warm it
    load_s = time.perf_counter() - began
    result = asyncio.run(audit(resources, root, model))
    result.pop("report")
    out = {"model": model, "load_s": round(load_s, 2), **result}
    if baseline_p50 is not None:
        out["added_s"] = round(result["wall_s"] - baseline_p50, 2)
    return out


# --- report ---------------------------------------------------------------------------------------------------


def _s(cell: dict[str, float]) -> str:
    return f"{cell['p50']:7.2f} s ({cell['min']:.2f}–{cell['max']:.2f})"


def print_report(figures: dict[str, Any], verbose: bool, out: Any) -> None:
    def say(text: str = "") -> None:
        print(text, file=out)

    say(f"{figures['cpu_count']} CPU cores, load average {figures['load_average']}")
    if "timing" in figures:
        t = figures["timing"]
        c = t["codebase"]
        say(f"codebase {figures['packages']}: {c['files']} files ({c['python_files']} Python), {c['lines']} lines")
        say(f"  ({c['code_lines']} code lines), {c['commits']} commits; {t['runs']} runs, p50 (min–max)")
        say("\nsequential, by hand:")
        for tool, cell in t["sequential"]["tools_s"].items():
            say(f"  {tool:<12}{_s(cell)}")
        say(f"  {'total':<12}{_s(t['sequential']['total_s'])}")
        say(f"  {t['sequential']['findings']} findings (unmerged) by tool {t['sequential']['by_tool']}")
        say(f"  by severity {t['sequential']['counts']}; status {t['sequential']['status']}")
        g = t["graph"]
        say("\ngraph (run_audit, model none):")
        for phase, cell in g["phases_s"].items():
            say(f"  {phase:<14}{_s(cell)}")
        say(f"  {'wall':<14}{_s(g['wall_s'])}   (git clone itself {_s(g['clone_s'])})")
        for agent, row in g["agents"].items():
            tools = ", ".join(f"{tool} {cell['p50']:.2f}" for tool, cell in row["tools_s"].items())
            say(f"  agent {agent:<12}{_s(row['duration_s'])}" + (f"   tools: {tools}" if tools else ""))
        say(f"  {g['findings']} findings (merged), by severity {g['counts']}; status {g['status']}")
        say(f"\nsequential / graph (p50): x{t['ratio_sequential_to_graph']:.2f}; per run {t['ratio_runs']}")
        say(f"  best possible here: x{t['ratio_bound']:.2f} (the slowest tool alone, or all the work on every core)")
    if "scoring" in figures:
        say("\nprecision / recall of the default pipeline (graph, model none), low severity and up:")
        say(f"{'repo':<15}{'agent':<12}{'tp':>4}{'fp':>4}{'fn':>4}{'precision':>11}{'recall':>8}{'F1':>7}")
        rows = [(repo, r["agents"]) for repo, r in figures["scoring"]["repos"].items()]
        for repo, agents in [*rows, ("ALL", figures["scoring"]["overall"])]:
            for agent, s in agents.items():
                say(
                    f"{repo:<15}{agent:<12}{s['tp']:>4}{s['fp']:>4}{s['fn']:>4}"
                    f"{s['precision']:>11.3f}{s['recall']:>8.3f}{s['f1']:>7.3f}"
                )
                if verbose and agent == "overall":
                    for item in s["missed"]:
                        say(f"{'':<27}missed: {item}")
                    for item in s["false_positives"]:
                        say(f"{'':<27}false positive: {item}")
        say("audit wall time: " + ", ".join(f"{k} {r['wall_s']:.2f} s" for k, r in figures["scoring"]["repos"].items()))
    if "triage" in figures:
        tr = figures["triage"]
        say(f"\ntriage with {tr['model']}: load + 1-token reply {tr['load_s']:.2f} s; audit {tr['wall_s']:.2f} s")
        say("  agents: " + ", ".join(f"{a} {row['duration_s']:.2f} s" for a, row in tr["agents"].items()))
        if "added_s" in tr:
            say(f"  added to the audit: {tr['added_s']:+.2f} s against the p50 without a model")
        say(f"  verdicts {tr['verdicts']}, architecture summary written: {tr['architecture_summary']}")
        for note in tr["notes"] if verbose else []:
            say(f"  e.g. {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", default=DEFAULT_PACKAGES, help="installed packages that make the codebase")
    parser.add_argument("--runs", type=int, default=3, help="runs of each of sequential and graph")
    parser.add_argument("--model", help="also time one audit with LLM triage by this model (e.g. local/smollm2-135m)")
    parser.add_argument("--no-timing", action="store_true", help="skip the codebase timing")
    parser.add_argument("--no-scoring", action="store_true", help="skip precision/recall on the fixtures")
    parser.add_argument("--verbose", action="store_true", help="list missed items and false positives")
    parser.add_argument("--json", action="store_true", help="JSON on stdout (the table goes to stderr)")
    args = parser.parse_args()
    packages = [p.strip() for p in args.packages.split(",") if p.strip()]
    figures: dict[str, Any] = {"cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="wb-bench-audit-") as tmp:
        base = Path(tmp).resolve()
        settings = Settings(home=base / "home", audit_allowed_roots=[base / "src"], llm="extractive")
        resources = Resources(settings)
        try:
            if not args.no_timing or args.model:
                root = build_codebase(base / "src" / "http-stack", packages)
                figures["packages"] = ",".join(packages)
            if not args.no_timing:
                figures["timing"] = timing(resources, root, args.runs)
            if not args.no_scoring:
                figures["scoring"] = scoring(resources, base / "src")
            if args.model:
                p50 = figures["timing"]["graph"]["wall_s"]["p50"] if "timing" in figures else None
                figures["triage"] = triage_cost(resources, root, args.model, p50)
        finally:
            resources.close()
    print_report(figures, args.verbose, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""The specialist agents of a repo audit and the supervisor's choice of them.

Each agent runs well-kept static analyzers on the checkout (as killable subprocesses, in parallel), then asks the
LLM to triage the worst of what they found (see :mod:`workbench.audit.triage`). Nothing from the repository is
executed: the analyzers only read files.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from workbench.audit import analyzers
from workbench.audit.analyzers import SKIP_DIRS
from workbench.audit.explorer import build_repo_map, describe
from workbench.audit.findings import cwe_family
from workbench.audit.models import AGENTS, AgentName, AgentResult, AgentStatus, Finding
from workbench.audit.rules import TAINT_CWES
from workbench.audit.triage import architecture_summary, triage, triage_traces
from workbench.runlog.steps import step

Emit = Callable[[dict[str, Any]], None]
ToolFn = Callable[..., analyzers.ToolRun]

TOOLS: dict[str, ToolFn] = {
    "ruff": analyzers.run_ruff,
    "lizard": analyzers.run_lizard,
    "semgrep": analyzers.run_semgrep,
    "bandit": analyzers.run_bandit,
    "secrets": analyzers.run_secrets,
    "patterns": analyzers.run_patterns,
}
AGENT_TOOLS: dict[AgentName, tuple[str, ...]] = {
    "explorer": (),
    "bug_hunter": ("ruff", "lizard"),
    "security": ("semgrep", "bandit", "secrets", "patterns"),
}
TOOL_SUFFIXES: dict[str, frozenset[str]] = {
    "ruff": analyzers.PYTHON_SUFFIXES,
    "bandit": analyzers.PYTHON_SUFFIXES,
    "semgrep": analyzers.SEMGREP_SUFFIXES,
}
"""Tools that read only some languages: the file suffixes they apply to (the others read any file)."""
NOT_ANALYZED_LISTED = 10
"""Files not analyzed named per tool in the agent's result (the count is always complete)."""


@dataclass
class Inventory:
    """What the supervisor looks at: how many files of each extension the checkout holds."""

    files: int = 0
    extensions: Counter[str] = field(default_factory=Counter)

    @property
    def has_python(self) -> bool:
        return self.has_any(analyzers.PYTHON_SUFFIXES)

    def has_any(self, suffixes: frozenset[str]) -> bool:
        return any(self.extensions[suffix] > 0 for suffix in suffixes)


def inventory(root: Path, limit: int = 50_000) -> Inventory:
    found = Inventory()
    for _folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            found.files += 1
            found.extensions[Path(name).suffix.lower()] += 1
            if found.files >= limit:
                return found
    return found


def select_agents(requested: list[str] | None, found: Inventory) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The supervisor's plan: which agents run with which tools, and why each agent runs or not.

    ``requested`` (the user's choice; None or empty: all) is honoured; tools that cannot apply to what the
    repository holds are dropped (ruff and bandit read Python only), and an agent left with nothing to run is
    skipped. The explorer always has work when the checkout has files.
    """
    wanted = [a for a in AGENTS if not requested or a in requested]
    plan: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    for agent in AGENTS:
        if agent not in wanted:
            reasons[agent] = "not requested"
            continue
        if found.files == 0:
            reasons[agent] = "the repository has no files"
            continue
        tools = [t for t in AGENT_TOOLS[agent] if t not in TOOL_SUFFIXES or found.has_any(TOOL_SUFFIXES[t])]
        if AGENT_TOOLS[agent] and not tools:
            reasons[agent] = "no tool of this agent applies to the repository's languages"
            continue
        plan[agent] = tools
        dropped = sorted(set(AGENT_TOOLS[agent]) - set(tools))
        reasons[agent] = f"runs {', '.join(tools) or 'the repository map'}" + (
            f" ({', '.join(dropped)} skipped: no files in the languages they read)" if dropped else ""
        )
    return plan, reasons


@dataclass
class AgentContext:
    root: Path
    tools: list[str]
    timeout_s: float
    emit: Emit
    model: BaseChatModel | None = None
    reviews: int = 5
    cancel: threading.Event = field(default_factory=threading.Event)
    trace_reviews: int = 0
    """Taint traces the model reviews (a dismissed one drops to low confidence); off by default: with the bundled
    1.5B model precision rose but real flows were dismissed too, at 13.5 s a trace (docs/benchmarks.md)."""
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Extra keyword arguments per tool (ruff: extend_select)."""


def _progress(ctx: AgentContext, agent: str, message: str, percent: float) -> None:
    ctx.emit({"type": "task.progress", "step": "agents", "agent": agent, "message": message, "percent": percent})


async def _run_tools(agent: AgentName, ctx: AgentContext, deadline: float) -> tuple[list[Finding], dict[str, Any]]:
    """The agent's analyzers at once, each in a worker thread driving its subprocess."""

    async def one(name: str) -> analyzers.ToolRun:
        _progress(ctx, agent, f"running {name}", 0)
        remaining = max(0.1, deadline - time.monotonic())
        options = ctx.options.get(name, {})
        with step("analyzer", f"analyzer {name}", {"workbench.analyzer.tool": name, "workbench.agent": agent}) as span:
            run = await asyncio.to_thread(TOOLS[name], ctx.root, timeout_s=remaining, cancel=ctx.cancel, **options)
            span.update(
                {
                    "workbench.analyzer.tool": run.tool,
                    "workbench.analyzer.version": run.version,
                    "workbench.analyzer.status": run.status,
                    "workbench.analyzer.files": run.files,
                    "workbench.analyzer.not_analyzed": len(run.not_analyzed),
                    "workbench.analyzer.findings": len(run.findings),
                    "workbench.analyzer.error": run.error,
                }
            )
        unread = f", {len(run.not_analyzed)} files not analyzed" if run.not_analyzed else ""
        took = f"{run.duration_s:.1f} s"
        _progress(ctx, agent, f"{name}: {run.status}, {len(run.findings)} findings{unread} in {took}", 0)
        return run

    runs = await asyncio.gather(*(one(name) for name in ctx.tools))
    findings = corroborate([f for run in runs for f in run.findings], runs)
    tools = {
        run.tool: {
            "version": run.version,
            "status": run.status,
            "duration_s": round(run.duration_s, 3),
            "files": run.files,
            "analyzed": run.analyzed,
            "not_analyzed": len(run.not_analyzed),
            "not_analyzed_files": [
                {"file": n.file, "reason": n.reason} for n in run.not_analyzed[:NOT_ANALYZED_LISTED]
            ],
            "findings": len(run.findings),
            "error": run.error,
        }
        for run in runs
    }
    return findings, tools


def corroborate(findings: list[Finding], runs: list[analyzers.ToolRun]) -> list[Finding]:
    """Weigh bandit's shape-only findings by the taint analysis (see `rules.TAINT_CWES`).

    A bandit finding of a class the taint rules cover, in a file semgrep analyzed, with no semgrep finding of
    that class in the file, is kept at low confidence with a note: no request data was traced to it."""
    taint = next((run for run in runs if run.tool == "semgrep" and run.status in ("ok", "partial")), None)
    if taint is None:
        return findings
    unread = {n.file for n in taint.not_analyzed}
    traced = {(f.file, cwe_family(f.cwe)) for f in findings if f.tool == "semgrep" and f.cwe is not None}
    weighed = []
    for f in findings:
        if (
            f.tool == "bandit"
            and f.cwe in TAINT_CWES
            and f.file not in unread
            and (f.file, cwe_family(f.cwe)) not in traced
            and f.confidence != "low"
        ):
            note = " (taint analysis traced no request data to this call in the file)"
            f = f.model_copy(update={"confidence": "low", "message": f.message + note})
        weighed.append(f)
    return weighed


def _tool_summary(
    agent: AgentName, findings: list[Finding], tools: dict[str, Any], reviewed: int, unread: list[str]
) -> str:
    counts = Counter(f.severity for f in findings)
    by_severity = ", ".join(f"{counts[s]} {s}" for s in ("critical", "high", "medium", "low", "info") if counts[s])
    failed = [
        f"{name} ({info['status']})"
        for name, info in tools.items()
        if info["status"] not in ("ok", "skipped", "partial")
    ]
    parts = [f"{len(findings)} findings" + (f" ({by_severity})" if by_severity else "")]
    parts.append(f"tools: {', '.join(tools) or 'none'}")
    if failed:
        parts.append(f"not completed: {', '.join(failed)}")
    parts += unread
    if reviewed:
        parts.append(f"{reviewed} triaged by the model")
    return "; ".join(parts) + "."


def not_analyzed_line(tool: str, info: dict[str, Any], named: int = 3) -> str:
    """``bandit did not analyze 12 of 40 files (a.py: why; b.py: why; …)``: one tool's coverage gap."""
    files = info.get("not_analyzed_files") or []
    listed = "; ".join(f"{entry['file']}: {entry['reason']}" for entry in files[:named])
    more = ", …" if info["not_analyzed"] > len(files[:named]) else ""
    return f"{tool} did not analyze {info['not_analyzed']} of {info['files']} files ({listed}{more})"


async def run_agent(agent: AgentName, ctx: AgentContext) -> AgentResult:
    """Run one specialist agent to completion (the caller bounds it in time and turns errors into results)."""
    started = time.monotonic()
    deadline = started + ctx.timeout_s
    if agent == "explorer":
        _progress(ctx, agent, "mapping the repository", 0)
        repo_map = await asyncio.to_thread(build_repo_map, ctx.root, cancel=ctx.cancel)
        summary = describe(repo_map)
        if ctx.model is not None:
            _progress(ctx, agent, "writing the architecture summary", 0)
            prose = await architecture_summary(ctx.model, summary)
            if prose:
                repo_map["architecture_summary"] = prose
        return AgentResult(
            agent=agent, summary=summary, repo_map=repo_map, duration_s=round(time.monotonic() - started, 3)
        )
    findings, tools = await _run_tools(agent, ctx, deadline)
    reviewed = 0
    traces = [f for f in findings if f.trace]
    if ctx.model is not None and ctx.trace_reviews and traces:
        _progress(ctx, agent, f"reviewing {min(ctx.trace_reviews, len(traces))} taint traces", 0)
        reviewed = await triage_traces(ctx.model, ctx.root, traces, ctx.trace_reviews)
    untriaged = [f for f in findings if f.llm_verdict is None]
    if ctx.model is not None and ctx.reviews and untriaged:
        _progress(ctx, agent, f"triaging the {min(ctx.reviews, len(untriaged))} worst findings", 0)
        reviewed += await triage(ctx.model, ctx.root, untriaged, ctx.reviews)
    failed = [
        f"{name}: {info['error'] or info['status']}"
        for name, info in tools.items()
        if info["status"] not in ("ok", "skipped", "partial")
    ]
    unread = [not_analyzed_line(name, info) for name, info in tools.items() if info.get("not_analyzed")]
    # what the working tools found is kept either way
    status: AgentStatus = "error" if failed else "partial" if unread else "ok"
    return AgentResult(
        agent=agent,
        status=status,
        findings=findings,
        summary=_tool_summary(agent, findings, tools, reviewed, unread),
        error="; ".join(failed + unread) or None,
        duration_s=round(time.monotonic() - started, 3),
        tools=tools,
    )

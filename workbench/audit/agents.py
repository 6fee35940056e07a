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
from workbench.audit.models import AGENTS, AgentName, AgentResult, AgentStatus, Finding
from workbench.audit.triage import architecture_summary, triage

Emit = Callable[[dict[str, Any]], None]
ToolFn = Callable[..., analyzers.ToolRun]

TOOLS: dict[str, ToolFn] = {
    "ruff": analyzers.run_ruff,
    "lizard": analyzers.run_lizard,
    "bandit": analyzers.run_bandit,
    "secrets": analyzers.run_secrets,
    "patterns": analyzers.run_patterns,
}
AGENT_TOOLS: dict[AgentName, tuple[str, ...]] = {
    "explorer": (),
    "bug_hunter": ("ruff", "lizard"),
    "security": ("bandit", "secrets", "patterns"),
}
PYTHON_ONLY = frozenset({"ruff", "bandit"})


@dataclass
class Inventory:
    """What the supervisor looks at: how many files of each extension the checkout holds."""

    files: int = 0
    extensions: Counter[str] = field(default_factory=Counter)

    @property
    def has_python(self) -> bool:
        return self.extensions[".py"] > 0 or self.extensions[".pyi"] > 0


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
        tools = [t for t in AGENT_TOOLS[agent] if found.has_python or t not in PYTHON_ONLY]
        if AGENT_TOOLS[agent] and not tools:
            reasons[agent] = "no tool of this agent applies to the repository's languages"
            continue
        plan[agent] = tools
        dropped = sorted(set(AGENT_TOOLS[agent]) - set(tools))
        reasons[agent] = f"runs {', '.join(tools) or 'the repository map'}" + (
            f" ({', '.join(dropped)} skipped: no Python files)" if dropped else ""
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


def _progress(ctx: AgentContext, agent: str, message: str, percent: float) -> None:
    ctx.emit({"type": "task.progress", "step": "agents", "agent": agent, "message": message, "percent": percent})


async def _run_tools(agent: AgentName, ctx: AgentContext, deadline: float) -> tuple[list[Finding], dict[str, Any]]:
    """The agent's analyzers at once, each in a worker thread driving its subprocess."""

    async def one(name: str) -> analyzers.ToolRun:
        _progress(ctx, agent, f"running {name}", 0)
        remaining = max(0.1, deadline - time.monotonic())
        run = await asyncio.to_thread(TOOLS[name], ctx.root, timeout_s=remaining, cancel=ctx.cancel)
        _progress(ctx, agent, f"{name}: {run.status}, {len(run.findings)} findings in {run.duration_s:.1f} s", 0)
        return run

    runs = await asyncio.gather(*(one(name) for name in ctx.tools))
    findings = [f for run in runs for f in run.findings]
    tools = {
        run.tool: {
            "version": run.version,
            "status": run.status,
            "duration_s": round(run.duration_s, 3),
            "files": run.files,
            "findings": len(run.findings),
            "error": run.error,
        }
        for run in runs
    }
    return findings, tools


def _tool_summary(agent: AgentName, findings: list[Finding], tools: dict[str, Any], reviewed: int) -> str:
    counts = Counter(f.severity for f in findings)
    by_severity = ", ".join(f"{counts[s]} {s}" for s in ("critical", "high", "medium", "low", "info") if counts[s])
    failed = [f"{name} ({info['status']})" for name, info in tools.items() if info["status"] not in ("ok", "skipped")]
    parts = [f"{len(findings)} findings" + (f" ({by_severity})" if by_severity else "")]
    parts.append(f"tools: {', '.join(tools) or 'none'}")
    if failed:
        parts.append(f"not completed: {', '.join(failed)}")
    if reviewed:
        parts.append(f"{reviewed} triaged by the model")
    return "; ".join(parts) + "."


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
    if ctx.model is not None and ctx.reviews and findings:
        _progress(ctx, agent, f"triaging the {min(ctx.reviews, len(findings))} worst findings", 0)
        reviewed = await triage(ctx.model, ctx.root, findings, ctx.reviews)
    failed = [
        f"{name}: {info['error'] or info['status']}"
        for name, info in tools.items()
        if info["status"] not in ("ok", "skipped")
    ]
    status: AgentStatus = "error" if failed else "ok"  # what the working tools found is kept either way
    return AgentResult(
        agent=agent,
        status=status,
        findings=findings,
        summary=_tool_summary(agent, findings, tools, reviewed),
        error="; ".join(failed) or None,
        duration_s=round(time.monotonic() - started, 3),
        tools=tools,
    )

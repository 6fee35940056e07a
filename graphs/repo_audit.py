"""The repo-audit graph: clone → select agents → specialist agents in parallel → aggregate.

```
START → clone → select ─┬─ agent(explorer)   ─┐
                        ├─ agent(bug_hunter) ─┼→ aggregate → END
                        └─ agent(security)   ─┘
```

- **clone**: the target is checked (https on an allowed host, or a path under an allowed root) before any git
  process starts, then cloned shallow, without submodules or hooks, bounded in size, files and time.
- **select** (the supervisor): which agents run with which analyzers, from the user's choice and what the
  checkout holds; fans out one ``Send`` per agent.
- **agent**: one specialist (explorer, bug hunter, security), bounded by its time limit; a failure or timeout
  becomes that agent's result (status error/timeout), never the run's.
- **aggregate**: merges and deduplicates findings across agents, ranks them, writes the executive summary and
  the report (status ``partial`` when an agent failed or left files unanalyzed); removes the checkout.

Every step streams ``task.*`` events (custom stream mode), the same ones ``/ws/tasks/{task_id}`` carries.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.callbacks.manager import adispatch_custom_event
from langchain_core.language_models import BaseChatModel
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from graphs.context import clients
from graphs.repo_audit_state import AgentJob, AuditContext, AuditInput, AuditOutput, AuditState
from workbench.audit.agents import AgentContext, inventory, run_agent, select_agents
from workbench.audit.clone import clone as clone_target
from workbench.audit.clone import remove_checkout
from workbench.audit.findings import count_by_severity, merge_findings, rank, summarize
from workbench.audit.git_source import scratch_for
from workbench.audit.models import AGENTS, AgentName, AgentResult, AuditReport
from workbench.audit.prompts import PROMPT_VERSION
from workbench.audit.safety import TargetError, check_agents, check_ref, check_target, check_task_id
from workbench.errors import WorkbenchError
from workbench.reported_errors import reports_errors
from workbench.resources import Resources
from workbench.runlog.callback import RUNLOG_EVENT
from workbench.settings import Settings

log = logging.getLogger(__name__)

TRIAGE_MAX_TOKENS = 160


def _emit(event: dict[str, Any]) -> None:
    get_stream_writer()(event)


def _progress(step: str, message: str, percent: float | None = None, agent: str | None = None) -> None:
    _emit({"type": "task.progress", "step": step, "agent": agent, "message": message, "percent": percent})


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _checkout_dir(task_id: str, settings: Settings) -> Path:
    """The task's checkout folder, directly under ``audit_path``: a task id that is not a UUID names none."""
    return settings.audit_path / check_task_id(task_id)


async def clone(state: AuditState, runtime: Runtime[AuditContext]) -> dict[str, Any]:
    """Check the request, then clone the target (in a worker thread; cancelling the run stops the clone)."""
    resources = clients(runtime)
    settings = resources.settings
    task_id = check_task_id(state["task_id"]) if state.get("task_id") else uuid.uuid4().hex
    target = check_target(state.get("repo") or "", settings)
    ref = check_ref(state.get("ref"))
    requested = check_agents([a for a in state.get("agents") or [] if a] or None)
    model = await asyncio.to_thread(_triage_spec, runtime.context, resources)
    fields = {"input": target.display, "prompt_version": PROMPT_VERSION} | ({"model": model} if model else {})
    await adispatch_custom_event(RUNLOG_EVENT, fields)  # the model named up front: an aborted audit names it too
    _emit({"type": "task.started", "repo": target.display, "ref": ref, "agents": requested})
    _progress("clone", f"cloning {target.display}", 2)
    dest = _checkout_dir(task_id, settings)
    stop = threading.Event()  # set when this run is cancelled: the clone thread kills git and cleans up
    try:
        checkout = await asyncio.to_thread(clone_target, target, dest, settings, ref=ref, cancel=stop)
    except asyncio.CancelledError:
        stop.set()
        raise
    _progress(
        "clone",
        f"{'cloned' if checkout.source == 'git' else 'copied'} {checkout.files} files "
        f"({checkout.bytes / 1e6:.1f} MB)"
        + (f" at {checkout.commit[:12]}" if checkout.commit else "")
        + f" in {checkout.duration_s:.1f} s",
        10,
    )
    return {
        "task_id": task_id,
        "started_at": _now(),
        "target": {"kind": target.kind, "location": target.location, "display": target.display},
        "checkout": {
            "path": str(checkout.path),
            "commit": checkout.commit,
            "ref": checkout.ref,
            "files": checkout.files,
            "bytes": checkout.bytes,
            "shallow": checkout.shallow,
            "history_depth": checkout.history_depth,
            "source": checkout.source,
            "duration_s": round(checkout.duration_s, 3),
        },
    }


async def select(state: AuditState) -> dict[str, Any]:
    """The supervisor: choose agents and their analyzers from the request and what the checkout holds."""
    root = Path(state["checkout"]["path"])
    found = await asyncio.to_thread(inventory, root)
    plan, reasons = select_agents(state.get("agents"), found)
    chosen = ", ".join(plan) or "none"
    _emit(
        {"type": "task.progress", "step": "select", "message": f"agents: {chosen}", "percent": 15, "plan": list(plan)}
    )
    for agent, reason in reasons.items():
        _progress("select", reason, None, agent)
    return {"plan": plan, "reasons": reasons}


def fan_out(state: AuditState, runtime: Runtime[AuditContext]) -> list[Send] | str:
    """One ``Send`` per chosen agent (they run in parallel); straight to aggregate when none applies."""
    settings = clients(runtime).settings
    limits = state.get("agent_timeouts") or {}
    jobs = [
        Send(
            "agent",
            AgentJob(
                agent=agent,
                tools=tools,
                root=state["checkout"]["path"],
                timeout_s=float(limits.get(agent, settings.audit_agent_timeout_s)),
            ),
        )
        for agent, tools in state.get("plan", {}).items()
    ]
    return jobs or "aggregate"


def _triage_spec(ctx: AuditContext, resources: Resources) -> str | None:
    """The concrete ``provider/model`` triage runs on (what the run's row names), or None when triage is off."""
    return resources.models.resolve(ctx.model, "triage")


def _triage_model(ctx: AuditContext, resources: Resources) -> BaseChatModel | None:
    if _triage_spec(ctx, resources) is None:
        return None
    choice = resources.models.choose(ctx.model, "triage")
    fields = type(choice.model).model_fields  # short, deterministic answers: a verdict line and a sentence or two
    knobs = {k: v for k, v in {"temperature": 0.0, "max_tokens": TRIAGE_MAX_TOKENS}.items() if k in fields}
    model = choice.model.model_copy(update=knobs)
    return model.with_fallbacks([choice.fallback]) if choice.fallback is not None else model  # type: ignore[return-value]


async def agent(job: AgentJob, runtime: Runtime[AuditContext]) -> dict[str, Any]:
    """One specialist agent, bounded by its time limit; its failure is its result, not the run's."""
    ctx, resources = runtime.context, clients(runtime)
    name: AgentName = job["agent"]  # type: ignore[assignment]
    settings = resources.settings
    writer = get_stream_writer()
    context = AgentContext(
        root=Path(job["root"]),
        tools=job["tools"],
        timeout_s=job["timeout_s"],
        emit=writer,
        model=await asyncio.to_thread(_triage_model, ctx, resources),
        reviews=settings.audit_llm_reviews if ctx.llm_reviews is None else ctx.llm_reviews,
        trace_reviews=settings.audit_trace_reviews,
        options={
            "ruff": {"extend_select": [c.strip() for c in settings.audit_ruff_extend_select.split(",") if c.strip()]}
        },
    )
    started = time.monotonic()
    writer({"type": "task.progress", "step": "agents", "agent": name, "message": "started", "percent": None})
    try:
        async with asyncio.timeout(job["timeout_s"]):
            result = await run_agent(name, context)
    except TimeoutError:
        context.cancel.set()  # kills the analyzers still running
        result = AgentResult(
            agent=name, status="timeout", error=f"timed out after {job['timeout_s']:g} s", summary="timed out"
        )
    except asyncio.CancelledError:
        context.cancel.set()
        raise
    except WorkbenchError as exc:
        context.cancel.set()
        result = AgentResult(agent=name, status="error", error=str(exc), summary="failed")
    except Exception:
        context.cancel.set()
        log.exception("audit agent %s failed", name)
        error = f"the {name} agent failed; the server log has the details"
        result = AgentResult(agent=name, status="error", error=error, summary="failed")
    result.duration_s = round(time.monotonic() - started, 3)
    failed = result.status not in ("ok", "partial")
    if failed:
        writer(
            {"type": "task.error", "level": "agent", "agent": name, "status": result.status, "message": result.error}
        )
    if not failed or result.findings:  # a failed agent's tools that worked still report
        writer(
            {
                "type": "task.agent_result",
                "agent": name,
                "status": result.status,
                "counts": count_by_severity(result.findings),
                "findings": len(result.findings),
                "summary": result.summary,
                "duration_s": result.duration_s,
            }
        )
    return {"results": [result.model_dump(mode="json")]}


async def aggregate(state: AuditState, runtime: Runtime[AuditContext]) -> dict[str, Any]:
    """Merge, deduplicate and rank the agents' findings; summarize; build the report; remove the checkout."""
    ctx = runtime.context
    _progress("aggregate", "merging findings", 90)
    results = {r["agent"]: AgentResult.model_validate(r) for r in state.get("results", [])}
    findings = rank(merge_findings(f for result in results.values() for f in result.findings))
    agents: dict[str, AgentResult] = {}
    for name in AGENTS:
        if name in results:
            agents[name] = results[name].model_copy(update={"findings": []})
        elif name in (state.get("reasons") or {}):
            agents[name] = AgentResult(agent=name, status="skipped", summary=state["reasons"][name])
    repo_map = results["explorer"].repo_map if "explorer" in results else None
    failed = [name for name, result in agents.items() if result.status in ("error", "timeout", "partial")]
    counts = count_by_severity(findings)
    report = AuditReport(
        task_id=state.get("task_id") or "",
        repo=state.get("target", {}).get("display", state.get("repo", "")),
        ref=state.get("checkout", {}).get("ref"),
        commit=state.get("checkout", {}).get("commit"),
        status="partial" if failed else "completed",
        started_at=state.get("started_at"),
        finished_at=_now(),
        agents=agents,
        findings=findings,
        counts=counts,
        summary=summarize(findings, agents, repo_map),
        repo_map=repo_map,
    )
    if not ctx.keep_checkout and state.get("checkout"):
        await asyncio.to_thread(remove_checkout, Path(state["checkout"]["path"]))
    await adispatch_custom_event(
        RUNLOG_EVENT,
        {"status_detail": report.status, "counts": counts, "findings": len(findings), "failed_agents": failed},
    )
    _emit({"type": "task.completed", "status": report.status, "counts": counts, "summary": report.summary})
    return {"report": report.model_dump(mode="json")}


def cleanup(task_id: str, settings: Settings) -> None:
    """Remove a task's checkout if a run ended before ``aggregate`` did (the task runner calls this)."""
    try:
        folder = _checkout_dir(task_id, settings)
    except TargetError:
        return  # not a UUID: no checkout of ours
    for each in (folder, scratch_for(folder)):  # the checkout and the copy of a local repository's history
        if each.exists():
            shutil.rmtree(each, ignore_errors=True)


builder = StateGraph(AuditState, context_schema=AuditContext, input_schema=AuditInput, output_schema=AuditOutput)
builder.add_node("clone", reports_errors(clone))
builder.add_node("select", reports_errors(select))
builder.add_node("agent", reports_errors(agent))  # type: ignore[arg-type]  # a Send payload, not the state
builder.add_node("aggregate", reports_errors(aggregate))
builder.add_edge(START, "clone")
builder.add_edge("clone", "select")
builder.add_conditional_edges("select", fan_out, ["agent", "aggregate"])
builder.add_edge("agent", "aggregate")
builder.add_edge("aggregate", END)

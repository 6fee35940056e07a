"""The rows an audit task leaves in the run log, and the task's public status (``GET /api/tasks/{task_id}``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from workbench.audit import store
from workbench.audit.models import AuditReport
from workbench.audit.safety import check_target
from workbench.runlog.schema import FindingRecord, Record, RepositoryRecord, TaskRecord
from workbench.runlog.writer import utcnow
from workbench.settings import Settings

TASK_FIELDS = frozenset(TaskRecord.__dataclass_fields__)
STOPPED_RUNNING = "the server stopped while this task was running; submit it again"
STOPPED_QUEUED = "the server stopped before this task started; submit it again"
CLOSING = frozenset({"task.completed", "task.error"})


def task_record(row: dict[str, Any]) -> TaskRecord:
    """A ``tasks`` row (as the store reads it) back as a record; an interrupted one as :func:`settle` leaves it
    (the process that marked it may have been any, this one's predecessor or a neighbour's recovery)."""
    record = TaskRecord(**{k: v for k, v in row.items() if k in TASK_FIELDS})
    if record.status == "interrupted":
        settle(record, STOPPED_RUNNING if record.started_at else STOPPED_QUEUED)
    return record


def settle(record: TaskRecord, why: str) -> None:
    """A task that stopped before its end (interrupted, cancelled): ``why`` as its error, and no agent left
    pending or running (pending: skipped, it never ran; running: an error, stopped with the task)."""
    record.error = why
    states: dict[str, Any] = dict(record.agent_states or {})
    for name, state in states.items():
        if state.get("status") == "pending":
            states[name] = {**state, "status": "skipped", "message": f"not run: {why}"}
        elif state.get("status") == "running":
            states[name] = {**state, "status": "error", "error": f"stopped: {why}"}
    record.agent_states = states


def stop_task(record: TaskRecord, *, server_stopping: bool) -> str:
    """Mark a task stopped before its end, by the server stopping (interrupted) or by a cancel (cancelled), and
    :func:`settle` it; returns why, which also says whether it had started."""
    started = record.started_at is not None  # set by task.started, once it had a slot and began
    if server_stopping:
        record.status, why = "interrupted", STOPPED_RUNNING if started else STOPPED_QUEUED
    else:
        record.status = "cancelled"
        why = "the task was cancelled" if started else "the task was cancelled before it started"
    settle(record, why)
    return why


def closing_event(record: TaskRecord, events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``task.error`` that ends a stopped task's logged events when its process could not write it (killed
    mid-task); ``None`` when they end with one, or the task has not ended."""
    if record.status != "interrupted" or any(e.get("type") in CLOSING and e.get("level") != "agent" for e in events):
        return None
    when = record.ended_at or record.started_at or record.created_at
    return {
        "type": "task.error",
        "task_id": record.task_id,
        "seq": max((int(e.get("seq", -1)) for e in events), default=-1) + 1,
        "timestamp": when.isoformat() if when else "",
        "level": "task",
        "message": record.error,
    }


def task_rows(record: TaskRecord, report: AuditReport | None, settings: Settings) -> list[Record]:
    """The task's row, and once it has a report, its findings and the repository's row."""
    rows: list[Record] = [record]
    if report is not None:
        rows += [
            FindingRecord(
                task_id=record.task_id,
                seq=seq,
                rule=f.rule,
                category=f.category,
                severity=f.severity,
                confidence=f.confidence,
                file=f.file,
                message=f.message,
                agent=f.agent,
                cwe=f.cwe,
                line=f.line,
                end_line=f.end_line,
                evidence=f.evidence,
                tools=f.reporting_tools,
                agents=list(f.reporting_agents),
                agreement=f.agreement,
                llm_verdict=f.llm_verdict,
                llm_note=f.llm_note,
                suggested_fix=f.suggested_fix,
                score=f.score,
            )
            for seq, f in enumerate(report.findings)
        ]
        target = check_target(record.repo, settings)
        repo_map = report.repo_map or {}
        rows.append(
            RepositoryRecord(
                repo_id=store.repo_id(target.location),
                location=target.display,
                kind=target.kind,
                last_commit=report.commit,
                last_task_id=record.task_id,
                last_audited_at=record.ended_at,
                files=repo_map.get("files"),
                lines=repo_map.get("lines"),
                languages=repo_map.get("languages"),
            )
        )
        record.repo_id = store.repo_id(target.location)
    return rows


def record_report(record: TaskRecord, report: AuditReport) -> None:
    """What a finished audit's report sets on its task row."""
    record.status, record.commit = report.status, report.commit
    record.counts = report.counts
    record.report = report.model_dump(mode="json")


def queued_task(repo: str, ref: str | None, agents: list[str]) -> TaskRecord:
    """The ``tasks`` row of a task the server's task manager has just queued, every agent pending."""
    return TaskRecord(
        task_id=uuid.uuid4().hex,
        repo=repo.strip(),
        ref=ref,
        agents=list(agents),
        status="queued",
        created_at=utcnow(),
        run_id=str(uuid.uuid4()),
        agent_states={a: {"status": "pending"} for a in agents},
    )


def finished_task(
    request: dict[str, Any], report: AuditReport, run_id: str, started_at: datetime, ended_at: datetime
) -> TaskRecord:
    """The ``tasks`` row of an audit run outside the server's task manager (the CLI, an eval, a notebook), so
    its findings are in the run log like a served task's and the Runs tab can show them."""
    record = TaskRecord(
        task_id=str(request.get("task_id") or uuid.UUID(run_id).hex),
        repo=str(request["repo"]),
        ref=request.get("ref"),
        agents=list(request.get("agents") or report.agents),
        progress=100.0,
        created_at=started_at,
        started_at=started_at,
        ended_at=ended_at,
        run_id=run_id,
        agent_states={name: {"status": result.status} for name, result in report.agents.items()},
    )
    record_report(record, report)
    return record


def public_status(record: TaskRecord) -> dict[str, Any]:
    """What ``GET /api/tasks/{task_id}`` returns."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "task_id": record.task_id,
        "repo": record.repo,
        "ref": record.ref,
        "agents": record.agents,
        "status": record.status,
        "progress": record.progress,
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "ended_at": iso(record.ended_at),
        "error": record.error,
        "run_id": record.run_id,
        "commit": record.commit,
        "agent_states": record.agent_states or {},
        "counts": record.counts,
    }

"""The repo audit's rows in the run log: its tasks, the repositories it audited, their findings and its agents' logs.

They live in the run log's file and pass through its queue, journal and writer like the runs, so
:data:`~workbench.runlog.schema.TABLES` lists them; what an audit makes of them is :mod:`workbench.audit.records`.
The ``m002_audit`` migration (:mod:`workbench.runlog.migrations`) makes their tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class TaskRecord:
    """One repo-audit task: a row of ``tasks``; logged again as it moves on (same ``task_id`` replaces)."""

    task_id: str
    repo: str
    ref: str | None = None
    agents: list[str] | None = None
    status: str = "queued"
    """queued, running, completed, partial, failed, cancelled, interrupted."""
    progress: float = 0.0
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    run_id: str | None = None
    repo_id: str | None = None
    commit: str | None = None
    agent_states: dict[str, Any] | None = None
    counts: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    """The whole :class:`~workbench.audit.models.AuditReport` as JSON, once the task ended."""
    owner: str | None = None
    """The process that runs it, ``host/pid/start_ms``; set by the writer."""


@dataclass
class RepositoryRecord:
    """A repository that was audited: a row of ``repositories``, keyed by its normalized location."""

    repo_id: str
    location: str
    kind: str
    last_commit: str | None = None
    last_task_id: str | None = None
    last_audited_at: datetime | None = None
    files: int | None = None
    lines: int | None = None
    languages: list[dict[str, Any]] | None = None


@dataclass
class FindingRecord:
    """One merged finding of a task: a row of ``findings``."""

    task_id: str
    seq: int
    rule: str
    category: str
    severity: str
    confidence: str
    file: str
    message: str
    agent: str
    cwe: int | None = None
    line: int | None = None
    end_line: int | None = None
    evidence: str | None = None
    tools: list[str] | None = None
    agents: list[str] | None = None
    agreement: int = 1
    llm_verdict: str | None = None
    llm_note: str | None = None
    suggested_fix: str | None = None
    score: float = 0.0


@dataclass
class AgentLogRecord:
    """One event of a task as it was sent to ``/ws/tasks`` watchers: a row of ``agent_logs``."""

    task_id: str
    seq: int
    type: str
    ts: datetime | None = None
    agent: str | None = None
    step: str | None = None
    message: str | None = None
    percent: float | None = None
    data: dict[str, Any] | None = None

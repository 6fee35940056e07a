"""One repo audit driven through the graph to its report, and the checks a request passes before anything runs.

:func:`run_audit` hands every ``task.*`` event to a callback as it happens; the CLI, the eval suite and the
notebooks call it directly, and the server's :class:`~workbench.tasks.manager.TaskManager` runs it per task.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphs.repo_audit_state import AuditContext, AuditInput
from workbench.audit.git_source import check_git_dir
from workbench.audit.models import AGENTS, AuditReport
from workbench.audit.records import finished_task, task_rows
from workbench.audit.safety import InvalidRequest, check_agents, check_ref, check_target
from workbench.errors import WorkbenchError
from workbench.runlog import RunLog, RunLogCallback
from workbench.runlog.writer import utcnow
from workbench.runtime import GraphRun, GraphRuntime
from workbench.settings import Settings

log = logging.getLogger(__name__)

EVENT_TYPES = ("task.started", "task.progress", "task.agent_result", "task.completed", "task.error")


def validate_request(
    repo: str, ref: str | None, agents: list[str] | None, agent_timeouts: dict[str, float] | None, settings: Settings
) -> list[str]:
    """Refuse a bad request before any task, clone or git process exists (raises TargetError/InvalidRequest);
    returns the agents it runs."""
    target = check_target(repo, settings)
    if target.kind == "path":
        check_git_dir(Path(target.location))  # a .git that links elsewhere is refused now, not when it runs
    check_ref(ref)
    chosen = check_agents(agents)
    for agent, seconds in (agent_timeouts or {}).items():
        if agent not in AGENTS or not 0 < seconds <= 3600:
            raise InvalidRequest(f"agent_timeouts: {agent!r}: {seconds!r} (agents {list(AGENTS)}, 0 < s <= 3600)")
    return chosen


async def run_audit(
    request: AuditInput,
    on_event: Callable[[dict[str, Any]], None],
    *,
    runtime: GraphRuntime,
    settings: Settings,
    context: AuditContext | None = None,
    callback: RunLogCallback | None = None,
    run_id: str | None = None,
    entry_point: str = "api",
    record_in: RunLog | None = None,
) -> AuditReport:
    """Run one audit to its report on ``runtime``, passing each ``task.*`` event to ``on_event`` as it happens.

    ``record_in``: also write the audit as a finished task (its ``tasks`` row, findings and repository) to this
    run log; the :class:`TaskManager` keeps its own record instead. ``settings`` are the audit's (a run whose
    context brings other resources, such as an eval case's, passes theirs). Raises what stops the whole audit (bad
    target, clone failure); agent failures are in the report.
    """
    started = utcnow()
    run_uuid = uuid.UUID(run_id) if run_id else uuid.uuid4()
    run = GraphRun(
        "repo_audit",
        dict(request),
        str(run_uuid),
        context=context or AuditContext(),
        metadata={"entry_point": entry_point, "task_id": request.get("task_id")},
        stream_mode=("custom", "values"),
        background=True,
        callbacks=[callback] if callback is not None else [],
    )
    report: dict[str, Any] | None = None
    async for mode, chunk in runtime.stream(run):
        if mode == "custom" and isinstance(chunk, dict) and chunk.get("type") in EVENT_TYPES:
            on_event(chunk)
        elif mode == "values" and isinstance(chunk, dict) and chunk.get("report"):
            report = chunk["report"]
    if report is None:
        raise WorkbenchError("the audit ended without a report")
    result = AuditReport.model_validate(report)
    if record_in is not None:
        record = finished_task(dict(request), result, str(run_uuid), started, utcnow())
        try:
            record_in.log_records(task_rows(record, result, settings))
        except WorkbenchError as exc:  # the report is what was asked for; a row that cannot be written is not
            log.warning("audit %s: not recorded as a task: %s", record.task_id, exc)
    return result

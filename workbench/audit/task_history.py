"""Tasks this process does not hold, read back from the run log: their status, report and logged events.

A task is served from memory while its :class:`~workbench.tasks.manager.TaskManager` keeps it; after that, and for
tasks of earlier or neighbouring processes, from the run log (flushed first, so this process's own last writes
are there). A task stopped by a killed process gets the closing ``task.error`` it could not write.
"""

from __future__ import annotations

import asyncio
from typing import Any

from workbench.audit import store
from workbench.audit.models import AuditReport
from workbench.audit.records import closing_event, public_status, task_record
from workbench.runlog import RunLog


async def logged_status(runlog: RunLog, task_id: str) -> dict[str, Any] | None:
    """The task's public status as the run log has it; ``None`` for a task it does not know."""
    row = await _logged_task(runlog, task_id)
    if row is None:
        return None
    row.pop("report", None)
    return public_status(task_record(row))


async def logged_report(runlog: RunLog, task_id: str) -> AuditReport | None:
    row = await _logged_task(runlog, task_id)
    if row is None or not row.get("report"):
        return None
    return AuditReport.model_validate(row["report"])


async def logged_recent(runlog: RunLog, limit: int) -> dict[str, dict[str, Any]]:
    """The public status of the run log's ``limit`` newest tasks, by task id, newest first."""
    await runlog.aflush()
    rows = await asyncio.to_thread(store.list_tasks, runlog.path, limit)
    return {row["task_id"]: public_status(task_record(row)) for row in rows}


async def logged_events(runlog: RunLog, task_id: str) -> list[dict[str, Any]]:
    """The task's logged events, ending with the closing one a killed process could not write."""
    await runlog.aflush()
    events = await asyncio.to_thread(store.task_events, runlog.path, task_id)
    row = await asyncio.to_thread(store.get_task, runlog.path, task_id)
    closing = closing_event(task_record(row), events) if row is not None else None
    return [*events, *([closing] if closing else [])]


async def _logged_task(runlog: RunLog, task_id: str) -> dict[str, Any] | None:
    await runlog.aflush()
    return await asyncio.to_thread(store.get_task, runlog.path, task_id)

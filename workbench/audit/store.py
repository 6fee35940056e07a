"""Reads of the audit tables in the run log (``tasks``, ``findings``, ``agent_logs``, ``repositories``).

Writes go through the run log's writer thread (:meth:`RunLog.log_records`); reads open a short-lived connection.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from workbench.runlog.queries import _rows, _select_list
from workbench.runlog.schema import TABLES, AgentLogRecord, TaskRecord, connect

TASK_COLUMNS = TABLES[TaskRecord].columns
LOG_COLUMNS = TABLES[AgentLogRecord].columns
ACTIVE = ("queued", "running")


def repo_id(location: str) -> str:
    """A stable key for a repository: its normalized URL or resolved path."""
    return hashlib.sha1(location.encode()).hexdigest()[:16]


def _select(columns: tuple[str, ...]) -> str:
    return _select_list(tuple(f'"{c}"' if c == "commit" else c for c in columns))  # COMMIT is a keyword


def get_task(path: Path, task_id: str) -> dict[str, Any] | None:
    with connect(path) as con:
        rows = _rows(con, f"SELECT {_select(TASK_COLUMNS)} FROM tasks WHERE task_id = ?", [task_id])
    return rows[0] if rows else None


def list_tasks(path: Path, limit: int = 20) -> list[dict[str, Any]]:
    columns = tuple(c for c in TASK_COLUMNS if c != "report")
    with connect(path) as con:
        return _rows(con, f"SELECT {_select(columns)} FROM tasks ORDER BY created_at DESC LIMIT ?", [limit])


def task_events(path: Path, task_id: str) -> list[dict[str, Any]]:
    with connect(path) as con:
        rows = _rows(con, f"SELECT {_select(LOG_COLUMNS)} FROM agent_logs WHERE task_id = ? ORDER BY seq", [task_id])
    return [row["data"] for row in rows if isinstance(row.get("data"), dict)]


def report_of_run(path: Path, run_id: str) -> dict[str, Any] | None:
    """The report of the task a ``repo_audit`` run served (the run's own output is truncated text)."""
    with connect(path) as con:
        rows = _rows(con, "SELECT report FROM tasks WHERE run_id = ? AND report IS NOT NULL", [run_id])
    return rows[0]["report"] if rows else None

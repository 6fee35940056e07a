"""The stores of the in-process runtime as an operator sees them: which failure is which, and what to do about it.

Session checkpoints (``checkpoints.sqlite`` or the Postgres database of ``WORKBENCH_CHECKPOINTER_URL``) hold the
conversations: a failure to read or write them fails the turn with
:class:`~workbench.errors.StorageUnavailable`, whose message names the store and what to do, and a damaged
checkpoint file is never deleted. Session leases (``sessions.sqlite``) hold only the turns running now: a damaged
lease file is moved aside and made again.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from workbench.errors import StorageUnavailable
from workbench.runlog.schema import writable
from workbench.storage_errors import is_damaged

log = logging.getLogger(__name__)


def home_problem(home: Path) -> str | None:
    """Why the server cannot keep its data in ``home`` (None when it can)."""
    if home.exists() and not home.is_dir():
        return "WORKBENCH_HOME is a file, not a folder; point it at a folder"
    if not writable(home):
        return (
            "the home folder (WORKBENCH_HOME) is not writable: the server keeps its sessions, run log and index "
            "there; make it writable or point WORKBENCH_HOME at a writable folder (workbench runs still reads it)"
        )
    return None


def sqlite_problem(path: Path) -> str | None:
    """``PRAGMA quick_check`` of an existing SQLite file: None when it is sound (or absent), else SQLite's reason."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if is_damaged(exc):
            return str(exc)
        return None  # busy or unreadable for another reason: the turns report what they meet
    except sqlite3.DatabaseError as exc:
        return str(exc)
    verdict = "; ".join(str(row[0]) for row in rows[:3])
    return None if verdict == "ok" else verdict


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its WAL and shared-memory files) to ``<name>.damaged-<UTC time>``; the new name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.rename(target.with_name(target.name + suffix))
    return target


def checkpoints_unavailable(store: str, exc: BaseException | None) -> StorageUnavailable:
    """The error a turn ends with when the session checkpoints of ``store`` ("sqlite", "postgres") fail."""
    if store == "postgres":
        return StorageUnavailable(
            "the Postgres database that keeps the sessions (WORKBENCH_CHECKPOINTER_URL) does not answer, so this turn "
            "could not be saved and is not part of the session; ask again once the database is back (the operator "
            "should check it is running and reachable)"
        )
    if exc is not None and is_damaged(exc):
        return StorageUnavailable(DAMAGED_CHECKPOINTS)
    return StorageUnavailable(
        "the session checkpoints (checkpoints.sqlite in the server's home folder) cannot be written, so this turn "
        "could not be saved and is not part of the session; the operator should free disk space or make the home "
        "folder writable"
    )


DAMAGED_CHECKPOINTS = (
    "the session checkpoint file (checkpoints.sqlite in the server's home folder) is damaged, so sessions cannot be "
    "read or saved; the operator should stop the server and restore the file from a backup, or move it aside to "
    "start with no sessions"
)


def leases_unavailable(store: str) -> StorageUnavailable:
    """The error a turn ends with when the session leases of ``store`` cannot be taken."""
    if store == "postgres":
        return StorageUnavailable(
            "the Postgres database that keeps the sessions (WORKBENCH_CHECKPOINTER_URL) does not answer, so the turn "
            "could not start; ask again once the database is back (the operator should check it is running)"
        )
    return StorageUnavailable(
        "the session lease file (sessions.sqlite in the server's home folder) cannot be written, so the turn could "
        "not start; the operator should free disk space or make the home folder writable"
    )

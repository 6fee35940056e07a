"""What a stopped process left behind: its journal replayed into DuckDB, then its unfinished runs and tasks
marked ``interrupted``. Rows of live processes (this one, another server or ``langgraph dev`` on the same home)
are never touched.

The writer thread runs :func:`recover` when a process starts and then every few seconds, so a process that
keeps running also cleans up after one that was killed beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from workbench.runlog.batches import Pending, describe, write_batch
from workbench.runlog.journal import Journal, gone_owners
from workbench.runlog.owner import Owner
from workbench.runlog.schema import RunLogUnavailable, connect

logger = logging.getLogger(__name__)

INTERRUPTED_RUN = "the process running it stopped before it finished (crash, kill or power loss); run it again"
INTERRUPTED_TASK = "the server stopped while this task was running; start it again"
ACTIVE_TASK = ("queued", "running")


@dataclass
class Recovery:
    """What one recovery did."""

    owners: list[str] = field(default_factory=list)
    """The stopped processes whose rows were settled."""
    replayed: int = 0
    """Journal entries of those processes written to DuckDB."""
    runs: list[str] = field(default_factory=list)
    """Runs marked interrupted."""
    tasks: list[str] = field(default_factory=list)
    """Audit tasks marked interrupted."""

    def __bool__(self) -> bool:
        return bool(self.owners or self.replayed or self.runs or self.tasks)


def _unfinished_owners(con: duckdb.DuckDBPyConnection) -> tuple[set[str | None], bool]:
    rows = con.execute(
        "SELECT DISTINCT owner FROM runs WHERE status = 'running' "
        "UNION SELECT DISTINCT owner FROM tasks WHERE status IN ('queued', 'running')"
    ).fetchall()
    owners = {owner for (owner,) in rows}
    return owners, None in owners


def recover(
    path: str | Path,
    journal: Journal | None,
    me: Owner,
    *,
    stale_after: float = 30.0,
    lock_timeout: float = 5.0,
) -> Recovery:
    """Settle the rows of every stopped process (never ``me``); one DuckDB transaction."""
    heartbeats = journal.heartbeats() if journal is not None else {}
    journaled = journal.owners() if journal is not None else set()
    result = Recovery()
    try:
        return _settle(path, journal, me, journaled, heartbeats, stale_after, lock_timeout, result)
    except RunLogUnavailable:  # connect() told the operator, once; the journal keeps it all for the next check
        return result


def _settle(
    path: str | Path,
    journal: Journal | None,
    me: Owner,
    journaled: set[str],
    heartbeats: dict[str, float],
    stale_after: float,
    lock_timeout: float,
    result: Recovery,
) -> Recovery:
    with connect(path, lock_timeout=lock_timeout) as con:
        unfinished, legacy = _unfinished_owners(con)
        stopped = gone_owners((unfinished | journaled) - {me.id}, heartbeats, stale_after)
        if not stopped and not legacy:
            return result
        replayed: dict[str, int] = {}
        con.begin()
        try:
            for owner in sorted(stopped):
                last = _replay(con, journal, owner, result) if journal is not None and owner in journaled else 0
                replayed[owner] = last
            result.runs, result.tasks = _interrupt(con, sorted(stopped), legacy)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    if journal is not None:
        for owner, last in replayed.items():
            if last:
                journal.delete(owner, 0, last)
            journal.unregister(owner)
    result.owners = sorted(stopped)
    if result.replayed or result.runs or result.tasks:  # a clean stop that left nothing behind is not news
        logger.warning(
            "run log: %d stopped process(es); replayed %d journal entries, marked %d run(s) and %d task(s) interrupted",
            len(result.owners),
            result.replayed,
            len(result.runs),
            len(result.tasks),
        )
    return result


def _replay(con: duckdb.DuckDBPyConnection, journal: Journal, owner: str, result: Recovery) -> int:
    """Write ``owner``'s journal into DuckDB (later entries win); the last entry id written."""
    last = 0
    while entries := journal.entries(owner, after=last):
        pending = Pending()
        pending.add(record for _, record in entries)
        batch = pending.take()
        write_batch(con, batch, replay=True)
        last = entries[-1][0]
        result.replayed += len(entries)
        logger.info("run log: replayed %s of stopped process %s", describe(batch), owner)
    return last


def _interrupt(con: duckdb.DuckDBPyConnection, owners: list[str], legacy: bool) -> tuple[list[str], list[str]]:
    """Mark the unfinished runs (and their open events) and tasks of ``owners`` interrupted."""
    marks = ", ".join("?" for _ in owners) or "NULL"
    who = f"(owner IN ({marks}){' OR owner IS NULL' if legacy else ''})"
    runs = con.execute(
        f"""
        UPDATE runs SET status = 'interrupted', error = ?,
            ended_at = coalesce(
                greatest(
                    (SELECT max(coalesce(e.ended_at, e.started_at)) FROM events e WHERE e.run_id = runs.run_id),
                    (SELECT max(s.ended_at) FROM spans s WHERE s.run_id = runs.run_id)),
                started_at)
        WHERE status = 'running' AND {who}
        RETURNING run_id
        """,
        [INTERRUPTED_RUN, *owners],
    ).fetchall()
    run_ids = [run_id for (run_id,) in runs]
    if run_ids:
        con.execute(
            "UPDATE events SET status = 'interrupted' WHERE status = 'running' AND run_id IN (SELECT unnest(?))",
            [run_ids],
        )
    tasks = con.execute(
        f"""
        UPDATE tasks SET status = 'interrupted', error = ?, ended_at = now()
        WHERE status IN ('queued', 'running') AND {who}
        RETURNING task_id
        """,
        [INTERRUPTED_TASK, *owners],
    ).fetchall()
    return run_ids, [task_id for (task_id,) in tasks]

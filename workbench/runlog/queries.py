"""Read queries over the run log: recent runs, one run with its events, a Parquet export.

Each call opens a short-lived connection (waiting while another process writes) and closes it, so readers
never keep the file from the writers. They read what is on disk: call ``RunLog.flush()`` first to include
records still queued in this process. ``read_only=True`` reads a log this process may not write (a read-only home):
nothing is created or migrated, and a log that does not exist yet holds no runs. A file that cannot be read raises
:class:`~workbench.runlog.schema.RunLogUnavailable` (a :class:`~workbench.errors.StorageUnavailable`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from workbench.runlog.schema import EVENT_COLUMNS, JSON_COLUMNS, RUN_COLUMNS, TIMESTAMP_COLUMNS, connect


class _HasPath(Protocol):
    path: Path


Source = str | Path | _HasPath
"""A run-log file path, or anything with a ``path`` (a :class:`~workbench.runlog.writer.RunLog`)."""
_TIMESTAMPS = TIMESTAMP_COLUMNS


def _path(source: Source) -> Path:
    return Path(source) if isinstance(source, str | Path) else Path(source.path)


def _select_list(columns: tuple[str, ...]) -> str:
    # TIMESTAMPTZ read as UTC wall time: fetching TIMESTAMPTZ values needs pytz, reading Arrow imports pandas
    return ", ".join(f"{c}::TIMESTAMP AS {c}" if c in _TIMESTAMPS else c for c in columns)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or ()]
    rows = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        for name in _TIMESTAMPS.intersection(row):
            if row[name] is not None:
                row[name] = row[name].replace(tzinfo=UTC)
        for name in JSON_COLUMNS.intersection(row):
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        rows.append(row)
    return rows


RUNS = f"SELECT {_select_list(RUN_COLUMNS)} FROM runs"
EVENTS = f"SELECT {_select_list(EVENT_COLUMNS)} FROM events"


def recent_runs(
    source: Source,
    limit: int = 20,
    *,
    graph: str | None = None,
    status: str | None = None,
    session_id: str | None = None,
    model: str | None = None,
    entry_point: str | None = None,
    since: datetime | None = None,
    read_only: bool = False,
) -> list[dict[str, Any]]:
    """The newest runs first, optionally filtered (``model`` by substring, case-insensitive: ``openai`` finds
    ``openai/gpt-4o-mini``); JSON columns decoded, timestamps timezone-aware (UTC)."""
    filters = {"graph": graph, "status": status, "session_id": session_id, "entry_point": entry_point}
    clauses = [f"{name} = ?" for name, value in filters.items() if value is not None]
    params: list[Any] = [value for value in filters.values() if value is not None]
    if model:
        clauses.append("model ILIKE ?")
        params.append(f"%{model.replace('%', '').replace('_', '')}%")
    if since is not None:
        clauses.append("started_at >= ?")
        params.append(since)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    path = _path(source)
    if read_only and not path.exists():
        return []
    with connect(path, read_only=read_only) as con:
        return _rows(con, f"{RUNS} {where} ORDER BY started_at DESC NULLS LAST, run_id LIMIT ?", params)


def get_run(source: Source, run_id: str, *, read_only: bool = False) -> dict[str, Any] | None:
    """One run as a dict with its ``events`` (ordered by ``seq``), or None when there is no such run."""
    path = _path(source)
    if read_only and not path.exists():
        return None
    with connect(path, read_only=read_only) as con:
        runs = _rows(con, f"{RUNS} WHERE run_id = ?", [run_id])
        if not runs:
            return None
        runs[0]["events"] = _rows(con, f"{EVENTS} WHERE run_id = ? ORDER BY seq", [run_id])
    return runs[0]


def count_runs(source: Source) -> int:
    """How many runs the log holds."""
    with connect(_path(source)) as con:
        row = con.execute("SELECT count(*) FROM runs").fetchone()
    return int(row[0]) if row else 0


def export_parquet(source: Source, dest_dir: str | Path) -> dict[str, Path]:
    """Write ``runs.parquet`` and ``events.parquet`` into ``dest_dir``; return their paths by table name."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with connect(_path(source)) as con:
        for table, order in (("runs", "started_at, run_id"), ("events", "run_id, seq")):
            target = (dest / f"{table}.parquet").resolve()
            literal = str(target).replace("'", "''")
            con.execute(f"COPY (SELECT * FROM {table} ORDER BY {order}) TO '{literal}' (FORMAT parquet)")
            written[table] = target
    return written

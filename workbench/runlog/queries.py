"""Read queries over the run log: recent runs, one run with its events, a Parquet export.

Each call opens a short-lived connection (waiting while another process writes) and closes it, so readers
never keep the file from the writers. They read what is on disk: call ``RunLog.flush()`` first to include
records still queued in this process.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from workbench.runlog.schema import JSON_COLUMNS, connect


class _HasPath(Protocol):
    path: Path


Source = str | Path | _HasPath
"""A run-log file path, or anything with a ``path`` (a :class:`~workbench.runlog.writer.RunLog`)."""


def _path(source: Source) -> Path:
    path = Path(source) if isinstance(source, str | Path) else Path(source.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for name in JSON_COLUMNS.intersection(row):
        if isinstance(row[name], str):
            row[name] = json.loads(row[name])
    return row


def _select(source: Source, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with connect(_path(source)) as con:
        rows = con.sql(sql, params=params).to_arrow_table().to_pylist()
    return [_decode(row) for row in rows]


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
) -> list[dict[str, Any]]:
    """The newest runs first, optionally filtered; JSON columns decoded, timestamps timezone-aware (UTC)."""
    filters = {"graph": graph, "status": status, "session_id": session_id, "model": model, "entry_point": entry_point}
    clauses = [f"{name} = ?" for name, value in filters.items() if value is not None]
    params: list[Any] = [value for value in filters.values() if value is not None]
    if since is not None:
        clauses.append("started_at >= ?")
        params.append(since)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    sql = f"SELECT * FROM runs {where} ORDER BY started_at DESC NULLS LAST, run_id LIMIT ?"
    return _select(source, sql, params)


def get_run(source: Source, run_id: str) -> dict[str, Any] | None:
    """One run as a dict with its ``events`` (ordered by ``seq``), or None when there is no such run."""
    with connect(_path(source)) as con:
        runs = con.sql("SELECT * FROM runs WHERE run_id = ?", params=[run_id]).to_arrow_table().to_pylist()
        if not runs:
            return None
        events = con.sql("SELECT * FROM events WHERE run_id = ? ORDER BY seq", params=[run_id]).to_arrow_table()
    run = _decode(runs[0])
    run["events"] = [_decode(event) for event in events.to_pylist()]
    return run


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
        for table in ("runs", "events"):
            target = (dest / f"{table}.parquet").resolve()
            literal = str(target).replace("'", "''")
            con.execute(f"COPY (SELECT * FROM {table} ORDER BY started_at) TO '{literal}' (FORMAT parquet)")
            written[table] = target
    return written

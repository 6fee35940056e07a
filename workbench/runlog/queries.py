"""Read queries over the run log: recent runs, one run with its events, a Parquet export.

Each call opens a short-lived connection (waiting while another process writes) and closes it, so readers
never keep the file from the writers. They read what is on disk: call ``RunLog.flush()`` first to include
records still queued in this process. ``read_only=True`` reads a log this process may not write (a read-only home):
nothing is created or migrated, and a log that does not exist yet holds no runs. A file that cannot be read raises
:class:`~workbench.runlog.schema.RunLogUnavailable` (a :class:`~workbench.errors.StorageUnavailable`).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from workbench.runlog.schema import (
    EVENT_COLUMNS,
    JSON_COLUMNS,
    RUN_COLUMNS,
    SPAN_COLUMNS,
    TIMESTAMP_COLUMNS,
    connect,
)
from workbench.runlog.trace import ROLLUP_KINDS


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
SPANS = f"SELECT {_select_list(SPAN_COLUMNS)} FROM spans"
_ROLLUP_SUMS = ", ".join(
    f"sum(duration_ms) FILTER (WHERE kind = '{kind}') AS {name}" for kind, name in ROLLUP_KINDS.items()
)
ROLLUPS = f"SELECT run_id, {_ROLLUP_SUMS}, count(*) AS spans FROM spans GROUP BY run_id"
"""Per run: the time its LLM calls, retrievals, speech steps and tools took, and how many spans it has."""
ROLLUP_COLUMNS = (*ROLLUP_KINDS.values(), "spans")


def _runs_with(rollups: str) -> str:
    """Every run's row with its roll-ups (``rollups``: a select list of :data:`ROLLUP_COLUMNS`, ``r.`` from the
    joined :data:`ROLLUPS`, or NULLs) and its duration, as a subquery to filter and sort on, left open after its
    FROM clause for the caller to join and close."""
    return (
        f"SELECT * FROM (SELECT {_select_list(RUN_COLUMNS)}, {rollups},"
        " date_diff('microsecond', runs.started_at, runs.ended_at) / 1000.0 AS duration_ms FROM runs"
    )


RUNS_WITH_ROLLUPS = f"{_runs_with(', '.join(f'r.{c}' for c in ROLLUP_COLUMNS))} LEFT JOIN ({ROLLUPS}) r USING (run_id))"
RUNS_WITHOUT_SPANS = f"{_runs_with(', '.join(f'NULL AS {c}' for c in ROLLUP_COLUMNS))})"
"""The run list of a log whose ``spans`` table does not exist yet (read read-only): no roll-ups."""
SORTABLE = frozenset({"started_at", "ttft_ms", "tokens_in", "tokens_out", "duration_ms", *ROLLUP_COLUMNS})
"""What the run list can be sorted by (newest, or most first)."""
_EVENT_KINDS = {"node": "node", "llm": "llm", "tool": "tool", "retrieval": "retriever", "gateway": "gateway"}


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
    sort: str = "started_at",
    min_ms: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """The newest runs first, optionally filtered (``model`` by substring, case-insensitive: ``openai`` finds
    ``openai/gpt-4o-mini``); JSON columns decoded, timestamps timezone-aware (UTC). Each row carries its roll-ups
    (``llm_ms``, ``retrieval_ms``, ``speech_ms``, ``tool_ms``, ``spans``, and ``duration_ms``); ``sort`` orders by
    one of :data:`SORTABLE` (largest first) and ``min_ms`` keeps runs whose roll-up is at least the given value
    (e.g. ``{"llm_ms": 1000}``)."""
    if sort not in SORTABLE:
        raise ValueError(f"runs can be sorted by {', '.join(sorted(SORTABLE))}, not {sort!r}")
    filters = {"graph": graph, "status": status, "session_id": session_id, "entry_point": entry_point}
    clauses = [f"{name} = ?" for name, value in filters.items() if value is not None]
    params: list[Any] = [value for value in filters.values() if value is not None]
    if model:
        clauses.append("model ILIKE ?")
        params.append(f"%{model.replace('%', '').replace('_', '')}%")
    if since is not None:
        clauses.append("started_at >= ?")
        params.append(since)
    for name, least in (min_ms or {}).items():
        if name not in SORTABLE or name == "started_at":
            raise ValueError(f"runs can be filtered by {', '.join(sorted(SORTABLE - {'started_at'}))}, not {name!r}")
        clauses.append(f"{name} >= ?")
        params.append(float(least))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    path = _path(source)
    if read_only and not path.exists():
        return []
    order = "started_at DESC NULLS LAST" if sort == "started_at" else f"{sort} DESC NULLS LAST, started_at DESC"
    with connect(path, read_only=read_only) as con:
        runs = RUNS_WITH_ROLLUPS if _has_spans(con) else RUNS_WITHOUT_SPANS
        return _rows(con, f"{runs} {where} ORDER BY {order}, run_id LIMIT ?", params)


def _has_spans(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the log has its ``spans`` table (a log of an older version, read read-only, may not)."""
    found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'spans'").fetchone()
    return bool(found and found[0])


def _spans(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    if not _has_spans(con):
        return []
    return _rows(con, f"{SPANS} WHERE run_id = ? ORDER BY started_at, span_id", [run_id])


def _run_with_steps(
    source: Source, run_id: str, read_only: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None:
    """A run's row, its spans (by start) and its ``events`` rows (by ``seq``), or None when there is no such run."""
    path = _path(source)
    if read_only and not path.exists():
        return None
    with connect(path, read_only=read_only) as con:
        runs = _rows(con, f"{RUNS} WHERE run_id = ?", [run_id])
        if not runs:
            return None
        return runs[0], _spans(con, run_id), _rows(con, f"{EVENTS} WHERE run_id = ? ORDER BY seq", [run_id])


def get_run(source: Source, run_id: str, *, read_only: bool = False) -> dict[str, Any] | None:
    """One run as a dict with its ``spans`` and its ``events`` (the node timeline: the ``events`` rows of a run
    logged before runs had spans, else made from its spans), or None when there is no such run."""
    found = _run_with_steps(source, run_id, read_only)
    if found is None:
        return None
    run, spans, events = found
    run["spans"] = spans
    run["events"] = events or events_of(spans)
    return run


def events_of(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's node timeline from its spans: its nodes, LLM and tool calls, retrievals and gateway steps in the
    order they started, in the shape of the ``events`` rows that runs logged before they had spans."""
    events: list[dict[str, Any]] = []
    for span in spans:
        kind = _EVENT_KINDS.get(str(span.get("kind")))
        if kind is None:
            continue
        attributes = span.get("attributes") or {}
        node = attributes.get("gen_ai.tool.name") if kind == "tool" else attributes.get("workbench.node")
        detail = {name: attributes[key] for key, name in _EVENT_DETAIL.items() if key in attributes}
        if kind == "llm" and "model" in detail and attributes.get("gen_ai.provider.name"):
            detail["model"] = f"{attributes['gen_ai.provider.name']}/{detail['model']}"
        if span.get("error"):
            detail["error"] = span["error"]
        events.append(
            {
                "run_id": span["run_id"],
                "seq": len(events),
                "node": node or span["name"],
                "kind": kind,
                "started_at": span.get("started_at"),
                "ended_at": span.get("ended_at"),
                "duration_ms": span.get("duration_ms"),
                "status": span.get("status"),
                "detail": detail or None,
            }
        )
    return events


_EVENT_DETAIL = {
    "workbench.step": "step",
    "gen_ai.request.model": "model",
    "gen_ai.usage.input_tokens": "tokens_in",
    "gen_ai.usage.output_tokens": "tokens_out",
}


def get_trace(source: Source, run_id: str, *, read_only: bool = False) -> dict[str, Any] | None:
    """One run's row and its spans (ordered by start), or None when there is no such run. A run whose own span was
    never written (cut off by a crash, or logged before runs had traces) gets one made from its row
    (:func:`own_span`)."""
    found = _run_with_steps(source, run_id, read_only)
    if found is None:
        return None
    run, spans, _ = found
    if not any(span["kind"] == "run" for span in spans):
        with contextlib.suppress(ValueError):  # a run id that is not a UUID has no span id to stand in for
            spans.insert(0, own_span(run))
    return {"run": run, "spans": spans}


def own_span(run: dict[str, Any]) -> dict[str, Any]:
    """The span of a run that was cut off before its own span ended (its process was killed), made from its row:
    the id its spans name as their parent, its times and status."""
    from workbench.runlog.otel import root_span_id_of, trace_id_of

    started, ended = run.get("started_at"), run.get("ended_at")
    return {
        "run_id": run["run_id"],
        "span_id": f"{root_span_id_of(run['run_id']):016x}",
        "trace_id": f"{trace_id_of(run['run_id']):032x}",
        "parent_id": None,
        "name": run.get("graph"),
        "kind": "run",
        "started_at": started,
        "ended_at": ended,
        "duration_ms": (ended - started).total_seconds() * 1000 if started and ended else None,
        "status": run.get("status"),
        "error": run.get("error"),
        "attributes": {"workbench.from_row": True},
    }


def matching_run_ids(source: Source, prefix: str, *, limit: int = 3) -> list[str]:
    """The ids of up to ``limit`` runs whose id starts with ``prefix`` (read-only)."""
    with connect(_path(source), read_only=True) as con:
        rows = con.execute(
            "SELECT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT ?", [prefix, limit]
        ).fetchall()
    return [run_id for (run_id,) in rows]


def count_runs(source: Source) -> int:
    """How many runs the log holds."""
    with connect(_path(source)) as con:
        row = con.execute("SELECT count(*) FROM runs").fetchone()
    return int(row[0]) if row else 0


def export_parquet(source: Source, dest_dir: str | Path) -> dict[str, Path]:
    """Write ``runs.parquet``, ``events.parquet`` and ``spans.parquet`` into ``dest_dir``; return their paths by
    table name."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with connect(_path(source)) as con:
        for table, order in (
            ("runs", "started_at, run_id"),
            ("events", "run_id, seq"),
            ("spans", "run_id, started_at"),
        ):
            target = (dest / f"{table}.parquet").resolve()
            literal = str(target).replace("'", "''")
            con.execute(f"COPY (SELECT * FROM {table} ORDER BY {order}) TO '{literal}' (FORMAT parquet)")
            written[table] = target
    return written

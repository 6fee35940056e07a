"""The run-log writer: callers enqueue records; one background thread writes them to DuckDB in Arrow batches.

``log_run`` and ``log_events`` only put on a queue (a few microseconds, never blocking, never raising).
The writer thread waits until 500 rows are pending or 200 ms have passed since the first one, takes
everything already queued (up to ``max_batch`` rows), and writes it in one transaction through a
connection it opens for that batch only, so another process can use the same file between batches.
"""

from __future__ import annotations

import array
import atexit
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from workbench.runlog import queries
from workbench.runlog.schema import JSON_COLUMNS, TABLES, EventRecord, Record, RunRecord, connect

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FIXED: dict[str, tuple[str, pa.DataType]] = {  # column -> (array typecode, Arrow type)
    "started_at": ("q", pa.timestamp("us", tz="UTC")),
    "ended_at": ("q", pa.timestamp("us", tz="UTC")),
    "ttft_ms": ("d", pa.float64()),
    "duration_ms": ("d", pa.float64()),
    "tokens_in": ("i", pa.int32()),
    "tokens_out": ("i", pa.int32()),
    "seq": ("i", pa.int32()),
    "created_at": ("q", pa.timestamp("us", tz="UTC")),
    "last_audited_at": ("q", pa.timestamp("us", tz="UTC")),
    "ts": ("q", pa.timestamp("us", tz="UTC")),
    "progress": ("d", pa.float64()),
    "percent": ("d", pa.float64()),
    "score": ("d", pa.float64()),
    "cwe": ("i", pa.int32()),
    "line": ("i", pa.int32()),
    "end_line": ("i", pa.int32()),
    "agreement": ("i", pa.int32()),
    "files": ("q", pa.int64()),
    "lines": ("q", pa.int64()),
}


_to_json = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _validity(values: list[Any]) -> pa.Buffer | None:
    if None not in values:
        return None
    bits = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value is not None:
            bits[i >> 3] |= 1 << (i & 7)
    return pa.py_buffer(bits)


def _micros(value: datetime) -> int:
    return ((value if value.tzinfo else value.replace(tzinfo=UTC)) - _EPOCH) // _MICROSECOND


def _column(name: str, values: list[Any]) -> pa.Array:
    """One Arrow column, built from buffers: ``pa.array`` would import pandas (about 1 s) on first use."""
    if name in _FIXED:
        typecode, arrow_type = _FIXED[name]
        if pa.types.is_timestamp(arrow_type):
            values = [None if v is None else _micros(v) for v in values]
        data = array.array(typecode, [0 if v is None else v for v in values])
        return pa.Array.from_buffers(arrow_type, len(values), [_validity(values), pa.py_buffer(data)])
    if name in JSON_COLUMNS:
        values = [None if v is None else _to_json(v) for v in values]
    encoded = [b"" if v is None else str(v).encode(errors="replace") for v in values]
    offsets = array.array("q", [0])
    offsets.extend(itertools.accumulate(map(len, encoded)))
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.large_string(), len(values), [_validity(values), pa.py_buffer(offsets), data])


def to_arrow(records: Sequence[Record], columns: tuple[str, ...]) -> pa.Table:
    """A column-wise Arrow table of ``records`` (JSON columns serialized, naive timestamps taken as UTC)."""
    return pa.table({name: _column(name, [getattr(r, name) for r in records]) for name in columns})


def _insert(con: Any, table: str, columns: tuple[str, ...], data: pa.Table) -> None:
    cols = ", ".join(f'"{c}"' for c in columns)
    con.register("_runlog_batch", data)
    try:
        con.execute(f"INSERT OR REPLACE INTO {table} ({cols}) SELECT {cols} FROM _runlog_batch")
    finally:
        con.unregister("_runlog_batch")


class _Stop:
    """Queue sentinel: write what is pending, then end the thread."""


_STOP = _Stop()
_Item = Record | list[Record] | threading.Event | _Stop


class RunLog:
    """A DuckDB run log at ``path`` fed through a queue by any thread; one writer thread per instance."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        max_batch: int = 50_000,
        lock_timeout: float = 5.0,
        max_attempts: int = 3,
    ) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_batch = max_batch
        self.lock_timeout = lock_timeout
        self.max_attempts = max_attempts
        self.batches_written = 0
        self.rows_dropped = 0
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"runlog-writer:{self.path.name}", daemon=True)
        self._thread.start()

    # -- callers' side -------------------------------------------------------------------------------------

    def log_run(self, record: RunRecord) -> None:
        """Enqueue ``record`` (insert, or replace the row with the same ``run_id``). Never blocks or raises."""
        self._put(record)

    def log_events(self, events: Iterable[EventRecord]) -> None:
        """Enqueue ``events`` (replacing rows with the same ``(run_id, seq)``). Never blocks or raises."""
        self.log_records(events)

    def log_records(self, records: Iterable[Record]) -> None:
        """Enqueue rows of any run-log table (each replaces the row with its key). Never blocks or raises."""
        batch = list(records)
        if batch:
            self._put(batch)

    def _put(self, item: _Item) -> None:
        if self._closed:
            logger.warning("run log %s is closed; dropping %r", self.path, type(item).__name__)
            return
        self._queue.put(item)

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything enqueued before this call is written; False if ``timeout`` passed first."""
        if self._closed or not self._thread.is_alive():
            return self._queue.empty()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the writer thread. Safe to call twice; later log calls are dropped."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("run log writer for %s did not finish within %.0f s", self.path, timeout)

    # -- reads (see workbench.runlog.queries); each flushes this process's queue first -----------------------

    def recent_runs(self, limit: int = 20, **filters: Any) -> list[dict[str, Any]]:
        """Newest runs first; ``filters``: graph, status, session_id, model, entry_point, since."""
        self.flush(timeout=self.lock_timeout)
        return queries.recent_runs(self.path, limit, **filters)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run with its ``events``, or None."""
        self.flush(timeout=self.lock_timeout)
        return queries.get_run(self.path, run_id)

    def export_parquet(self, dest_dir: str | Path) -> dict[str, Path]:
        """``runs.parquet`` and ``events.parquet`` in ``dest_dir``."""
        self.flush(timeout=self.lock_timeout)
        return queries.export_parquet(self.path, dest_dir)

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writer thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        pending: dict[type, dict[tuple[Any, ...], Record]] = {kind: {} for kind in TABLES}
        count = 0
        first_at = 0.0
        stop = False
        while not stop:
            wait = None if not count else max(0.0, first_at + self.flush_interval - time.monotonic())
            try:
                item: _Item | None = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            markers: list[threading.Event] = []
            while item is not None:
                if isinstance(item, _Stop):
                    stop = True
                elif isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    if not count:
                        first_at = time.monotonic()
                    for record in item if isinstance(item, list) else [item]:
                        try:
                            table = TABLES[type(record)]
                            rows = pending[type(record)]
                            key = tuple(getattr(record, name) for name in table.key)
                            count += key not in rows
                            rows[key] = record
                        except Exception:
                            logger.exception("run log: skipping a malformed record %r", record)
                if count >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            due = markers or stop or count >= self.batch_size or time.monotonic() - first_at >= self.flush_interval
            if count and due:
                self._write({kind: list(rows.values()) for kind, rows in pending.items() if rows})
                for rows in pending.values():
                    rows.clear()
                count = 0
            for marker in markers:
                marker.set()

    def _write(self, batch: dict[type, list[Record]]) -> None:
        """Write one batch in one transaction; retry a few times, then log and drop it. Never raises."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                tables = [(TABLES[kind], to_arrow(records, TABLES[kind].columns)) for kind, records in batch.items()]
                with connect(self.path, lock_timeout=self.lock_timeout) as con:
                    con.begin()
                    for table, data in tables:
                        _insert(con, table.name, table.columns, data)
                    con.commit()
                self.batches_written += 1
                return
            except Exception:
                logger.warning(
                    "run log write to %s failed (attempt %d/%d)", self.path, attempt, self.max_attempts, exc_info=True
                )
                time.sleep(0.05 * attempt)
        self.rows_dropped += sum(map(len, batch.values()))
        sizes = ", ".join(f"{len(records)} {TABLES[kind].name}" for kind, records in batch.items())
        logger.error("run log: dropped %s for %s", sizes, self.path)


_runlog: RunLog | None = None
_runlog_lock = threading.Lock()


def get_runlog() -> RunLog:
    """The process-wide run log at ``get_settings().runlog_path``, created on first call, closed at exit."""
    global _runlog
    if _runlog is None:
        with _runlog_lock:
            if _runlog is None:
                from workbench.settings import get_settings

                # No file system work here: this runs on the event loop (langgraph dev forbids blocking);
                # the writer thread creates the folder and the file.
                runlog = RunLog(get_settings().runlog_path)
                atexit.register(runlog.close)
                _runlog = runlog
    return _runlog


def set_runlog(runlog: RunLog | None) -> None:
    """Replace the process-wide run log (tests); ``None`` makes the next :func:`get_runlog` build one again."""
    global _runlog
    with _runlog_lock:
        _runlog = runlog


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what the run log stores)."""
    return datetime.now(UTC)

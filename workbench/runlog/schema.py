"""The run-log database: its tables and how to open it (its migrations are :mod:`workbench.runlog.migrations`, the
audit's rows :mod:`workbench.runlog.audit_tables`).

DuckDB lets one process at a time hold a database file open for writing, so every user of the run log
(the writer thread, the read queries) opens a short-lived connection with :func:`connect`, which waits
with a short backoff while another process holds the file, applies the migrations on the first connection
of this process, and closes the file again when the block ends. A file that cannot be opened or read (damaged,
not a DuckDB file, on a read-only disk) raises :class:`RunLogUnavailable`, whose message says what to do; a reader
of a home it may not write opens the file with ``read_only=True``.
"""

from __future__ import annotations

import logging
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from workbench.errors import StorageUnavailable, WorkbenchError
from workbench.runlog.audit_tables import AgentLogRecord, FindingRecord, RepositoryRecord, TaskRecord
from workbench.runlog.migrations import MIGRATIONS, migrate
from workbench.storage_errors import is_damaged

logger = logging.getLogger(__name__)


class RunLogBusyError(WorkbenchError):
    """The run-log file stayed locked by another process for longer than the lock timeout."""


class RunLogUnavailable(StorageUnavailable):
    """The run-log file cannot be opened or read: damaged, not a DuckDB file, or not writable."""


DAMAGED = (
    "the run log (runs.duckdb in the server's home folder) is damaged and cannot be read; stop the server, move "
    "runs.duckdb aside (a new, empty log is made at start) or restore it from a backup"
)
NOT_WRITABLE = (
    "the run log (runs.duckdb in the server's home folder) cannot be opened for writing: the home folder or the "
    "file is read-only or its disk is full; make it writable (workbench runs reads it read-only meanwhile)"
)
_reported: set[tuple[str, str]] = set()


def writable(folder: Path) -> bool:
    """Whether this process can create files in ``folder`` (or in the nearest folder above it that exists): tried,
    not inferred from permissions, which root, read-only mounts and immutable files answer differently."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            return True
    except OSError:
        return False


def unavailable(path: Path, exc: BaseException) -> RunLogUnavailable:
    """The error a failure to open or read the run log at ``path`` is reported as (logged once per path and kind:
    the operator's line names the file and DuckDB's reason)."""
    text = str(exc)
    damaged = (
        is_damaged(exc)
        or "not a valid DuckDB database file" in text
        or isinstance(exc, duckdb.SerializationException | duckdb.InternalException)
    )
    message = DAMAGED if damaged else NOT_WRITABLE
    if (str(path), message) not in _reported:
        _reported.add((str(path), message))
        logger.warning("run log %s: %s (%s)", path, message, text.splitlines()[0] if text else type(exc).__name__)
    return RunLogUnavailable(message)


RUN_STATUSES = ("running", "ok", "error", "aborted", "interrupted")
"""What a ``runs`` row's status can be."""


@dataclass
class RunRecord:
    """One graph run: a row of ``runs``. Logging it again with the same ``run_id`` replaces the row."""

    run_id: str
    graph: str
    entry_point: str = "langgraph"
    session_id: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    input: str | None = None
    output: str | None = None
    status: str = "ok"
    """'running' while in flight, then 'ok', 'error' or 'aborted'; 'interrupted' when its process stopped first."""
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    ttft_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    retrieved: list[dict[str, Any]] | None = None
    """Retrieved chunks: dicts with chunk_id, source, score, dense_score, sparse_score."""
    metadata: dict[str, Any] | None = None
    """Free-form extras (voice timings, audit counts, ``tokens_estimated``...)."""
    owner: str | None = None
    """The process that ran it, ``host/pid/start_ms`` (see :mod:`workbench.runlog.owner`); set by the writer."""
    settled: bool | None = None
    """True on a row that is what the client was told by another process than the one that ran the run (a gateway's
    verdict on a run its graph server dropped): a later row of the process that ran it (a stopped server's
    'aborted', its journal replayed) does not replace it."""


@dataclass
class EventRecord:
    """One step inside a run (a graph node, an LLM call, a tool call): a row of ``events``."""

    run_id: str
    seq: int
    node: str
    kind: str = "node"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None
    status: str = "ok"
    detail: dict[str, Any] | None = None


SPAN_KINDS = ("run", "node", "llm", "tool", "retrieval", "speech", "analyzer", "gateway", "step")
"""What a span is: the run itself, a graph node (a subgraph is a node whose spans nest under it), an LLM call, a
tool call, a retrieval, speech to text or text to speech, an audit analyzer's subprocess, a step the gateway of a
graph server took, or another step a node marked."""


@dataclass
class SpanRecord:
    """One span of a run's trace: a row of ``spans`` (the OpenTelemetry span, flattened; ids in hex)."""

    run_id: str
    span_id: str
    trace_id: str
    parent_id: str | None
    name: str
    kind: str = "step"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None
    status: str = "ok"
    """'ok', 'error', 'aborted' or 'interrupted' (a span still open when its run ended takes the run's status)."""
    error: str | None = None
    attributes: dict[str, Any] | None = None
    """OpenTelemetry attributes (``gen_ai.*`` and ``workbench.*``), bounded and without secrets."""


Record = RunRecord | EventRecord | SpanRecord | TaskRecord | RepositoryRecord | FindingRecord | AgentLogRecord


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    replace: bool = True
    """Whether a row replaces the stored one with its key (else the first one written stays: a span, written once
    when it ended, that a replayed journal brings again)."""
    keep_when: str | None = None
    """SQL over the stored row (the table's name) and the new one (``excluded``): when it holds, a new row with the
    same key leaves the stored one as it is."""


TABLES: dict[type, Table] = {
    RunRecord: Table(
        "runs",
        tuple(f.name for f in fields(RunRecord)),
        ("run_id",),
        keep_when="coalesce(runs.settled, false) AND NOT coalesce(excluded.settled, false)"
        " AND runs.owner IS DISTINCT FROM excluded.owner",
    ),
    EventRecord: Table("events", tuple(f.name for f in fields(EventRecord)), ("run_id", "seq")),
    SpanRecord: Table("spans", tuple(f.name for f in fields(SpanRecord)), ("run_id", "span_id"), replace=False),
    TaskRecord: Table("tasks", tuple(f.name for f in fields(TaskRecord)), ("task_id",)),
    RepositoryRecord: Table("repositories", tuple(f.name for f in fields(RepositoryRecord)), ("repo_id",)),
    FindingRecord: Table("findings", tuple(f.name for f in fields(FindingRecord)), ("task_id", "seq")),
    AgentLogRecord: Table("agent_logs", tuple(f.name for f in fields(AgentLogRecord)), ("task_id", "seq")),
}
"""Every table the writer fills, by record type, in the order a batch writes them."""
RUN_COLUMNS: tuple[str, ...] = TABLES[RunRecord].columns
EVENT_COLUMNS: tuple[str, ...] = TABLES[EventRecord].columns
SPAN_COLUMNS: tuple[str, ...] = TABLES[SpanRecord].columns
JSON_COLUMNS = frozenset(
    {
        "retrieved",
        "metadata",
        "detail",
        "attributes",
        "agents",
        "agent_states",
        "counts",
        "report",
        "languages",
        "tools",
        "data",
    }
)
TIMESTAMP_COLUMNS = frozenset({"started_at", "ended_at", "created_at", "last_audited_at", "ts"})
BOOLEAN_COLUMNS = frozenset({"settled"})


_migrated: set[str] = set()
_migrated_lock = threading.Lock()


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckDB refusing the file because another process holds it.

    duckdb 2.0 raises ``duckdb.IOException('IO Error: Could not set lock on file "...": Conflicting lock
    is held in <exe> (PID n) ...')``, for read-write and read-only connections alike.
    """
    return isinstance(exc, duckdb.IOException) and "Could not set lock on file" in str(exc)


def _open(path: Path, lock_timeout: float, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_timeout
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise unavailable(path, exc) from exc
            if time.monotonic() >= deadline:
                raise RunLogBusyError(
                    f"The run log {path} is held open by another process for more than {lock_timeout:.1f} s; "
                    f"close that process's DuckDB connection ({exc})."
                ) from exc
        time.sleep(min(delay * (0.5 + random.random()), max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.1)


_UNREADABLE = (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException, duckdb.FatalException)
"""DuckDB's errors for a file it cannot read or write (not those of a wrong query)."""


@contextmanager
def connect(
    path: str | Path, *, lock_timeout: float = 5.0, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to the run log at ``path``, migrated, in UTC; closed (file released) on exit.

    Waits up to ``lock_timeout`` seconds while another process holds the file, then raises
    :class:`RunLogBusyError`; a file that cannot be opened or read raises :class:`RunLogUnavailable`.
    ``read_only`` opens an existing file without writing anything (no folder, no migrations): a reader of a
    read-only home.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise RunLogUnavailable("there is no run log yet (runs.duckdb in the home folder): no run was logged")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unavailable(path, exc) from exc
    con = _open(path, lock_timeout, read_only)
    try:
        try:
            con.execute("SET TimeZone = 'UTC'")
            key = str(path.resolve())
            if not read_only and key not in _migrated:
                with _migrated_lock:
                    if key not in _migrated:
                        migrate(con, MIGRATIONS)
                        _migrated.add(key)
        except _UNREADABLE as exc:
            raise unavailable(path, exc) from exc
        try:
            yield con
        except _UNREADABLE as exc:
            if is_lock_conflict(exc):
                raise
            raise unavailable(path, exc) from exc
    finally:
        con.close()

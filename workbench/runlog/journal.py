"""The run log's crash journal: every record reaches this SQLite file before DuckDB, so ``kill -9`` loses nothing.

Why SQLite (in WAL mode) and not a JSON-lines spool: a commit is one ``write()`` into the WAL, which survives the
death of the process at any instant (the OS holds the bytes), a torn last transaction is rolled back on the next
open instead of leaving half a line to skip, several processes on one home append and delete concurrently under
SQLite's own locking, and the journal needs deletes (rows already in DuckDB) that an append-only file cannot do
without rewriting it. ``synchronous=NORMAL`` (the default here) survives a process crash; ``FULL`` also a power
loss, at the cost of an fsync per commit.

Tables: ``entries`` (one per logged record, by owner, in log order) and ``processes`` (each live writer's
:class:`~workbench.runlog.owner.Owner` and heartbeat). DuckDB stays the store users query; the journal only holds
what is not yet there.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from workbench.runlog.owner import Owner
from workbench.runlog.schema import TABLES, TIMESTAMP_COLUMNS, Record

Synchronous = Literal["NORMAL", "FULL"]
_TYPES: dict[str, type] = {table.name: kind for kind, table in TABLES.items()}
_FIELDS: dict[type, tuple[str, ...]] = {kind: tuple(f.name for f in fields(kind)) for kind in TABLES}
_encode = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":")).encode


def journal_path(runlog_path: str | Path) -> Path:
    """The journal beside a run log: ``runs.duckdb`` → ``runs.journal.sqlite``."""
    path = Path(runlog_path)
    return path.with_name(f"{path.stem}.journal.sqlite")


def encode(record: Record) -> tuple[str, str]:
    """``(table name, JSON payload)`` of a record."""
    kind = type(record)
    payload = {name: getattr(record, name) for name in _FIELDS[kind]}
    for name in TIMESTAMP_COLUMNS.intersection(payload):
        if isinstance(payload[name], datetime):
            payload[name] = payload[name].isoformat()
    return TABLES[kind].name, _encode(payload)


def decode(table: str, payload: str) -> Record:
    """The record :func:`encode` made (fields this version does not know are dropped)."""
    kind = _TYPES[table]
    data: dict[str, Any] = json.loads(payload)
    known = _FIELDS[kind]
    values = {name: value for name, value in data.items() if name in known}
    for name in TIMESTAMP_COLUMNS.intersection(values):
        if isinstance(values[name], str):
            values[name] = datetime.fromisoformat(values[name])
    return kind(**values)


class Journal:
    """One connection to the journal file (use one per thread)."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "NORMAL", busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        deadline = time.monotonic() + busy_timeout
        while True:  # switching to WAL takes the file for a moment and does not wait for a concurrent opener
            try:
                self._setup(synchronous)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    self._db.close()
                    raise
                time.sleep(0.01)

    def _setup(self, synchronous: Synchronous) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS entries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                owner TEXT NOT NULL,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS entries_owner ON entries (owner, id);
            CREATE TABLE IF NOT EXISTS processes (
                owner TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                started_ms INTEGER NOT NULL,
                heartbeat_at REAL NOT NULL
            );
            """
        )

    def close(self) -> None:
        self._db.close()

    # -- entries -----------------------------------------------------------------------------------------

    def append(self, owner: Owner, records: Sequence[Record]) -> int:
        """Append ``records`` in one transaction; the id of the last one (0 when there were none)."""
        if not records:
            return 0
        rows = [(owner.id, *encode(record)) for record in records]
        with self._transaction():
            self._db.executemany("INSERT INTO entries (owner, kind, payload) VALUES (?, ?, ?)", rows)
            (last,) = self._db.execute("SELECT max(id) FROM entries WHERE owner = ?", [owner.id]).fetchone()
        return int(last)

    def entries(self, owner_id: str, after: int = 0, limit: int = 50_000) -> list[tuple[int, Record]]:
        """``(id, record)`` of ``owner_id``'s entries after id ``after``, in log order."""
        rows = self._db.execute(
            "SELECT id, kind, payload FROM entries WHERE owner = ? AND id > ? ORDER BY id LIMIT ?",
            [owner_id, after, limit],
        ).fetchall()
        return [(entry_id, decode(kind, payload)) for entry_id, kind, payload in rows]

    def delete(self, owner_id: str, first: int, last: int) -> None:
        """Forget ``owner_id``'s entries with ids ``first..last`` (they are in DuckDB now)."""
        self._db.execute("DELETE FROM entries WHERE owner = ? AND id BETWEEN ? AND ?", [owner_id, first, last])

    def pending(self, owner_id: str | None = None) -> int:
        """How many entries (of ``owner_id``, else of every owner) are not yet in DuckDB."""
        sql, params = (
            ("SELECT count(*) FROM entries", [])
            if owner_id is None
            else ("SELECT count(*) FROM entries WHERE owner = ?", [owner_id])
        )
        (count,) = self._db.execute(sql, params).fetchone()
        return int(count)

    # -- processes ----------------------------------------------------------------------------------------

    def register(self, owner: Owner) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO processes VALUES (?, ?, ?, ?, ?)",
            [owner.id, owner.host, owner.pid, owner.started_ms, time.time()],
        )

    def heartbeat(self, owner: Owner) -> None:
        self._db.execute("UPDATE processes SET heartbeat_at = ? WHERE owner = ?", [time.time(), owner.id])

    def unregister(self, owner_id: str) -> None:
        self._db.execute("DELETE FROM processes WHERE owner = ?", [owner_id])

    def heartbeats(self) -> dict[str, float]:
        """The last heartbeat (epoch seconds) of every registered process, by owner id."""
        return dict(self._db.execute("SELECT owner, heartbeat_at FROM processes").fetchall())

    def owners(self) -> set[str]:
        """Every owner id with entries or a registration."""
        rows = self._db.execute("SELECT owner FROM processes UNION SELECT DISTINCT owner FROM entries").fetchall()
        return {owner for (owner,) in rows}

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def gone(owner_id: str | None, heartbeats: dict[str, float], stale_after: float) -> bool:
    """Whether the process named by ``owner_id`` has stopped: on this host, it no longer exists; on another,
    its heartbeat is older than ``stale_after`` seconds or missing. A row without an owner (written before
    owners were recorded) counts as gone."""
    if not owner_id:
        return True
    owner = Owner.parse(owner_id)
    if owner is None:
        return True
    if owner.on_this_host():
        return not owner.alive_here()
    beat = heartbeats.get(owner_id)
    return beat is None or time.time() - beat > stale_after


def gone_owners(candidates: Iterable[str | None], heartbeats: dict[str, float], stale_after: float) -> set[str]:
    """The owner ids among ``candidates`` that are gone (see :func:`gone`), without None."""
    return {owner for owner in set(candidates) if owner and gone(owner, heartbeats, stale_after)}

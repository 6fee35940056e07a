"""One turn at a time per session, across every process that shares the sessions.

A turn holds its session's lease (a row keyed by graph and session) while it runs, renewing it; a second turn
finds the row and is refused (:class:`~workbench.runtime.base.SessionBusy`). The rows live where the sessions do:
the SQLite file beside the checkpoints (processes on one home) or the Postgres database holding the checkpoints
(gateway processes on any host). A process that dies stops renewing: its leases lapse after ``ttl_s``, at once
when it ran on this host (its pid is gone). In-process runs on a memory checkpointer (tests, notebooks) use
:class:`MemoryLeases`.

A lease store that fails makes the turn end with :class:`~workbench.errors.StorageUnavailable` before it starts. The
lease file holds nothing worth keeping: found damaged, it is moved aside and made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from workbench.errors import StorageUnavailable
from workbench.health import Check, failing, ok
from workbench.runlog.owner import Owner, current_owner
from workbench.runtime.base import SessionBusy
from workbench.runtime.storage import is_damaged, leases_unavailable, move_aside, sqlite_problem

log = logging.getLogger(__name__)


class SessionLeases(ABC):
    ttl_s = 30.0
    renew_s = 10.0
    unreleased: dict[str, str]
    """Leases whose turn ended but whose release failed (the database was down), key to run id: they are free."""

    failing = False
    """Whether the last attempt to take a lease failed (the operator is told once, and once it works again)."""

    def __init__(self) -> None:
        self.unreleased = {}
        self._releasing: set[asyncio.Task[None]] = set()

    store = "memory"
    """Where the leases live ("memory", "sqlite", "postgres"), for what a failure says."""
    probe_s = 2.0

    @abstractmethod
    async def acquire(self, key: str, run_id: str) -> bool:
        """Take ``key`` for ``run_id``; False when another live run holds it."""

    @abstractmethod
    async def renew(self, key: str, run_id: str) -> None: ...

    @abstractmethod
    async def release(self, key: str, run_id: str) -> None: ...

    @abstractmethod
    async def held(self) -> list[str]:
        """The keys held now (by any process)."""

    async def close(self) -> None:
        return None

    async def health(self) -> Check:
        """Whether the lease store answers (within ``probe_s``)."""
        try:
            async with asyncio.timeout(self.probe_s):
                await self.held()
        except Exception as exc:
            log.debug("session lease probe failed: %s", exc)
            return failing("leases", str(leases_unavailable(self.store)))
        return ok("leases")

    @contextlib.asynccontextmanager
    async def hold(self, key: str, run_id: str) -> AsyncIterator[None]:
        """Hold ``key`` for the block; raises :class:`SessionBusy` when a turn elsewhere holds it, and
        :class:`~workbench.errors.StorageUnavailable` when the lease store fails."""
        try:
            taken = await self.acquire(key, run_id)
        except StorageUnavailable:
            raise
        except Exception as exc:
            error = leases_unavailable(self.store)
            if not self.failing:
                log.warning("session leases (%s) fail: %s; %s", self.store, exc, error)
            self.failing = True
            raise error from None
        if self.failing:
            log.warning("session leases (%s) work again", self.store)
            self.failing = False
        if not taken:
            raise SessionBusy(key)
        renewing = asyncio.create_task(self._keep(key, run_id))
        try:
            yield
        except StorageUnavailable:  # the store failed the turn: release in the background, the client hears now
            renewing.cancel()
            self.unreleased[key] = run_id
            releasing = asyncio.create_task(self._release_quietly(key, run_id))
            self._releasing.add(releasing)
            releasing.add_done_callback(self._releasing.discard)
            raise
        except BaseException:
            renewing.cancel()
            await asyncio.shield(self._release_quietly(key, run_id))
            raise
        renewing.cancel()
        await asyncio.shield(self._release_quietly(key, run_id))

    async def _keep(self, key: str, run_id: str) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                await self.renew(key, run_id)
            except Exception as exc:  # the lease may lapse; the turn goes on
                log.info("could not renew the lease of a session: %s", exc)

    async def _release_quietly(self, key: str, run_id: str) -> None:
        try:
            await self.release(key, run_id)
        except Exception as exc:  # the next turn of the session takes it over (others wait ttl_s)
            self.unreleased[key] = run_id
            log.debug("could not release the lease of a session: %s", exc)
        else:
            if self.unreleased.get(key) == run_id:
                del self.unreleased[key]


class MemoryLeases(SessionLeases):
    """Leases of one process (a checkpointer in memory is not shared either)."""

    def __init__(self) -> None:
        super().__init__()
        self._held: dict[str, str] = {}

    async def acquire(self, key: str, run_id: str) -> bool:
        if key in self._held:
            return False
        self._held[key] = run_id
        return True

    async def renew(self, key: str, run_id: str) -> None:
        return None

    async def release(self, key: str, run_id: str) -> None:
        if self._held.get(key) == run_id:
            del self._held[key]

    async def held(self) -> list[str]:
        return list(self._held)


def _holder_gone(owner_id: str) -> bool:
    owner = Owner.parse(owner_id)
    return owner is not None and owner.on_this_host() and not owner.alive_here()


class _SqlLeases(SessionLeases):
    """The lease table and its statements; subclasses run them on their database."""

    ph = "?"
    now = "((julianday('now') - 2440587.5) * 86400.0)"
    """SQL for the database's clock, in seconds since the epoch (one clock for every process sharing the table)."""

    def _sql(self, text: str) -> str:
        """``text`` in this database's dialect: ``?`` placeholders, ``{now}`` for the current time."""
        return text.replace("{now}", self.now).replace("?", self.ph)

    @abstractmethod
    async def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]: ...

    async def acquire(self, key: str, run_id: str) -> bool:
        owner = current_owner().id
        take = self._sql(
            "INSERT INTO workbench_session_turns (key, run_id, owner, expires_at) VALUES (?, ?, ?, {now} + ?) "
            "ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, owner = excluded.owner, "
            "expires_at = excluded.expires_at WHERE workbench_session_turns.expires_at < {now} RETURNING run_id"
        )
        for _ in range(2):
            if await self._run(take, (key, run_id, owner, self.ttl_s)):
                self.unreleased.pop(key, None)
                return True
            rows = await self._run(self._sql("SELECT owner, run_id FROM workbench_session_turns WHERE key = ?"), (key,))
            if not rows:
                return False
            left_here = str(rows[0][0]) == owner and self.unreleased.get(key) == str(rows[0][1])
            if not left_here and not _holder_gone(str(rows[0][0])):
                return False
            stale = self._sql("DELETE FROM workbench_session_turns WHERE key = ? AND owner = ? RETURNING key")
            await self._run(stale, (key, rows[0][0]))
        return False

    async def renew(self, key: str, run_id: str) -> None:
        sql = self._sql(
            "UPDATE workbench_session_turns SET expires_at = {now} + ? WHERE key = ? AND run_id = ? RETURNING key"
        )
        await self._run(sql, (self.ttl_s, key, run_id))

    async def release(self, key: str, run_id: str) -> None:
        sql = self._sql("DELETE FROM workbench_session_turns WHERE key = ? AND run_id = ? RETURNING key")
        await self._run(sql, (key, run_id))

    async def held(self) -> list[str]:
        sql = self._sql("SELECT key FROM workbench_session_turns WHERE expires_at >= {now}")
        rows = await self._run(sql, ())
        return [str(row[0]) for row in rows]


TABLE = (
    "CREATE TABLE IF NOT EXISTS workbench_session_turns ("
    "key TEXT PRIMARY KEY, run_id TEXT NOT NULL, owner TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)"
)


class SqliteLeases(_SqlLeases):
    """Leases in an SQLite file (WAL), shared by the processes on one home."""

    store = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._conn: Any = None
        self._opening = asyncio.Lock()

    def rebuild_if_damaged(self) -> bool:
        """Move a damaged lease file aside (it holds only the turns running now), so a new one is made; one warning.
        True when it did."""
        problem = sqlite_problem(self.path)
        if problem is None:
            return False
        aside = move_aside(self.path)
        log.warning("the session lease file %s was damaged (%s); moved aside to %s and made again", self.path,
                    problem, aside.name)  # fmt: skip
        return True

    async def _connection(self) -> Any:
        async with self._opening:
            if self._conn is None:
                try:
                    self._conn = await self._open()
                except Exception as exc:
                    if not is_damaged(exc) or not await asyncio.to_thread(self.rebuild_if_damaged):
                        raise
                    self._conn = await self._open()
        return self._conn

    async def _open(self) -> Any:
        import aiosqlite

        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=10)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA busy_timeout=10000")
            await conn.execute(TABLE)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = await self._connection()
        async with conn.execute(sql, params) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


class PostgresLeases(_SqlLeases):
    """Leases in the Postgres database that holds the checkpoints (the database's clock decides expiry)."""

    ph = "%s"
    now = "extract(epoch from clock_timestamp())"
    store = "postgres"

    def __init__(self, pool: Any) -> None:
        super().__init__()
        self.pool = pool

    async def setup(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(TABLE)

    async def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            rows = await cursor.fetchall() if cursor.description else []
        return [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in rows]

"""The run-log writer: :class:`RunLog`, whose writer thread puts what its intake journaled in DuckDB in Arrow batches.

Records enter through the intake (:mod:`workbench.runlog.intake`: a queue, and a journal thread that makes them
crash-safe at once). The writer thread waits until 500 rows are pending or 200 ms have passed since the first one,
writes everything pending in one DuckDB transaction through a connection it opens for that batch only (so another
process can use the file between batches), then deletes those entries from the journal. A failed write is retried
after a growing pause; rows the journal could not take are kept in memory meanwhile (up to ``max_batch``). When a
process dies, its journal entries are replayed by the next one (:mod:`workbench.runlog.recovery`).

Nothing here blocks an event loop: :meth:`RunLog.flush` refuses to run on a serving one (use
:meth:`RunLog.aflush`), and the read helpers are meant for threads (``await asyncio.to_thread(runlog.recent_runs)``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.health import Check
from workbench.runlog import queries
from workbench.runlog.batches import describe, write_batch
from workbench.runlog.intake import Intake
from workbench.runlog.journal import Journal, Synchronous, gone_owners
from workbench.runlog.recovery import Recovery, recover
from workbench.runlog.schema import connect
from workbench.runlog.stages import STOP, Marker, Stop, WriterBatch, Written, drain
from workbench.storage_errors import storage_problem

logger = logging.getLogger(__name__)


_serving_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def serve_on_this_loop() -> None:
    """Mark the running event loop as one that serves requests (the server's, the CLI's turns): a blocking
    :meth:`RunLog.flush` on it raises instead of stalling every request. A notebook's loop is not marked: there,
    waiting a moment for the run log is what the user asked for."""
    _serving_loops.add(asyncio.get_running_loop())


def _on_serving_loop() -> bool:
    try:
        return asyncio.get_running_loop() in _serving_loops
    except RuntimeError:
        return False


class RunLog(Intake):
    """A DuckDB run log at ``path`` fed through a queue by any thread; a journal and a writer thread per instance.

    ``journal=False`` skips the crash journal (a run log nobody needs after a crash: benchmarks, throwaway
    evaluations); ``synchronous="FULL"`` makes each journal commit survive a power loss too.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        max_batch: int = 50_000,
        lock_timeout: float = 5.0,
        max_attempts: int = 10,
        journal: bool = True,
        synchronous: Synchronous = "NORMAL",
        heartbeat_interval: float = 5.0,
        recover_interval: float = 5.0,
        stale_after: float = 30.0,
    ) -> None:
        super().__init__(
            path,
            max_batch=max_batch,
            lock_timeout=lock_timeout,
            journal=journal,
            synchronous=synchronous,
            heartbeat_interval=heartbeat_interval,
        )
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.recover_interval = recover_interval
        self.stale_after = stale_after
        self.batches_written = 0
        self.rows_dropped = 0
        """Rows that could not be written to DuckDB and had no journal entry to fall back on."""
        self.rows_deferred = 0
        """Rows that could not be written to DuckDB now; their journal entries are replayed after this process."""
        self.last_recovery: Recovery | None = None
        self._write_problem: str | None = None
        self._listeners: list[Callable[[Recovery], None]] = []
        self._recovered = threading.Event()
        self._close_lock = threading.Lock()
        self._journal_thread = threading.Thread(target=self._journal_loop, name=f"runlog-journal:{self.path.name}")
        self._thread = threading.Thread(target=self._writer_loop, name=f"runlog-writer:{self.path.name}")
        for thread in (self._journal_thread, self._thread):
            thread.daemon = True
            thread.start()

    def health(self) -> Check:
        """Whether runs logged now are saved: the journal takes them and DuckDB is written (cheap: no file access)."""
        unsaved = self._unjournaled
        if self._closed:
            return Check("runlog", False, "the run log is closed (the server is stopping)")
        if unsaved or self._journal_problem:
            held = f"; {unsaved} records are held in memory until it can" if unsaved else ""
            return Check("runlog", False, f"{self._journal_problem or 'the crash journal cannot be written'}{held}")
        if self._write_problem:
            return Check("runlog", False, self._write_problem)
        if self.rows_dropped:
            return Check("runlog", False, f"{self.rows_dropped} records were dropped (see the server log)")
        return Check("runlog", True)

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything enqueued before this call is in DuckDB; False if ``timeout`` passed first.

        Not on an event loop that serves requests (it raises there, see :func:`serve_on_this_loop`): ``await
        aflush()`` instead."""
        if _on_serving_loop():
            raise RuntimeError("RunLog.flush() blocks; on a serving event loop, await RunLog.aflush()")
        if self._closed or not self._thread.is_alive():
            return self._queue.empty() and self._stage.empty()
        marker = Written()
        self._queue.put(marker)
        return marker.event.wait(timeout)

    async def aflush(self) -> bool:
        """:meth:`flush` for coroutines: waits (up to the lock timeout) without blocking the loop."""
        if self._closed or not self._thread.is_alive():
            return self._queue.empty() and self._stage.empty()
        return await self._reached(Written(asyncio.get_running_loop()))

    def wait_recovered(self, timeout: float | None = None) -> Recovery | None:
        """Block until this process's first recovery ran (see :mod:`workbench.runlog.recovery`); its result."""
        self._recovered.wait(self.lock_timeout * 2 if timeout is None else timeout)
        return self.last_recovery

    def on_recovery(self, listener: Callable[[Recovery], None]) -> None:
        """Call ``listener`` (on the writer thread) after each recovery that settled something."""
        self._listeners.append(listener)
        if self.last_recovery:
            listener(self.last_recovery)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop both threads. Safe to call twice; later log calls are dropped."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(STOP)
        deadline = time.monotonic() + timeout
        for thread in (self._journal_thread, self._thread):
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            logger.error("run log writer for %s did not finish within %.0f s", self.path, timeout)

    # -- reads (see workbench.runlog.queries); each flushes this process's queue first: call them in a thread --

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

    def _writer_loop(self) -> None:
        journal = self._open_journal(quiet=True)
        self._recover(journal)
        self._recovered.set()
        batch = WriterBatch(journal)
        next_check = time.monotonic() + self.recover_interval
        stop = False
        while not stop:
            now = time.monotonic()
            wait = max(batch.first_at + self.flush_interval, batch.retry_at) - now if batch.count else next_check - now
            markers: list[Marker] = []
            for item in drain(self._stage, max(0.0, wait), lambda: batch.count >= self.max_batch):
                if isinstance(item, Stop):
                    stop = True
                elif isinstance(item, Marker):
                    markers.append(item)
                else:
                    batch.add(item)
            now = time.monotonic()
            full = batch.count >= self.batch_size or now - batch.first_at >= self.flush_interval
            if batch.count and (markers or stop or full) and (stop or now >= batch.retry_at):
                self._write(batch, final=stop)
            for marker in markers:
                marker.set()
            if time.monotonic() >= next_check:
                if journal is None and self.journal_path is not None and not batch.count:
                    journal = batch.journal = self._open_journal(quiet=True)
                if journal is not None and self._someone_stopped(journal):
                    self._recover(journal)
                next_check = time.monotonic() + self.recover_interval
        if journal is not None:
            if not journal.pending(self.owner.id):
                self._guarded(journal.unregister, self.owner.id)
            journal.close()

    def _write(self, batch: WriterBatch, *, final: bool = False) -> None:
        """Write the pending rows in one transaction, then drop their journal entries. Never raises.

        A failed write keeps the rows pending, in order, and is tried again after a growing pause (up to 5 s), so
        a notebook that holds the file for a while delays rows, it does not lose them. Rows are given up here at
        close, and before that after ``max_attempts`` failures in a row without a journal (they are dropped) or,
        with one, once ``max_batch`` rows wait (they stay in the journal and are replayed after this process)."""
        retry = batch.failures > 0  # a retried batch takes care that none of its rows is there already
        rows = batch.take()
        unjournaled = batch.unjournaled
        try:
            with connect(self.path, lock_timeout=self.lock_timeout) as con:
                con.begin()
                write_batch(con, rows, replay=retry)
                con.commit()
        except Exception as exc:
            batch.failed(rows)
            attempt = f"{batch.failures}/{self.max_attempts}"
            logger.warning("run log write to %s failed (attempt %s)", self.path, attempt, exc_info=batch.failures == 1)
            self._write_problem = storage_problem(exc, "the run log (runs.duckdb)")
            # Rows wait in memory (in order, retried after a growing pause) until the file can be written again,
            # up to max_batch of them; past that, or at close, they are given up (kept in the journal if it has them).
            if not final and batch.count < self.max_batch:
                return
            self._count_unjournaled(-unjournaled)
            given_up, journaled = batch.give_up()
            if journaled:
                self.rows_deferred += given_up
                logger.error("run log: %s not written to %s; kept in its journal", describe(rows), self.path)
            else:
                self.rows_dropped += given_up
                logger.error("run log: dropped %s for %s", describe(rows), self.path)
            return
        self.batches_written += 1
        self._write_problem = None
        self._count_unjournaled(-unjournaled)
        first, last = batch.written()
        if batch.journal is not None and last:
            self._guarded(batch.journal.delete, self.owner.id, first, last)

    def _someone_stopped(self, journal: Journal) -> bool:
        """Whether a process registered in the journal has stopped (cheap: no DuckDB access)."""
        try:
            beats = journal.heartbeats()
        except Exception:
            return False
        return bool(gone_owners(set(beats) - {self.owner.id}, beats, self.stale_after))

    def _recover(self, journal: Journal | None) -> None:
        try:
            result = recover(
                self.path, journal, self.owner, stale_after=self.stale_after, lock_timeout=self.lock_timeout
            )
        except Exception:
            logger.warning("run log %s: recovery failed; it is tried again later", self.path, exc_info=True)
            return
        self.last_recovery = result
        if result:
            for listener in list(self._listeners):
                try:
                    listener(result)
                except Exception:
                    logger.exception("run log: a recovery listener failed")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what the run log stores)."""
    return datetime.now(UTC)

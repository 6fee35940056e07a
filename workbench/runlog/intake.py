"""The run log's intake: the queue callers put records on, and the journal thread that makes them crash-safe.

``log_run`` and ``log_records`` only put on a queue (a few microseconds, never blocking, never raising). The
journal thread takes whatever is queued and appends it to the SQLite journal beside the database in one
transaction (:mod:`workbench.runlog.journal`), at once, then hands it to the writer thread
(:class:`~workbench.runlog.writer.RunLog`, which puts it in DuckDB). ``await runlog.durable()`` returns when
everything logged before it is in the journal, which is what a turn waits for before it tells its client ``done``; it
returns False (and :meth:`Intake.require_durable` raises :class:`~workbench.errors.StorageUnavailable`) while records
the journal could not take (a full disk, a read-only home) are not yet in DuckDB either, so no client hears ``ok`` of
a run that would not survive a crash. Such records are kept in memory and written as soon as the disk allows.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from workbench.errors import StorageUnavailable
from workbench.runlog.journal import Journal, Synchronous, journal_path
from workbench.runlog.owner import Owner, current_owner
from workbench.runlog.schema import EventRecord, Record, RunRecord, TaskRecord
from workbench.runlog.stages import STOP, Item, Journaled, Marker, Staged, Stop, drain
from workbench.storage_errors import storage_problem

logger = logging.getLogger(__name__)


def _holds(items: list[Record], count: int) -> bool:
    return len(items) >= count


class Intake:
    """The callers' side of a :class:`~workbench.runlog.writer.RunLog` and its journal thread (started by the run
    log, once it is built): records go in here and come out on ``_stage``, journaled, for the writer thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_batch: int,
        lock_timeout: float,
        journal: bool,
        synchronous: Synchronous,
        heartbeat_interval: float,
    ) -> None:
        self.path = Path(path)
        self.journal_path = journal_path(self.path) if journal else None
        self.max_batch = max_batch
        self.lock_timeout = lock_timeout
        self.synchronous = synchronous
        self.heartbeat_interval = heartbeat_interval
        self._unjournaled = 0
        """Records the journal could not take that DuckDB does not hold yet (updated under ``_count_lock``)."""
        self._count_lock = threading.Lock()
        self._journal_problem: str | None = None
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._stage: queue.SimpleQueue[Staged | Marker | Stop] = queue.SimpleQueue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def owner(self) -> Owner:
        """This process, as its rows name it (read on the log's threads: finding it reads ``/proc``)."""
        return current_owner()

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

    def _put(self, item: Item) -> None:
        if self._closed:
            logger.warning("run log %s is closed; dropping %r", self.path, type(item).__name__)
            return
        self._queue.put(item)

    async def durable(self) -> bool:
        """Wait until everything logged before this call is in the journal (it survives a crash from then on);
        False if the lock timeout passed first or if some of it could not be journaled and is not in DuckDB yet.
        Without a journal: at once."""
        if self._closed or self.journal_path is None:
            return True
        return await self._reached(Journaled(asyncio.get_running_loop()))

    async def require_durable(self) -> None:
        """:meth:`durable`, raising :class:`~workbench.errors.StorageUnavailable` when it is not."""
        if not await self.durable():
            raise StorageUnavailable(
                "the run could not be saved to the run log (the disk holding the workbench's home may be full or "
                "read-only); it is kept in memory and saved once the disk allows. Ask the operator to free space "
                "(GET /ready names what fails)"
            )

    async def _reached(self, marker: Marker) -> bool:
        assert marker.future is not None
        self._queue.put(marker)
        try:
            async with asyncio.timeout(self.lock_timeout):
                return await marker.future
        except TimeoutError:
            return False

    # -- journal thread ------------------------------------------------------------------------------------

    def _open_journal(self, *, quiet: bool = False) -> Journal | None:
        if self.journal_path is None:
            return None
        try:
            return Journal(self.journal_path, synchronous=self.synchronous, busy_timeout=self.lock_timeout)
        except Exception as exc:
            self._journal_problem = storage_problem(exc, "the run log's crash journal")
            if not quiet:
                logger.warning(
                    "run log journal %s cannot be opened (%s); clients are told storage_unavailable until it can: "
                    "free space on the disk holding WORKBENCH_HOME or make it writable",
                    self.journal_path,
                    exc,
                )
            return None

    def _journal_loop(self) -> None:
        journal = self._open_journal()
        if journal is not None:
            self._guarded(journal.register, self.owner)
        next_beat = time.monotonic() + self.heartbeat_interval
        stop = False
        while not stop:
            if journal is None and self.journal_path is not None and time.monotonic() >= next_beat:
                journal = self._open_journal(quiet=True)  # the disk may have room again
                if journal is not None:
                    self._guarded(journal.register, self.owner)
                next_beat = time.monotonic() + self.heartbeat_interval
            wait = max(0.0, next_beat - time.monotonic()) if self.journal_path is not None else None
            records: list[Record] = []
            journaled: list[Marker] = []
            written: list[Marker] = []
            for item in drain(self._queue, wait, functools.partial(_holds, records, self.max_batch)):
                if isinstance(item, Stop):
                    stop = True
                elif isinstance(item, Journaled):
                    journaled.append(item)
                elif isinstance(item, Marker):
                    written.append(item)
                elif isinstance(item, list):
                    records.extend(item)
                else:
                    records.append(item)
            if records:
                self._stage.put(self._journal(journal, records))
            for marker in journaled:
                marker.set(ok=self._unjournaled == 0)
            for marker in written:
                self._stage.put(marker)
            if journal is not None and time.monotonic() >= next_beat:
                self._guarded(journal.heartbeat, self.owner)
                next_beat = time.monotonic() + self.heartbeat_interval
        self._stage.put(STOP)
        if journal is not None:
            journal.close()

    def _journal(self, journal: Journal | None, records: list[Record]) -> Staged:
        for record in records:
            if isinstance(record, RunRecord | TaskRecord) and record.owner is None:
                record.owner = self.owner.id
        if self.journal_path is None:
            return Staged(records, 0, 0)
        try:
            if journal is None:
                raise OSError("the crash journal could not be opened")
            last = journal.append(self.owner, records)
        except Exception as exc:
            if self._journal_problem is None:
                logger.warning(
                    "run log journal %s cannot be written (%s): finished runs are held in memory and clients are told "
                    "storage_unavailable until it can; free space on the disk holding WORKBENCH_HOME or make it "
                    "writable",
                    self.journal_path,
                    exc,
                )
            self._journal_problem = storage_problem(exc, "the run log's crash journal")
            self._count_unjournaled(len(records))
            return Staged(records, 0, 0, journaled=False)
        if self._journal_problem is not None:
            logger.warning("run log journal %s is written again", self.journal_path)
            self._journal_problem = None
        return Staged(records, last - len(records) + 1, last)

    def _count_unjournaled(self, change: int) -> None:
        with self._count_lock:
            self._unjournaled += change

    @staticmethod
    def _guarded(call: Callable[..., object], *args: object) -> None:
        try:
            call(*args)
        except Exception:
            logger.warning("run log journal: %s failed", getattr(call, "__name__", call), exc_info=True)

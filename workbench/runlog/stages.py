"""The stages a record passes through inside :class:`~workbench.runlog.writer.RunLog`, and the markers that tell a
waiting caller (a thread or a coroutine) that everything queued before them has passed a stage."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from workbench.runlog.batches import Batch, Pending
from workbench.runlog.journal import Journal
from workbench.runlog.schema import Record


class Stop:
    """Queue sentinel: write what is pending, then end the thread."""


class Marker:
    """Set once everything queued before it has reached a stage (``ok``), or once it is known that some of it could
    not (``ok=False``); wakes a thread or an event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self.event = threading.Event()
        self.ok = True
        self.future: asyncio.Future[bool] | None = loop.create_future() if loop is not None else None

    def set(self, ok: bool = True) -> None:
        self.ok = ok
        self.event.set()
        if self._loop is not None and self.future is not None:
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile: nobody waits any more
                self._loop.call_soon_threadsafe(_resolve, self.future, ok)


def _resolve(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():
        future.set_result(ok)


class Journaled(Marker):
    """Set by the journal thread."""


class Written(Marker):
    """Set by the writer thread, once DuckDB has it."""


class WriterBatch:
    """The writer thread's pending rows, the span of their journal entries and its retry state."""

    def __init__(self, journal: Journal | None) -> None:
        self.journal = journal
        self.unjournaled = 0
        """Pending rows whose journal append failed: until DuckDB has them, they survive nothing."""
        self.pending = Pending()
        self.first_id = self.last_id = 0
        self.first_at = 0.0
        self.failures = 0
        self.retry_at = 0.0

    @property
    def count(self) -> int:
        return self.pending.count

    def add(self, staged: Staged) -> None:
        if not self.pending.count:
            self.first_at = time.monotonic()
        self.pending.add(staged.records)
        if not staged.journaled:
            self.unjournaled += len(staged.records)
        if staged.last:
            self.first_id, self.last_id = self.first_id or staged.first, staged.last

    def take(self) -> Batch:
        return self.pending.take()

    def failed(self, rows: Batch) -> None:
        """Put ``rows`` back (nothing newer was added since they were taken) and pause before the next try."""
        for records in rows.values():
            self.pending.add(records)
        self.failures += 1
        self.retry_at = time.monotonic() + min(5.0, 0.1 * 2**self.failures)

    def give_up(self) -> tuple[int, bool]:
        """Forget the pending rows; how many, and whether their journal entries keep them."""
        count, journaled = self.pending.count, bool(self.last_id) and not self.unjournaled
        self.pending.take()
        self.written()
        return count, journaled

    def written(self) -> tuple[int, int]:
        """The journal span just written (or given up), and a fresh start."""
        span = (self.first_id, self.last_id)
        self.first_id = self.last_id = self.failures = self.unjournaled = 0
        self.retry_at = 0.0
        return span


@dataclass
class Staged:
    """Records on their way to DuckDB, with the ids of their journal entries (0, 0 without a journal, or when the
    append failed: then ``journaled`` is False)."""

    records: list[Record]
    first: int
    last: int
    journaled: bool = True


STOP = Stop()
Item = Record | list[Record] | Marker | Stop


T = TypeVar("T")


def drain(source: queue.SimpleQueue[T], timeout: float | None, full: Callable[[], bool]) -> Iterator[T]:
    """What is queued now: waits up to ``timeout`` for the first item, then takes the ones already there without
    waiting, until the queue is empty or ``full()`` says the caller has enough (checked after each item)."""
    try:
        item = source.get(timeout=timeout)
    except queue.Empty:
        return
    while True:
        yield item
        if full():
            return
        try:
            item = source.get_nowait()
        except queue.Empty:
            return

"""The runs a run-log handler has open and has just ended: which callback belongs to which run, how a run ends
(logged once, never twice), and what the handler's callers do with a run afterwards (abort it, log it again as what
its client was told, settle one its graph never started). Every row leaves through :meth:`RunsInFlight._log_run`,
without audio or binary data."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from uuid import UUID

from workbench.errors import StorageUnavailable
from workbench.runlog.extract import output_text, retrieved_docs
from workbench.runlog.open_run import FROM_OUTPUT, OpenRun
from workbench.runlog.otel import Tracing
from workbench.runlog.redact import redacted_run
from workbench.runlog.schema import RunRecord
from workbench.runlog.shared import get_runlog
from workbench.runlog.spans import Attributes, RunLogSpanProcessor

if TYPE_CHECKING:
    from workbench.runlog.writer import RunLog

_FINISHED_MEMORY = 10_000
_ENDED_MEMORY = 256


class RunsInFlight:
    """The bookkeeping half of :class:`~workbench.runlog.callback.RunLogCallback`: state keyed by root run id,
    guarded by one lock; the callbacks that feed it are the handler's."""

    def __init__(self, runlog: RunLog | None) -> None:
        self._runlog = runlog
        self._given = runlog is not None
        # Held for microseconds, CPU only. An RLock also keeps langgraph dev's blockbuster (which flags a contended
        # threading.Lock acquired on the event loop) from failing a callback when a sync node's thread holds it.
        self._lock = threading.RLock()
        self._open: dict[UUID, OpenRun] = {}
        self._root_of: dict[UUID, UUID] = {}
        self._finished: OrderedDict[UUID, None] = OrderedDict()
        self._ended: OrderedDict[UUID, RunRecord] = OrderedDict()
        """The last rows logged for runs that ended, so one can be logged again as what its client was told."""
        self._tracing: Tracing | None = None
        self._spans = RunLogSpanProcessor(lambda: self.runlog)

    @property
    def tracing(self) -> Tracing:
        """The tracer this handler's spans are recorded with (built on the first run): its spans go to
        :attr:`runlog` and to this process's OTLP export, if any (see :mod:`workbench.runlog.otel`)."""
        if self._tracing is None:
            self._tracing = Tracing(self._spans)
        return self._tracing

    @property
    def runlog(self) -> RunLog:
        """The run log written to: the one given, else the process-wide one (built on first use)."""
        if self._runlog is None or (self._runlog.closed and not self._given):
            self._runlog = get_runlog()  # the process-wide one, again after a server's stop closed it
        return self._runlog

    def knows(self, run_id: str | UUID) -> bool:
        """Whether run ``run_id`` started here (it is open, or was logged as finished)."""
        key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
        with self._lock:
            return key in self._open or key in self._finished

    def open_run_ids(self) -> list[str]:
        """Ids of the runs started and not yet finished."""
        with self._lock:
            return [run.record.run_id for run in self._open.values()]

    def abort(self, run_id: str | UUID, status: str = "aborted", error: str | None = "aborted") -> bool:
        """Log the open run ``run_id`` as finished with ``status``.

        If it already ended as 'aborted' (its task was cancelled) and ``status`` differs, its row is logged again
        with ``status`` and ``error`` (once). False when there was nothing to do.
        """
        key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
        if self._finish(key, status, error, None):
            return True
        with self._lock:
            record = self._ended.get(key)
            if record is None or record.status != "aborted" or record.status == status:
                return False
        return self.relog(key, status, error)

    async def saved(self, run_id: str | UUID) -> None:
        """Wait until the ended run ``run_id`` is crash-safe in the run log, before its client hears ``done``; when
        it cannot be (a full disk), log it as the error the client is about to hear and raise
        :class:`~workbench.errors.StorageUnavailable`."""
        try:
            await self.runlog.require_durable()
        except StorageUnavailable as exc:
            self.relog(run_id, "error", exc.code)
            raise

    def relog(self, run_id: str | UUID, status: str, error: str | None) -> bool:
        """Log the ended run ``run_id`` again with ``status`` and ``error``: what its client was told when that
        differs from how the graph ended (an ``ok`` run that could not be saved is an error to its client). False
        when the run is not among the last ones ended here."""
        key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
        with self._lock:
            record = self._ended.pop(key, None)
        if record is None:
            return False
        self._log_run(dataclasses.replace(record, status=status, error=error))
        return True

    def settle(self, unseen: RunRecord) -> None:
        """Finish run ``unseen.run_id`` with its status and error if it is still open (one that ended keeps its
        row); a run this handler never saw (stopped before its graph started) is logged as ``unseen``."""
        if self.knows(unseen.run_id):
            self.abort(unseen.run_id, status=unseen.status, error=unseen.error)
        else:
            self._log_run(unseen)

    def finish_open_runs(self, status: str = "aborted", error: str | None = "aborted") -> list[str]:
        """Log every still-open run as finished with ``status``; return their ids."""
        with self._lock:
            keys = list(self._open)
        return [str(key) for key in keys if self._finish(key, status, error, None)]

    # -- bookkeeping -------------------------------------------------------------------------------------

    def _log_run(self, record: RunRecord, *, last: bool = False) -> None:
        """Queue a copy of ``record``'s row without audio or binary data, with the run's spans held for it (all of
        them with its final row, ``last``; later spans are written as they end): the one way a row leaves here."""
        spans = self._spans.take(record.run_id) if last else self._spans.overdue(record.run_id)
        self.runlog.log_records([redacted_run(record), *spans])

    def _finish(self, root_id: UUID, status: str, error: str | None, outputs: Any) -> bool:
        with self._lock:
            run = self._open.pop(root_id, None)
            if run is None:
                return False
            for run_id in (*run.children, root_id):
                self._root_of.pop(run_id, None)
                self._remember_finished(run_id)
            if isinstance(outputs, dict):
                if isinstance(outputs.get("model"), str):
                    run.note_model(outputs["model"], FROM_OUTPUT)
                if outputs.get("retrieved_docs") is not None:
                    run.record.retrieved = retrieved_docs(outputs["retrieved_docs"])
            if outputs is not None:
                run.record.output = output_text(outputs)
            ended = Attributes().text("workbench.error", error) if error else Attributes()
            record = run.finish(status, error, ended.done())
            self._ended[root_id] = record
            if len(self._ended) > _ENDED_MEMORY:
                self._ended.popitem(last=False)
        self._log_run(record, last=True)
        return True

    def _child(self, run_id: UUID, parent_run_id: UUID | None) -> OpenRun | None:
        """The open run that ``parent_run_id`` belongs to, now also owning ``run_id`` (lock held)."""
        root_id = self._root_of.get(parent_run_id) if parent_run_id is not None else None
        run = self._open.get(root_id) if root_id is not None else None
        if run is not None and root_id is not None:
            self._root_of[run_id] = root_id
            run.children.add(run_id)
        elif parent_run_id in self._finished:
            self._remember_finished(run_id)
        return run

    def _run_of(self, run_id: UUID) -> OpenRun | None:
        root_id = self._root_of.get(run_id)
        return self._open.get(root_id) if root_id is not None else None

    def _open_child(
        self, run_id: UUID, parent_run_id: UUID | None, kind: str, name: str, attributes: dict[str, Any]
    ) -> bool:
        with self._lock:
            run = self._child(run_id, parent_run_id)
            if run is not None:
                run.open_span(run_id, parent_run_id, kind, name, attributes)
            return run is not None

    def _close_child(
        self, run_id: UUID, status: str, error: str | None = None, attributes: dict[str, Any] | None = None
    ) -> None:
        with self._lock:
            run = self._run_of(run_id)
            if run is not None:
                run.close_span(run_id, status, error if status == "error" else None, attributes)

    # -- steps a node marks itself (see workbench.runlog.steps) ------------------------------------------

    def start_step(self, key: UUID, parent: UUID, kind: str, name: str, attributes: dict[str, Any]) -> bool:
        """Open a span for a step inside the run that ``parent`` (a LangChain run id, or another step's key)
        belongs to; False when that run is not open here."""
        return self._open_child(key, parent, kind, name, attributes)

    def end_step(self, key: UUID, status: str, error: str | None, attributes: dict[str, Any]) -> None:
        self._close_child(key, status, error, attributes)

    def _remember_finished(self, run_id: UUID) -> None:
        self._finished[run_id] = None
        if len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)

"""Audit tasks: run the repo-audit graph in the background, fan its events out to watchers, keep the record.

- :func:`~workbench.tasks.runner.run_audit` drives one audit through the graph (the CLI uses it directly).
- :class:`TaskManager` (the server's) validates a request before anything starts, queues the task (a bounded
  number run at once, a bounded number wait: ``audit_max_concurrent``, ``audit_max_queued``), numbers and
  timestamps its events (:mod:`workbench.audit.task_events`), replays them to late subscribers before the live
  ones, and writes the task, its findings, its events and the repository to the run log. It keeps the
  ``audit_tasks_kept`` most recently finished tasks in memory; older ones are served from the run log
  (:mod:`workbench.audit.task_history`). Tasks found queued or running at startup were cut off by a stop and are
  marked ``interrupted``: read back, they say whether they had started, leave no agent pending or running, and
  their events end with a ``task.error`` even when the process was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from graphs.repo_audit import cleanup
from graphs.repo_audit_state import AuditContext, AuditInput
from workbench.audit.models import AuditReport
from workbench.audit.records import public_status, queued_task, record_report, stop_task, task_rows
from workbench.audit.task_events import log_row, numbered, track
from workbench.audit.task_history import logged_events, logged_recent, logged_report, logged_status
from workbench.errors import WorkbenchError
from workbench.runlog import RunLog, RunLogCallback
from workbench.runlog.recovery import Recovery
from workbench.runlog.schema import TaskRecord
from workbench.runlog.writer import utcnow
from workbench.runtime import GraphRuntime, LocalRuntime
from workbench.settings import Settings
from workbench.tasks.runner import run_audit, validate_request

log = logging.getLogger(__name__)

TERMINAL = frozenset({"completed", "partial", "failed", "cancelled", "interrupted"})


class TooManyTasks(WorkbenchError):
    """As many audits wait for a slot as ``audit_max_queued`` allows."""

    code = "too_many_tasks"


@dataclass
class Task:
    record: TaskRecord
    context: AuditContext
    agent_timeouts: dict[str, float] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    watchers: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)
    report: AuditReport | None = None
    runner: asyncio.Task[None] | None = None
    plan: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.record.status in TERMINAL


def _remove_checkouts(recovery: Recovery, settings: Settings) -> None:
    for task_id in recovery.tasks:
        cleanup(task_id, settings)


class TaskManager:
    """Background audit tasks of one server process (the graph runs on ``runtime``: here, or on a LangGraph Server
    as a background run whose stream this process joins and fans out)."""

    def __init__(
        self,
        settings: Settings,
        runlog: RunLog,
        callback: RunLogCallback | None = None,
        runtime: GraphRuntime | None = None,
    ) -> None:
        self.settings = settings
        self.runlog = runlog
        self.callback = callback or RunLogCallback(runlog)
        self.runtime = runtime or LocalRuntime(None)
        self._tasks: dict[str, Task] = {}
        self._finished: dict[str, None] = {}
        """Ids of the finished tasks still in ``_tasks``, oldest first."""
        self._slots = asyncio.Semaphore(settings.audit_max_concurrent)
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> int:
        """Wait for the run log's recovery of stopped processes (it marks their queued and running tasks
        interrupted, never a live process's) and remove those tasks' checkouts, now and whenever a later recovery
        finds more; returns how many tasks the first one interrupted."""
        recovery = await asyncio.to_thread(self._follow_recoveries)
        return len(recovery.tasks) if recovery is not None else 0

    def _follow_recoveries(self) -> Recovery | None:
        """In a worker thread: the first recovery, once it ran; its checkouts (and later ones') removed here."""
        recovery = self.runlog.wait_recovered()
        # runs at once for a recovery already done: removes files
        self.runlog.on_recovery(functools.partial(_remove_checkouts, settings=self.settings))
        return recovery

    async def close(self) -> None:
        """Stop running tasks (they are recorded as interrupted) and wait for them."""
        self._closing = True
        active = [(t, t.runner) for t in self._tasks.values() if t.runner is not None and not t.runner.done()]
        for _, runner in active:
            runner.cancel()
        await asyncio.gather(*(runner for _, runner in active), return_exceptions=True)
        for task, _ in active:
            self._end_unstarted(task)

    # -- requests -------------------------------------------------------------------------------------------

    def create(
        self,
        repo: str,
        ref: str | None = None,
        agents: list[str] | None = None,
        *,
        agent_timeouts: dict[str, float] | None = None,
        model: str | None = None,
    ) -> Task:
        """Validate and queue a task; returns at once.

        Raises TargetError / InvalidRequest for bad input, TooManyTasks when ``audit_max_queued`` audits wait.
        """
        chosen = validate_request(repo, ref, agents, agent_timeouts, self.settings)
        active = len(self._tasks) - len(self._finished)
        if active >= self.settings.audit_max_concurrent + self.settings.audit_max_queued:
            raise TooManyTasks(
                f"{self.settings.audit_max_queued} audits are already waiting to start (audit_max_queued); "
                "wait for a running audit to finish, then try again."
            )
        record = queued_task(repo, ref, chosen)
        task = Task(record, AuditContext(model=model), agent_timeouts)
        self._tasks[record.task_id] = task
        self.runlog.log_records([record])
        task.runner = asyncio.create_task(self._run(task), name=f"audit:{record.task_id}")
        return task

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    async def status(self, task_id: str) -> dict[str, Any] | None:
        """The task's public status: from memory while this process knows it, else from the run log."""
        task = self._tasks.get(task_id)
        return public_status(task.record) if task is not None else await logged_status(self.runlog, task_id)

    async def report(self, task_id: str) -> AuditReport | None:
        task = self._tasks.get(task_id)
        return task.report if task is not None else await logged_report(self.runlog, task_id)

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest tasks first: this process's, then older ones from the run log."""
        logged = await logged_recent(self.runlog, limit)
        out = [public_status(task.record) for task in self._tasks.values()]
        seen = {item["task_id"] for item in out}
        out += [status for task_id, status in logged.items() if task_id not in seen]
        out.sort(key=lambda item: item["created_at"] or "", reverse=True)
        return out[:limit]

    async def known(self, task_id: str) -> bool:
        return task_id in self._tasks or await self.status(task_id) is not None

    async def cancel(self, task_id: str) -> bool:
        task = self._tasks.get(task_id)
        if task is None or task.done or task.runner is None:
            return False
        task.runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task.runner
        self._end_unstarted(task)
        return True

    async def subscribe(self, task_id: str) -> AsyncIterator[dict[str, Any]]:
        """The task's events so far, then live ones until it ends (a finished task: its logged events)."""
        task = self._tasks.get(task_id)
        if task is None:
            for event in await logged_events(self.runlog, task_id):
                yield event
            return
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        backlog = list(task.events)  # copied and registered without an await between: nothing is missed
        if not task.done:
            task.watchers.add(queue)
        try:
            for event in backlog:
                yield event
            if task.done:
                return
            while (live := await queue.get()) is not None:
                yield live
        finally:
            task.watchers.discard(queue)

    # -- running --------------------------------------------------------------------------------------------

    def _publish(self, task: Task, event: dict[str, Any]) -> None:
        event = numbered(task.record.task_id, len(task.events), event)
        track(task.record, task.plan, event)
        if event["type"] == "task.progress":
            event["percent"] = task.record.progress
        task.events.append(event)
        for queue in task.watchers:
            queue.put_nowait(event)
        self.runlog.log_records([log_row(task.record.task_id, event), task.record])

    async def _run(self, task: Task) -> None:
        record = task.record
        request: AuditInput = {
            "repo": record.repo,
            "ref": record.ref,
            "agents": record.agents,
            "task_id": record.task_id,
            "agent_timeouts": task.agent_timeouts,
        }
        try:
            async with self._slots:
                report = await run_audit(
                    request,
                    lambda event: self._publish(task, event),
                    context=task.context,
                    callback=self.callback,
                    run_id=record.run_id,
                    runtime=self.runtime,
                    settings=self.settings,
                )
            task.report = report
            record_report(record, report)
        except asyncio.CancelledError:
            self._stopped(task)
            raise
        except Exception as exc:
            code, message = self._failure(record.task_id, exc)
            record.status, record.error = "failed", message
            self._publish(task, {"type": "task.error", "level": "task", "code": code, "message": record.error})
        finally:
            await asyncio.to_thread(cleanup, record.task_id, self.settings)
            self._finish(task)

    def _stopped(self, task: Task) -> None:
        """A task stopped by a cancel, or by the server stopping: says which, and whether it had started."""
        why = stop_task(task.record, server_stopping=self._closing)
        self._publish(task, {"type": "task.error", "level": "task", "message": why})

    def _end_unstarted(self, task: Task) -> None:
        """End a task whose runner was cancelled before it ever ran (so none of its handlers did)."""
        if not task.done:
            self._stopped(task)
            self._finish(task)

    def _finish(self, task: Task) -> None:
        task.record.ended_at = utcnow()
        self._persist(task)
        for queue in task.watchers:
            queue.put_nowait(None)
        self._forget_oldest(task)

    @staticmethod
    def _failure(task_id: str, exc: Exception) -> tuple[str, str]:
        """The code and message a failed task reports: the project's own errors say what to do; anything else
        is logged here and reported without its details (they may name server paths)."""
        if isinstance(exc, WorkbenchError) and str(exc):
            log.info("audit %s failed: %s", task_id, exc)
            return getattr(exc, "code", None) or "audit_failed", str(exc)
        log.error("audit %s failed", task_id, exc_info=exc)
        return "audit_failed", f"the audit failed; the server log has the details for task {task_id}"

    def _persist(self, task: Task) -> None:
        self.runlog.log_records(task_rows(task.record, task.report, self.settings))

    def _forget_oldest(self, task: Task) -> None:
        """Count ``task`` as finished; drop the oldest finished tasks beyond ``audit_tasks_kept`` from memory
        (the run log has everything they held: status, report, events)."""
        self._finished[task.record.task_id] = None
        while len(self._finished) > self.settings.audit_tasks_kept:
            oldest = next(iter(self._finished))
            del self._finished[oldest]
            self._tasks.pop(oldest, None)

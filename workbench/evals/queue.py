"""The eval runs a server's UI has queued: one runs at a time per process (MLflow and the models are shared),
each client address may have at most ``eval_max_per_client`` queued or running, and each can be cancelled.

Cancelling a queued run drops it at once (its slot is free again); cancelling the running one sets its
``cancel`` event, which :func:`~workbench.evals.runner.run_variant` checks between cases: the run stops after the
case in progress and its MLflow run ends as ``KILLED`` with the cases done so far.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from workbench.errors import WorkbenchError


class TooManyEvals(WorkbenchError):
    """A client already has as many eval runs queued or running as ``eval_max_per_client`` allows."""

    code = "rate_limited"


@dataclass(eq=False)
class EvalJob:
    """One queued or running eval."""

    client: str
    job_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: Literal["queued", "running", "done"] = "queued"
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set by :meth:`EvalQueue.cancel`; the runner stops between cases once it is."""
    task: asyncio.Task[Any] | None = None


class EvalQueue:
    """Eval runs one after another, in the order they were asked for, with a bound per client."""

    def __init__(self) -> None:
        self._turn = asyncio.Lock()  # FIFO: waiters acquire in the order they came
        self._jobs: dict[str, EvalJob] = {}

    def active(self, client: str | None = None) -> list[EvalJob]:
        """Queued and running jobs (of ``client``, or everyone's), oldest first."""
        return [job for job in self._jobs.values() if client is None or job.client == client]

    def ahead(self, job: EvalJob) -> int:
        """How many runs will go before ``job``: the running one and those queued earlier."""
        jobs = list(self._jobs.values())
        return jobs.index(job) if job in jobs else 0

    def get(self, job_id: str | None) -> EvalJob | None:
        return self._jobs.get(job_id) if job_id else None

    def submit(self, client: str, work: Callable[[EvalJob], Awaitable[Any]], *, limit: int) -> EvalJob:
        """Queue ``work(job)`` for ``client``; it runs as a background task once every earlier run has ended (the
        page that asked may go away). Raises :class:`TooManyEvals` when the client has ``limit`` runs already."""
        mine = len(self.active(client))
        if mine >= limit:
            runs = "eval run" if mine == 1 else "eval runs"
            raise TooManyEvals(f"you already have {mine} {runs} queued or running; wait for one to finish or cancel it")
        job = EvalJob(client)
        self._jobs[job.job_id] = job
        job.task = asyncio.create_task(self._run(job, work))
        job.task.add_done_callback(lambda _: self._forget(job))
        return job

    def cancel(self, job: EvalJob) -> Literal["dropped", "stopping", "ended"]:
        """Drop a queued job at once; ask the running one to stop after its current case."""
        if job.state == "done":
            return "ended"
        job.cancel.set()
        if job.state == "queued":
            self._forget(job)
            if job.task is not None:
                job.task.cancel()
            return "dropped"
        return "stopping"

    async def _run(self, job: EvalJob, work: Callable[[EvalJob], Awaitable[Any]]) -> Any:
        async with self._turn:
            if job.cancel.is_set():
                raise asyncio.CancelledError
            job.state = "running"
            return await work(job)

    def _forget(self, job: EvalJob) -> None:
        job.state = "done"
        self._jobs.pop(job.job_id, None)

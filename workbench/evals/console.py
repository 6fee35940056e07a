"""Evals started, followed, cancelled and looked up from a front end (the UI's Evals and Runs tabs).

An eval runs on the server's event loop, where the models it shares with chat and voice live (their async HTTP
clients are bound to that loop), as a background task: closing the page does not leave a half-logged MLflow run.
MLflow's slow first steps (import, store migrations, the experiment) happen first in a worker thread, and evals
run one at a time per process, in the order asked for (:class:`~workbench.evals.queue.EvalQueue`): each client
may have ``eval_max_per_client`` queued or running, and cancelling drops a queued one or stops the running one
after its current case (its MLflow run ends as KILLED with the cases done).

The MLflow reads here block: call them in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from workbench.evals.cases import load_promoted, promote
from workbench.evals.plan import EvalPlan
from workbench.evals.queue import EvalJob, EvalQueue
from workbench.evals.runner import SuiteRun, run_variant
from workbench.evals.suite import Case, Suite, Variant
from workbench.evals.tracking import client, experiment_id, experiment_name
from workbench.resources import Resources
from workbench.runlog import get_runlog
from workbench.settings import Settings

RECENT_RUNS = 50

Report = Callable[[int, str, int, int], None]
"""``report(variant index, message, cases done, cases)``."""


# MLflow


def run_label(name: str | None, start_ms: int | None, run_id: str) -> str:
    when = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if start_ms else "?"
    return f"{name or 'run'} · {when} · {run_id[:8]}"


def recent_mlflow_runs(settings: Settings, suite: str) -> list[tuple[str, str]]:
    """(label, run id) of the suite's latest MLflow runs, newest first."""
    mlflow_client = client(settings)
    experiment = mlflow_client.get_experiment_by_name(experiment_name(suite))
    if experiment is None:
        return []
    runs = mlflow_client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                                     max_results=RECENT_RUNS)  # fmt: skip
    return [(run_label(r.info.run_name, r.info.start_time, r.info.run_id), r.info.run_id) for r in runs]


def prepare_tracking(settings: Settings, suite: str) -> None:
    """MLflow imported, its store migrated and the suite's experiment made, before the eval uses them."""
    import pandas  # noqa: F401  (mlflow.log_table imports it)

    experiment_id(settings, suite)


# Queued evals


async def run_variants(suite: Suite, variants: list[Variant], cases: list[Case], resources: Resources, job: EvalJob,
                       report: Report) -> list[SuiteRun]:  # fmt: skip
    """The queued job's work: each variant as an MLflow run on ``resources`` (the server's clients), in order, until
    one is cancelled."""
    await asyncio.to_thread(prepare_tracking, resources.settings, suite.name)
    done: list[SuiteRun] = []
    for index, variant in enumerate(variants):
        if job.cancel.is_set():
            break

        def progress(message: str, step: int, total: int, index: int = index) -> None:
            report(index, message, step, total)

        run = await run_variant(suite, variant, resources, cases=cases, progress=progress, cancel=job.cancel)
        done.append(run)
        if run.cancelled:
            break
    return done


@dataclass
class LiveEval:
    """A queued eval as its page follows it: where it is in the queue, its progress, how it ended."""

    plan: EvalPlan
    job: EvalJob
    ahead: int
    """Evals that go before it (the running one and those queued earlier) when it was queued."""
    updates: asyncio.Queue[tuple[int, str, int, int] | None]
    """What the runner reports, in order; None once the job has ended."""

    async def progress(self) -> AsyncIterator[tuple[float, str]]:
        """(fraction done, where it is) as the runner reports it, until the job ends."""
        count = len(self.plan.variants)
        while (update := await self.updates.get()) is not None:
            index, message, step, total = update
            fraction = (index + (step / total if total else 1)) / count
            yield fraction, f"variant {index + 1}/{count} · {step}/{total} cases · {message}"

    def outcome(self) -> list[SuiteRun] | None:
        """The runs logged, once the job has ended; None when it was cancelled before it ran (or by a server
        shutting down). Raises what the eval raised."""
        task = self.job.task
        assert task is not None and task.done()
        return None if task.cancelled() else task.result()

    def completed(self, runs: list[SuiteRun]) -> bool:
        """Whether every variant ran to its end (not cancelled on the way)."""
        return len(runs) == len(self.plan.variants) and not any(run.cancelled for run in runs)


def start_eval(evals: EvalQueue, client_key: str, plan: EvalPlan, resources: Resources) -> LiveEval:
    """Queue the plan for ``client_key`` (on the running loop), to run on ``resources``; it runs to the end even if
    the page goes away. Raises :class:`~workbench.evals.queue.TooManyEvals` past the client's limit."""
    loop = asyncio.get_running_loop()
    updates: asyncio.Queue[tuple[int, str, int, int] | None] = asyncio.Queue()

    def report(index: int, message: str, step: int, total: int) -> None:
        loop.call_soon_threadsafe(updates.put_nowait, (index, message, step, total))

    job = evals.submit(client_key, lambda job: run_variants(plan.suite, plan.variants, plan.cases, resources, job,
                       report), limit=resources.settings.eval_max_per_client)  # fmt: skip
    assert job.task is not None
    job.task.add_done_callback(lambda _: updates.put_nowait(None))
    return LiveEval(plan, job, evals.ahead(job), updates)


def cancel_eval(evals: EvalQueue, client_key: str, job_id: str | None) -> str:
    """Cancel the page's eval (``job_id``), else the client's latest one; what happened, for the status line."""
    job = evals.get(job_id)
    if job is None or job.client != client_key:
        mine = evals.active(client_key)
        job = mine[-1] if mine else None
    if job is None:
        return "Nothing of yours is queued or running."
    return {
        "dropped": "⏹️ Cancelled before it started.",
        "stopping": "⏹️ Stopping after the case in progress; the cases done so far are logged to MLflow (KILLED).",
        "ended": "That eval has already ended.",
    }[evals.cancel(job)]


# Runs promoted to cases


def promote_logged_run(settings: Settings, run_id: str, *, include_output: bool) -> tuple[str, Case, int]:
    """Promote a logged run to an eval case (the run log written out first, so a run just ended is found):
    (its suite, the case, how many promoted cases the suite has now). Raises
    :class:`~workbench.evals.cases.PromotionError`."""
    get_runlog().flush()
    suite, case = promote(settings, run_id, include_output=include_output)
    return suite, case, len(load_promoted(settings, suite))

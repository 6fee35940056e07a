"""Eval runs from the UI are queued per client with a limit and can be cancelled: a queued one is dropped at once,
the running one stops between cases and its MLflow run ends as KILLED with the cases done so far (over a real
MLflow sqlite store in a temporary home, with a fake suite)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workbench.evals.compare import case_table
from workbench.evals.console import cancel_eval, run_variants
from workbench.evals.queue import EvalJob, EvalQueue, TooManyEvals
from workbench.evals.suite import Case, CaseResult, Variant
from workbench.evals.tracking import client
from workbench.resources import Resources
from workbench.settings import Settings
from workbench.ui.context import client_key
from workbench.ui.evals_view import cancelled_line


class GatedSuite:
    """Each case waits until the test lets it through (``gate``), so a test can act while a case runs."""

    name = "gated"
    description = "a suite whose cases wait for the test"
    defaults: dict[str, Any] = {"model": "extractive"}

    def __init__(self, n: int = 5) -> None:
        self.n = n
        self.gate = asyncio.Queue[None]()
        self.running = asyncio.Queue[str]()
        self.ran: list[tuple[str, str]] = []

    def cases(self, settings: Settings) -> list[Case]:
        return [Case(f"c{i}", {"i": i}) for i in range(self.n)]

    async def setup(self, resources: Resources, variant: Variant) -> dict[str, Any]:
        return {}

    async def run_case(self, case: Case, variant: Variant, resources: Resources) -> CaseResult:
        self.running.put_nowait(case.id)
        await self.gate.get()
        self.ran.append((variant.name, case.id))
        return CaseResult(case.id, "pass", {"score": 1.0}, f"out-{case.id}")

    def aggregate(self, results: list[CaseResult]) -> dict[str, float]:
        return {"score": sum(r.metrics["score"] for r in results) / len(results)} if results else {}


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Settings(home=tmp_path / "home")


async def blocked(job: EvalJob, release: asyncio.Event, started: list[str]) -> str:
    started.append(job.job_id)
    await release.wait()
    return job.job_id


async def drain(evals: EvalQueue) -> None:
    """Wait for every job left (the test released them)."""
    await asyncio.gather(*(job.task for job in evals.active() if job.task), return_exceptions=True)


async def test_a_client_past_its_limit_is_refused_and_others_are_not():
    evals, release, started = EvalQueue(), asyncio.Event(), list[str]()
    first = evals.submit("10.0.0.1", lambda job: blocked(job, release, started), limit=2)
    evals.submit("10.0.0.1", lambda job: blocked(job, release, started), limit=2)
    for _ in range(6):  # the probe sent 8 from one page
        with pytest.raises(TooManyEvals) as refused:
            evals.submit("10.0.0.1", lambda job: blocked(job, release, started), limit=2)
        assert str(refused.value) == (
            "you already have 2 eval runs queued or running; wait for one to finish or cancel it"
        )
    other = evals.submit("10.0.0.2", lambda job: blocked(job, release, started), limit=2)
    await asyncio.sleep(0)
    assert started == [first.job_id]  # one at a time, in order
    assert evals.ahead(other) == 2 and len(evals.active()) == 3
    release.set()
    await drain(evals)
    assert evals.active() == [] and len(started) == 3


async def test_cancelling_a_queued_run_frees_its_slot_at_once():
    evals, release, started = EvalQueue(), asyncio.Event(), list[str]()
    running = evals.submit("me", lambda job: blocked(job, release, started), limit=2)
    queued = evals.submit("me", lambda job: blocked(job, release, started), limit=2)
    await asyncio.sleep(0)
    assert cancel_eval(evals, "me", queued.job_id) == "⏹️ Cancelled before it started."
    assert evals.active("me") == [running]
    evals.submit("me", lambda job: blocked(job, release, started), limit=2)  # the freed slot
    release.set()
    await drain(evals)
    assert queued.task is not None and queued.task.cancelled() and queued.job_id not in started
    assert len(started) == 2


async def test_cancel_reaches_only_the_clients_own_runs():
    evals, release, started = EvalQueue(), asyncio.Event(), list[str]()
    theirs = evals.submit("them", lambda job: blocked(job, release, started), limit=2)
    assert cancel_eval(evals, "me", theirs.job_id) == "Nothing of yours is queued or running."
    assert not theirs.cancel.is_set()
    mine = evals.submit("me", lambda job: blocked(job, release, started), limit=2)
    assert cancel_eval(evals, "me", None).startswith("⏹️ Cancelled")  # a fresh page: the client's latest
    assert mine.cancel.is_set() and not theirs.cancel.is_set()
    release.set()
    await drain(evals)


def test_runs_count_against_the_client_address():
    request = type("Request", (), {"client": type("Client", (), {"host": "192.0.2.7"})(), "session_hash": "abc"})()
    assert client_key(request) == "192.0.2.7"  # every page and tab of one address together


async def test_cancelling_the_running_eval_stops_it_between_cases_and_ends_its_mlflow_run_killed(settings):
    suite = GatedSuite(n=5)
    evals = EvalQueue()
    progress: list[tuple[int, str, int, int]] = []
    variants = [Variant("a"), Variant("b")]
    resources = Resources(settings)
    job = evals.submit("me", lambda job: run_variants(suite, variants, suite.cases(settings), resources, job,
                                                      lambda *update: progress.append(update)), limit=2)  # fmt: skip
    for _ in range(2):
        await asyncio.wait_for(suite.running.get(), 60)
        suite.gate.put_nowait(None)
    assert await asyncio.wait_for(suite.running.get(), 60) == "c2"
    assert cancel_eval(evals, "me", job.job_id).startswith("⏹️ Stopping after the case in progress")
    suite.gate.put_nowait(None)  # c2 ends; c3 never starts
    assert job.task is not None
    (run,) = await asyncio.wait_for(job.task, 60)
    assert suite.ran == [("a", "c0"), ("a", "c1"), ("a", "c2")]  # the second variant never ran
    assert run.cancelled and [r.case_id for r in run.results] == ["c0", "c1", "c2"]
    logged = client(settings).get_run(run.mlflow_run_id)
    assert logged.info.status == "KILLED"
    assert logged.data.metrics["cases"] == 3 and logged.data.tags["workbench.stopped"] == "cancelled after 3 of 5 cases"
    assert [row["case_id"] for row in case_table(settings, run.mlflow_run_id)] == ["c0", "c1", "c2"]
    assert evals.active() == []
    assert "stopped after 3 case(s)" in cancelled_line([run], 2) and "KILLED" in cancelled_line([run], 2)
    assert progress[-1][1] == "a: cancelled"


async def test_a_run_whose_task_is_cancelled_ends_killed(settings):
    """A server shutting down cancels the task mid-case: the MLflow run is not left RUNNING."""
    suite = GatedSuite(n=3)
    evals = EvalQueue()
    resources = Resources(settings)
    job = evals.submit("me", lambda job: run_variants(suite, [Variant("a")], suite.cases(settings), resources, job,
                                                      lambda *update: None), limit=2)  # fmt: skip
    await asyncio.wait_for(suite.running.get(), 60)
    assert job.task is not None
    job.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job.task
    experiment = client(settings).get_experiment_by_name("workbench/gated")
    assert experiment is not None
    (logged,) = client(settings).search_runs([experiment.experiment_id])
    assert logged.info.status == "KILLED"


def test_gradio_hands_the_request_to_the_events_that_count_and_cancel_runs():
    """Gradio finds a ``gr.Request`` parameter by its resolved type hint: one it cannot resolve (a name imported
    only for type checking) makes every page's runs count as one anonymous client's."""
    import gradio as gr
    from gradio.utils import get_type_hints

    from workbench.ui import evals_tab

    with gr.Blocks() as demo:
        evals_tab.render(object(), demo)  # type: ignore[arg-type]
    events = {fn.name: fn.fn for fn in demo.fns.values()}
    for name in ("run_eval", "cancel_run"):
        assert get_type_hints(events[name]).get("request") is gr.Request, name

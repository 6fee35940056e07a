"""Run a suite under one or more variants, each as an MLflow run of the suite's experiment.

Every run logs the variant's parameters (model, prompt name and version, settings, graph version), the suite's
metrics, and a per-case table (``cases.json``: outcome, metrics, output, the case's DuckDB run id); prompt
versions used are linked to the run from MLflow's prompt registry.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.evals.repeats import repeat_metrics
from workbench.evals.suite import Case, CaseResult, Progress, Suite, Variant
from workbench.evals.tracking import configure, experiment_id, link_prompts
from workbench.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workbench.resources import Resources

MAX_PARAM_CHARS = 500


@dataclass
class SuiteRun:
    suite: str
    variant: Variant
    mlflow_run_id: str
    experiment_id: str
    params: dict[str, Any]
    metrics: dict[str, float]
    results: list[CaseResult] = field(default_factory=list)
    duration_s: float = 0.0
    status: str = "FINISHED"
    """MLflow's end status: ``FINISHED``, or ``KILLED`` when cancelled (``results`` then hold the cases done)."""

    @property
    def cancelled(self) -> bool:
        return self.status == "KILLED"


def _flat(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(v)[:MAX_PARAM_CHARS] for k, v in params.items() if v is not None}


def base_metrics(results: list[CaseResult]) -> dict[str, float]:
    """Cases, pass rate and errors; with repeats the pass rate is over every sample (each case weighs the same, as
    every case has the same number of samples) and ``cases`` counts distinct cases."""
    total = len(results)
    return {
        "cases": float(len({r.case_id for r in results})),
        "pass_rate": sum(r.outcome == "pass" for r in results) / total if total else 0.0,
        "errors": float(sum(r.outcome == "error" for r in results)),
    }


async def run_variant(
    suite: Suite,
    variant: Variant,
    resources: Resources,
    *,
    cases: list[Case] | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    repeats: int = 1,
) -> SuiteRun:
    """One MLflow run: ``suite`` over its cases under ``variant``, on ``resources`` (the process's clients, or a
    variant's own). A case that raises is an ``error`` row.

    MLflow is called with explicit run ids (never the thread's "active run"), in worker threads, so evals that
    share an event loop with a server neither block it nor log into each other's runs.

    ``cancel``, once set, stops the run before its next case: the cases done so far are logged (metrics and case
    table) and the MLflow run ends as ``KILLED``, tagged with how far it got; so does a run whose task is cancelled
    (a server shutting down), without the logging.

    ``repeats`` runs every case that many times in a row, each an independent sample (its own session and run;
    nothing is cached between them), and adds pass@k, pass^k and the flaky cases to the metrics
    (:mod:`workbench.evals.repeats`).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be 1 or more, not {repeats}")
    from mlflow import MlflowClient
    from mlflow.entities import Param

    settings = resources.settings
    await asyncio.to_thread(configure, settings)
    experiment = await asyncio.to_thread(experiment_id, settings, suite.name)
    cases = suite.cases(settings) if cases is None else cases
    started = time.perf_counter()
    extra = await suite.setup(resources, variant)
    prompt_uris: list[str] = list(extra.pop("prompt_uris", []))
    params = {**suite.defaults, **variant.params, **extra, "variant": variant.name, "suite": suite.name}
    params["cases_promoted"] = sum(c.source == "promoted" for c in cases)
    params["repeats"] = repeats
    client = MlflowClient()
    tags = {"workbench.suite": suite.name, "workbench.variant": variant.name}
    run = await asyncio.to_thread(client.create_run, experiment, tags=tags, run_name=f"{suite.name}:{variant.name}")
    run_id = run.info.run_id
    status = "FAILED"
    try:
        flat = _flat(params)
        await asyncio.to_thread(client.log_batch, run_id, params=[Param(k, v) for k, v in flat.items()])
        results: list[CaseResult] = []
        samples = [(case, repeat) for case in cases for repeat in range(repeats)]
        for index, (case, repeat) in enumerate(samples):
            if cancel is not None and cancel.is_set():
                break
            if progress:
                which = f" (sample {repeat + 1} of {repeats})" if repeats > 1 else ""
                progress(f"{variant.name}: case {case.id}{which}", index, len(samples))
            try:
                result = await suite.run_case(case, variant, resources)
            except Exception as exc:  # one broken case does not end the suite
                result = CaseResult(case.id, "error", error=f"{type(exc).__name__}: {exc}")
            result.repeat = repeat
            result.detail.setdefault("source", case.source)
            results.append(result)
        ended = "KILLED" if len(results) < len(samples) else "FINISHED"
        metrics = {**base_metrics(results), **suite.aggregate(results), **repeat_metrics(results, repeats)}
        metrics["duration_s"] = round(time.perf_counter() - started, 3)
        await asyncio.to_thread(_log_results, client, settings, run_id, metrics, results, prompt_uris)
        if ended == "KILLED":
            stopped = f"cancelled after {len(results)} of {len(samples)} cases"
            await asyncio.to_thread(client.set_tag, run_id, "workbench.stopped", stopped)
        status = ended
    except asyncio.CancelledError:
        status = "KILLED"
        raise
    finally:
        await asyncio.to_thread(client.set_terminated, run_id, status)
    if progress:
        progress(f"{variant.name}: {'cancelled' if status == 'KILLED' else 'done'}", len(results), len(samples))
    duration = time.perf_counter() - started
    return SuiteRun(suite.name, variant, run_id, experiment, params, metrics, results, duration, status)


def _log_results(
    client: MlflowClient,
    settings: Settings,
    run_id: str,
    metrics: dict[str, float],
    results: list[CaseResult],
    prompt_uris: list[str],
) -> None:
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    values = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None]
    client.log_batch(run_id, metrics=values)
    rows = [r.row() | {"source": r.detail.get("source", "bundled")} for r in results]
    columns = sorted({key for row in rows for key in row})
    mlflow.log_table({c: [row.get(c) for row in rows] for c in columns}, artifact_file="cases.json", run_id=run_id)
    if prompt_uris:
        link_prompts(settings, run_id, prompt_uris)
        client.set_tag(run_id, "workbench.prompts", ", ".join(prompt_uris))


async def run_suite(
    suite: Suite,
    variants: list[Variant],
    resources: Resources,
    *,
    progress: Progress | None = None,
    repeats: int = 1,
) -> list[SuiteRun]:
    """Each variant over the same cases, one MLflow run each, in order."""
    cases = suite.cases(resources.settings)
    return [await run_variant(suite, v, resources, cases=cases, progress=progress, repeats=repeats) for v in variants]

"""The Evals tab: run a suite over variants (models, prompt versions, settings) with live progress, see each
variant's metrics, and compare two MLflow runs: per metric whether the difference is real (the paired statistics and
their verdicts), and case by case, the cases whose outcome changed first with where their two runs part ways. Each
comparison is kept with run b in MLflow.

The tab lays out the components and wires their events; :mod:`workbench.evals.plan` turns its inputs into an eval,
:mod:`workbench.evals.console` queues, follows and cancels it (one at a time per process, ``eval_max_per_client``
per client address, on the server's event loop so closing the page leaves no half-logged MLflow run) and lists
the runs to compare, and :mod:`workbench.ui.evals_view` renders what comes back. The MLflow UI is not started
here: ``workbench mlflow`` serves it on loopback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd
from gradio.components import Component

from evals import SUITES
from workbench.audit.markdown import md_text
from workbench.evals.compare import Comparison, attach_divergences, compare_runs, log_comparison
from workbench.evals.console import cancel_eval, recent_mlflow_runs, start_eval
from workbench.evals.divergence import run_reader
from workbench.evals.plan import SuiteUnavailable, offered_models, plan_eval, prompt_versions, read_suite
from workbench.evals.queue import EvalQueue, TooManyEvals
from workbench.evals.tracking import tracking_uri, warm_in_background
from workbench.evals.variants import VariantError
from workbench.runlog import get_runlog
from workbench.ui.context import client_key
from workbench.ui.evals_view import (
    CASE_COLUMNS,
    CASE_TYPES,
    METRIC_COLUMNS,
    PARAM_COLUMNS,
    STAT_COLUMNS,
    cancelled_line,
    case_rows,
    comparison_summary,
    done_line,
    metric_table,
    metrics_table,
    mlflow_hint,
    param_table,
    progress_html,
    redact,
    starting_line,
    statistics_table,
    suite_markdown,
    suite_warning,
    variant_label,
    warning,
)

if TYPE_CHECKING:
    from workbench.settings import Settings
    from workbench.ui.context import UiServices

TITLE = "Evals"
log = logging.getLogger(__name__)


def keep_comparison(settings: Settings, comparison: Comparison) -> None:
    """The comparison kept with run b in MLflow (:func:`~workbench.evals.compare.log_comparison`); a store that
    refuses it costs the record, not the view: a warning in the server's log."""
    try:
        log_comparison(settings, comparison)
    except Exception as exc:
        log.warning("could not keep the comparison of %s and %s in MLflow: %s", comparison.run_a, comparison.run_b,
                    redact(exc))  # fmt: skip


def render(services: UiServices, demo: gr.Blocks) -> None:
    evals = EvalQueue()
    names = list(SUITES)
    with gr.Row():
        with gr.Column(scale=2):
            suite = gr.Dropdown(names, value=names[0], label="Suite", elem_id="evals-suite")
            description = gr.Markdown(elem_id="evals-description")
        with gr.Column(scale=3):
            models = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True, label="Models",
                                 info="none: the suite's default; several: one variant each",
                                 elem_id="evals-models")  # fmt: skip
            versions = gr.CheckboxGroup([], label="Prompt versions", elem_id="evals-prompt-versions")
            sets = gr.Textbox(label="Settings (key=value[,value] per line)", lines=2, placeholder="top_k=3,5",
                              elem_id="evals-settings")  # fmt: skip
            limit = gr.Number(None, label="Case limit (first N bundled cases; promoted cases always run)",
                              precision=0, minimum=0, elem_id="evals-limit")  # fmt: skip
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="evals-run")
                cancel = gr.Button("Cancel", variant="stop", elem_id="evals-cancel")
    job_id = gr.State(None)
    progress = gr.HTML(elem_id="evals-progress")
    status = gr.Markdown(elem_id="evals-status")
    metrics = gr.Dataframe(pd.DataFrame(columns=["metric"]), label="Metrics per variant", interactive=False,
                           elem_id="evals-metrics")  # fmt: skip
    gr.Markdown("### Compare two runs")
    with gr.Row():
        run_a = gr.Dropdown([], label="Run a", elem_id="evals-run-a", scale=3)
        run_b = gr.Dropdown([], label="Run b", elem_id="evals-run-b", scale=3)
        reload = gr.Button("Refresh", elem_id="evals-refresh", scale=0, min_width=100)
        compare = gr.Button("Compare", elem_id="evals-compare", scale=0, min_width=100)
    summary = gr.Markdown(elem_id="evals-compare-summary")
    stats = gr.Dataframe(pd.DataFrame(columns=STAT_COLUMNS), label="Metrics compared (b against a, paired over cases)",
                         interactive=False, wrap=True, elem_id="evals-compare-stats")  # fmt: skip
    cases = gr.Dataframe(pd.DataFrame(columns=CASE_COLUMNS), label="Cases (changed outcome first)",
                         datatype=CASE_TYPES, interactive=False, wrap=True, elem_id="evals-cases")  # fmt: skip
    params = gr.Dataframe(pd.DataFrame(columns=PARAM_COLUMNS), label="Params that differ", interactive=False,
                          wrap=True, elem_id="evals-params")  # fmt: skip
    with gr.Accordion("Run metrics (as each run logged them)", open=False):
        compared = gr.Dataframe(pd.DataFrame(columns=METRIC_COLUMNS), label="Run metrics", interactive=False,
                                elem_id="evals-compare-metrics")  # fmt: skip
    mlflow_line = gr.Markdown(elem_id="evals-mlflow")

    def settings() -> Settings:
        return services.resources().settings

    async def run_choices(name: str, a: str | None = None, b: str | None = None) -> tuple[dict, dict]:
        try:
            choices = await asyncio.to_thread(recent_mlflow_runs, settings(), name)
        except Exception as exc:  # an unreachable MLflow server: say so, keep the tab usable
            unusable = f"MLflow: {redact(exc)}"
            return gr.update(choices=[], value=None, info=unusable), gr.update(choices=[], value=None)
        ids = [v for _, v in choices]
        first = a if a in ids else (ids[1] if len(ids) > 1 else None)
        second = b if b in ids else (ids[0] if ids else None)
        return gr.update(choices=choices, value=first), gr.update(choices=choices, value=second)

    async def describe(name: str) -> tuple:
        # outputs: description, versions
        try:
            chosen, listed = await asyncio.to_thread(read_suite, name, settings())
        except SuiteUnavailable as exc:  # the other suites stay usable
            return suite_warning(exc), gr.update(choices=[], value=[], visible=False)
        offered = prompt_versions(chosen)
        return suite_markdown(chosen, listed), gr.update(choices=offered, value=[], visible=bool(offered))

    async def show_suite(name: str) -> tuple:
        # outputs: description, versions, run_a, run_b
        return *await describe(name), *await run_choices(name)

    async def on_load(name: str) -> tuple:
        """The pickers at once; the MLflow runs to compare come after (see load_runs)."""
        available = offered_models(services.resources().models.available())
        description_, versions_ = await describe(name)
        loading = "⏳ Loading MLflow (the first time after the server starts)…"
        return gr.update(choices=available), loading, description_, versions_

    async def load_runs(name: str) -> tuple:
        """The runs to compare once MLflow is loaded (the server loads it in the background after start)."""
        line = mlflow_hint(tracking_uri(settings()))
        try:
            await asyncio.wrap_future(warm_in_background(settings()))
        except Exception as exc:  # an unreachable MLflow server: say so, keep the tab usable
            unusable = f"MLflow: {redact(exc)}"
            return f"⚠️ {md_text(unusable)}", gr.update(choices=[], value=None), gr.update(choices=[], value=None)
        return line, *await run_choices(name)

    async def show_comparison(a: str | None, b: str | None, labels: dict[str, str] | None = None) -> dict:
        if not a or not b:
            return {summary: "Choose two runs to compare."}
        try:
            comparison = await asyncio.to_thread(compare_runs, settings(), a, b)
            await get_runlog().aflush()  # the eval that just ran may still have its cases' spans queued
            await asyncio.to_thread(attach_divergences, comparison, run_reader(get_runlog()))
        except Exception as exc:  # a run without its case table, a store that went away
            return {summary: f"⚠️ Could not compare these runs: {md_text(redact(exc))}"}
        await asyncio.to_thread(keep_comparison, settings(), comparison)
        return {
            summary: comparison_summary(comparison, labels),
            stats: statistics_table(comparison),
            cases: case_rows(comparison.cases),
            params: param_table(comparison),
            compared: metric_table(comparison),
        }

    async def run_eval(name: str, chosen_models: list[str], chosen_versions: list[str], lines: str,
                       most: float | None, request: gr.Request) -> AsyncIterator[dict[Component, Any]]:  # fmt: skip
        resources = services.resources()
        try:
            plan = await asyncio.to_thread(plan_eval, name, resources.settings, models=chosen_models,
                                           versions=chosen_versions, sets=lines, limit=most)  # fmt: skip
            live = start_eval(evals, client_key(request), plan, resources)
        except SuiteUnavailable as exc:
            yield {status: suite_warning(exc)}
            return
        except (VariantError, TooManyEvals) as exc:
            yield {status: warning(exc)}
            return
        waiting = f"queued behind {live.ahead} eval run(s)" if live.ahead else "preparing"
        yield {status: starting_line(name, [v.name for v in plan.variants]), progress: progress_html(0, waiting),
               metrics: pd.DataFrame(columns=["metric"]), description: suite_markdown(plan.suite, plan.listed),
               job_id: live.job.job_id}  # fmt: skip
        async for fraction, where in live.progress():
            yield {progress: progress_html(fraction, where)}
        try:
            runs = live.outcome()
        except Exception as exc:
            yield {status: f"⚠️ The eval failed: {md_text(redact(exc))}", progress: progress_html(0, "failed")}
            return
        if runs is None:  # cancelled while queued, or a server shutting down
            yield {status: "⏹️ Cancelled.", progress: progress_html(0, "cancelled")}
            return
        if not live.completed(runs):
            shown = {progress: progress_html(0, "cancelled"), status: cancelled_line(runs, len(plan.variants))}
            yield shown | ({metrics: metrics_table(runs)} if runs else {})
            return
        view: dict[Component, Any] = {progress: progress_html(1, "done"), metrics: metrics_table(runs),
                                      status: done_line(name, runs)}  # fmt: skip
        if len(runs) < 2:
            yield view
            return
        a, b = runs[0].mlflow_run_id, runs[1].mlflow_run_id
        choice_a, choice_b = await run_choices(name, a, b)
        yield view | {run_a: choice_a, run_b: choice_b, summary: "_Comparing the first two variants…_"}
        yield await show_comparison(a, b, {r.mlflow_run_id: variant_label(r) for r in runs})

    async def compare_chosen(a: str | None, b: str | None) -> dict:
        return await show_comparison(a, b)

    async def refresh(name: str, a: str | None, b: str | None) -> tuple:
        """The suite's case count (runs may have been promoted since) and its latest MLflow runs."""
        try:
            shown = suite_markdown(*await asyncio.to_thread(read_suite, name, settings()))
        except SuiteUnavailable as exc:
            shown = suite_warning(exc)
        return shown, *await run_choices(name, a, b)

    suite_outputs = [description, versions, run_a, run_b]
    demo.load(on_load, [suite], [models, mlflow_line, description, versions]).then(
        load_runs, [suite], [mlflow_line, run_a, run_b]
    )
    suite.input(show_suite, [suite], suite_outputs)
    reload.click(refresh, [suite, run_a, run_b], [description, run_a, run_b])

    async def cancel_run(page_job: str | None, request: gr.Request) -> str:
        return cancel_eval(evals, client_key(request), page_job)

    compared_outputs = [summary, stats, cases, params, compared]
    run_outputs = [progress, status, metrics, description, run_a, run_b, *compared_outputs, job_id]
    run.click(run_eval, [suite, models, versions, sets, limit], run_outputs, concurrency_limit=None,
              show_progress="hidden")  # fmt: skip
    cancel.click(cancel_run, [job_id], [status], concurrency_limit=None)
    compare.click(compare_chosen, [run_a, run_b], compared_outputs)

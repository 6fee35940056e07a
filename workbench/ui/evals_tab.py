"""The Evals tab: run a suite over variants (models, prompt versions, settings) with live progress, see each
variant's metrics, and compare two MLflow runs case by case, the cases whose outcome changed first.

An eval runs on the server's event loop, where the models it shares with chat and voice live (their async HTTP
clients are bound to that loop), as a background task: closing the page does not leave a half-logged MLflow run.
MLflow's slow first steps (import, store migrations, the experiment) happen first in a worker thread, and evals
run one at a time per process, in the order asked for (:class:`~workbench.evals.queue.EvalQueue`): each client
address may have ``eval_max_per_client`` queued or running, and Cancel drops a queued one or stops the running
one after its current case (its MLflow run ends as KILLED with the cases done). The MLflow UI is not started here:
``workbench mlflow`` serves it on loopback.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd
from gradio.components import Component

from evals import SUITES, load_suite
from workbench.audit.markdown import md_text
from workbench.evals.compare import CaseDiff, Comparison, compare_runs
from workbench.evals.queue import EvalJob, EvalQueue, TooManyEvals
from workbench.evals.runner import SuiteRun, run_variant
from workbench.evals.suite import Case, Suite, Variant
from workbench.evals.tracking import (
    configure,
    experiment_id,
    experiment_name,
    tracking_uri,
    warm_in_background,
)
from workbench.evals.variants import VariantError, build_variants, parse_sets

if TYPE_CHECKING:
    from workbench.settings import Settings
    from workbench.ui.app import Services

TITLE = "Evals"
MAX_VARIANTS = 12
RECENT_RUNS = 50
PARAM_COLUMNS = ["param", "a", "b"]
METRIC_COLUMNS = ["metric", "a", "b", "delta"]
TIMING_SUFFIXES = ("_s", "_ms")
_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)[^/\s]*@")
CASE_COLUMNS = ["case", "outcome a", "outcome b", "direction", "metric", "a", "b"]


# Pure helpers (testable without a server)


def variant_choices(models: list[str] | str | None, versions: list[str] | None, sets: str | None) -> dict[str, list]:
    """The tab's inputs as :func:`~workbench.evals.variants.build_variants` choices: the settings box holds
    ``key=value[,value]`` lines (as the CLI's ``--set``); models may be picked or typed comma-separated."""
    lines = [line.strip() for line in (sets or "").splitlines() if line.strip() and not line.strip().startswith("#")]
    choices: dict[str, list[str]] = parse_sets(lines)
    picked = [models] if isinstance(models, str) else list(models or [])
    names = [name.strip() for item in picked for name in item.split(",") if name.strip()]
    if names:
        choices["model"] = list(dict.fromkeys(names))
    if versions:
        choices["prompt_version"] = list(versions)
    return choices


def limit_cases(cases: list[Case], limit: float | None) -> list[Case]:
    """The first ``limit`` bundled cases and every promoted one (promoting a run is asking for it to be run)."""
    if not limit or limit <= 0:
        return list(cases)
    bundled = [c for c in cases if c.source != "promoted"][: int(limit)]
    return bundled + [c for c in cases if c.source == "promoted"]


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metrics_table(runs: list[SuiteRun]) -> pd.DataFrame:
    """One row per metric, one column per variant (headed with its MLflow run id)."""
    names = sorted({name for run in runs for name in run.metrics})
    columns = ["metric", *[f"{run.variant.name} ({run.mlflow_run_id[:8]})" for run in runs]]
    return pd.DataFrame([[name, *[fmt(run.metrics.get(name)) for run in runs]] for name in names], columns=columns)


def key_metric(diff: CaseDiff) -> str | None:
    """The quality metric that moved most between the two runs (timings only when a case has nothing else)."""
    names = sorted(set(diff.metrics_a) & set(diff.metrics_b)) or sorted(set(diff.metrics_a) | set(diff.metrics_b))
    quality = [name for name in names if not name.endswith(TIMING_SUFFIXES)] or names
    if not quality:
        return None
    return max(quality, key=lambda m: abs(diff.metrics_b.get(m, 0.0) - diff.metrics_a.get(m, 0.0)))


def case_rows(cases: list[CaseDiff]) -> pd.DataFrame:
    """The case-by-case table: cases whose outcome changed first (the given order kept within each group)."""
    ordered = [c for c in cases if c.changed] + [c for c in cases if not c.changed]
    rows = []
    for diff in ordered:
        metric = key_metric(diff)
        a = diff.metrics_a.get(metric) if metric else None
        b = diff.metrics_b.get(metric) if metric else None
        rows.append([diff.case_id, diff.outcome_a or "–", diff.outcome_b or "–", diff.direction, metric or "",
                     fmt(a), fmt(b)])  # fmt: skip
    return pd.DataFrame(rows, columns=CASE_COLUMNS)


def param_table(comparison: Comparison) -> pd.DataFrame:
    rows = [[r["param"], fmt(r["a"]), fmt(r["b"])] for r in comparison.param_rows()]
    return pd.DataFrame(rows, columns=PARAM_COLUMNS)


def metric_table(comparison: Comparison) -> pd.DataFrame:
    rows = [[r["metric"], fmt(r["a"]), fmt(r["b"]), "" if r["delta"] is None else f"{r['delta']:+.4g}"]
            for r in comparison.metric_rows()]  # fmt: skip
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def comparison_summary(comparison: Comparison, labels: dict[str, str] | None = None) -> str:
    names = labels or {}
    a, b = (md_text(names.get(r, r[:8])) for r in (comparison.run_a, comparison.run_b))
    return f"**{len(comparison.changed)} of {len(comparison.cases)} cases changed outcome** · a: {a} → b: {b}"


def run_label(name: str | None, start_ms: int | None, run_id: str) -> str:
    when = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if start_ms else "?"
    return f"{name or 'run'} · {when} · {run_id[:8]}"


def redact(text: object) -> str:
    """``text`` with the passwords of any URLs in it masked (an MLflow server URI may carry one)."""
    return _CREDENTIALS.sub(r"\1***@", str(text))


def shown_uri(uri: str) -> str:
    """The tracking URI for a code span: no password, no backticks."""
    return redact(uri).replace("`", "")


def progress_html(fraction: float, text: str) -> str:
    pct = round(max(0.0, min(1.0, fraction)) * 100)
    return (f'<div class="evals-progress"><progress max="100" value="{pct}" style="width:100%"></progress>'
            f"<div>{pct}% · {html.escape(text)}</div></div>")  # fmt: skip


def suite_markdown(suite: Suite, cases: list[Case]) -> str:
    promoted = sum(c.source == "promoted" for c in cases)
    rows = ["| setting | default |", "|---|---|"]
    rows += [f"| {md_text(k)} | {md_text(v)} |" for k, v in sorted(suite.defaults.items())]
    count = f"**{len(cases)} cases** ({promoted} promoted from runs)"
    return "\n\n".join([md_text(suite.description), count, "\n".join(rows)])


def prompt_versions(suite: Suite) -> list[str]:
    """The prompt versions a suite can compare: its own list, the chat graph's answer prompts for chat-rag."""
    if "prompt_version" not in suite.defaults:
        return []
    versions = getattr(suite, "prompt_versions", None)
    if versions is None and suite.name == "chat-rag":
        from graphs.chat_prompts import ANSWER_PROMPTS

        versions = list(ANSWER_PROMPTS)
    return list(versions or [str(suite.defaults["prompt_version"])])


# MLflow reads (blocking: call them in a worker thread)


def recent_mlflow_runs(settings: Settings, suite: str) -> list[tuple[str, str]]:
    """(label, run id) of the suite's latest MLflow runs, newest first."""
    from mlflow import MlflowClient

    configure(settings)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name(suite))
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                              max_results=RECENT_RUNS)  # fmt: skip
    return [(run_label(r.info.run_name, r.info.start_time, r.info.run_id), r.info.run_id) for r in runs]


def prepare_tracking(settings: Settings, suite: str) -> None:
    """MLflow imported, its store migrated and the suite's experiment made, before the eval uses them."""
    import pandas  # noqa: F401  (mlflow.log_table imports it)

    experiment_id(settings, suite)


# Queued runs


def client_key(request: gr.Request | None) -> str:
    """Whom an eval run counts against: the client's address, as for chat and voice turns."""
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or getattr(request, "session_hash", None) or "unknown")


Report = Callable[[int, str, int, int], None]
"""``report(variant index, message, cases done, cases)``."""


async def run_variants(suite: Suite, variants: list[Variant], cases: list[Case], settings: Settings, job: EvalJob,
                       report: Report) -> list[SuiteRun]:  # fmt: skip
    """The queued job's work: each variant as an MLflow run, in order, until one is cancelled."""
    await asyncio.to_thread(prepare_tracking, settings, suite.name)
    done: list[SuiteRun] = []
    for index, variant in enumerate(variants):
        if job.cancel.is_set():
            break

        def progress(message: str, step: int, total: int, index: int = index) -> None:
            report(index, message, step, total)

        run = await run_variant(suite, variant, settings, cases=cases, progress=progress, cancel=job.cancel)
        done.append(run)
        if run.cancelled:
            break
    return done


def cancel_eval(evals: EvalQueue, client: str, job_id: str | None) -> str:
    """Cancel the page's eval (``job_id``), else the client's latest one; what happened, for the status line."""
    job = evals.get(job_id)
    if job is None or job.client != client:
        mine = evals.active(client)
        job = mine[-1] if mine else None
    if job is None:
        return "Nothing of yours is queued or running."
    return {
        "dropped": "⏹️ Cancelled before it started.",
        "stopping": "⏹️ Stopping after the case in progress; the cases done so far are logged to MLflow (KILLED).",
        "ended": "That eval has already ended.",
    }[evals.cancel(job)]


def cancelled_line(runs: list[SuiteRun], variants: int) -> str:
    last = runs[-1] if runs else None
    if last is None or not last.cancelled:
        return f"⏹️ Cancelled after {len(runs)} of {variants} variant(s)."
    return (f"⏹️ Cancelled: variant {md_text(last.variant.name)} stopped after {len(last.results)} case(s); its "
            f"MLflow run `{last.mlflow_run_id[:8]}` ended as KILLED with them ({len(runs)} of {variants} "
            "variant(s) run).")  # fmt: skip


# The tab


def render(services: Services, demo: gr.Blocks) -> None:
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
    cases = gr.Dataframe(pd.DataFrame(columns=CASE_COLUMNS), label="Cases (changed outcome first)",
                         interactive=False, wrap=True, elem_id="evals-cases")  # fmt: skip
    with gr.Row():
        params = gr.Dataframe(pd.DataFrame(columns=PARAM_COLUMNS), label="Params that differ", interactive=False,
                              wrap=True, elem_id="evals-params")  # fmt: skip
        compared = gr.Dataframe(pd.DataFrame(columns=METRIC_COLUMNS), label="Metrics", interactive=False,
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
        def read() -> tuple[Suite, list[Case]]:
            chosen = load_suite(name)
            return chosen, chosen.cases(settings())

        try:
            chosen, listed = await asyncio.to_thread(read)
        except Exception as exc:  # a suite that does not import: the others stay usable
            broken = f"⚠️ The suite {md_text(name)} cannot be loaded: {md_text(redact(exc))}"
            return broken, gr.update(choices=[], value=[], visible=False)
        offered = prompt_versions(chosen)
        return suite_markdown(chosen, listed), gr.update(choices=offered, value=[], visible=bool(offered))

    async def show_suite(name: str) -> tuple:
        # outputs: description, versions, run_a, run_b
        return *await describe(name), *await run_choices(name)

    async def on_load(name: str) -> tuple:
        """The pickers at once; the MLflow runs to compare come after (see load_runs)."""
        available = list(dict.fromkeys([*services.resources().models.available(), "extractive"]))
        description_, versions_ = await describe(name)
        loading = "⏳ Loading MLflow (the first time after the server starts)…"
        return gr.update(choices=available), loading, description_, versions_

    async def load_runs(name: str) -> tuple:
        """The runs to compare once MLflow is loaded (the server loads it in the background after start)."""
        line = (f"Open the MLflow UI with `workbench mlflow`: it serves it on http://127.0.0.1:5000 "
                f"(loopback only) · tracking URI `{shown_uri(tracking_uri(settings()))}`")  # fmt: skip
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
        except Exception as exc:  # a run without its case table, a store that went away
            return {summary: f"⚠️ Could not compare these runs: {md_text(redact(exc))}"}
        return {
            summary: comparison_summary(comparison, labels),
            cases: case_rows(comparison.cases),
            params: param_table(comparison),
            compared: metric_table(comparison),
        }

    async def run_eval(name: str, chosen_models: list[str], chosen_versions: list[str], lines: str,
                       most: float | None, request: gr.Request) -> AsyncIterator[dict[Component, Any]]:  # fmt: skip
        try:
            picked = await asyncio.to_thread(load_suite, name)
            variants = build_variants(picked.defaults, variant_choices(chosen_models, chosen_versions, lines))
            listed = await asyncio.to_thread(picked.cases, settings())
        except VariantError as exc:
            yield {status: f"⚠️ {md_text(redact(exc))}"}
            return
        except Exception as exc:
            yield {status: f"⚠️ The suite {md_text(name)} cannot be loaded: {md_text(redact(exc))}"}
            return
        if len(variants) > MAX_VARIANTS:
            yield {status: f"⚠️ {len(variants)} variants: choose at most {MAX_VARIANTS} combinations."}
            return
        selected = limit_cases(listed, most)
        updates: asyncio.Queue[tuple[int, str, int, int] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        current = settings()

        def report(index: int, message: str, step: int, total: int) -> None:
            loop.call_soon_threadsafe(updates.put_nowait, (index, message, step, total))

        try:  # runs to the end even if the page goes away
            job = evals.submit(client_key(request), lambda job: run_variants(picked, variants, selected, current,
                               job, report), limit=current.eval_max_per_client)  # fmt: skip
        except TooManyEvals as exc:
            yield {status: f"⚠️ {md_text(exc)}"}
            return
        task = job.task
        assert task is not None
        task.add_done_callback(lambda _: updates.put_nowait(None))
        names_line = ", ".join(md_text(v.name) for v in variants)
        ahead = evals.ahead(job)
        waiting = f"queued behind {ahead} eval run(s)" if ahead else "preparing"
        yield {status: f"⏳ Preparing {md_text(name)} · {len(variants)} variant(s): {names_line}",
               progress: progress_html(0, waiting), metrics: pd.DataFrame(columns=["metric"]),
               description: suite_markdown(picked, listed), job_id: job.job_id}  # fmt: skip
        while (update := await updates.get()) is not None:
            index, message, step, total = update
            fraction = (index + (step / total if total else 1)) / len(variants)
            where = f"variant {index + 1}/{len(variants)} · {step}/{total} cases · {message}"
            yield {progress: progress_html(fraction, where)}
        if task.cancelled():  # while queued, or a server shutting down
            yield {status: "⏹️ Cancelled.", progress: progress_html(0, "cancelled")}
            return
        try:
            runs = task.result()
        except Exception as exc:
            yield {status: f"⚠️ The eval failed: {md_text(redact(exc))}", progress: progress_html(0, "failed")}
            return
        if len(runs) < len(variants) or any(r.cancelled for r in runs):
            shown = {progress: progress_html(0, "cancelled"), status: cancelled_line(runs, len(variants))}
            yield shown | ({metrics: metrics_table(runs)} if runs else {})
            return
        labels = {r.mlflow_run_id: f"{r.variant.name} ({r.mlflow_run_id[:8]})" for r in runs}
        counted = f"{len(runs[0].results)} cases ({runs[0].params.get('cases_promoted', 0)} promoted)" if runs else ""
        view: dict[Component, Any] = {
            progress: progress_html(1, "done"),
            metrics: metrics_table(runs),
            status: f"✅ {len(runs)} run(s) of {md_text(name)} logged to MLflow over {counted}: "
            + ", ".join(md_text(label) for label in labels.values()),
        }
        if len(runs) < 2:
            yield view
            return
        a, b = runs[0].mlflow_run_id, runs[1].mlflow_run_id
        choice_a, choice_b = await run_choices(name, a, b)
        yield view | {run_a: choice_a, run_b: choice_b, summary: "_Comparing the first two variants…_"}
        yield await show_comparison(a, b, labels)

    async def compare_chosen(a: str | None, b: str | None) -> dict:
        return await show_comparison(a, b)

    async def refresh(name: str, a: str | None, b: str | None) -> tuple:
        """The suite's case count (runs may have been promoted since) and its latest MLflow runs."""
        try:
            chosen = await asyncio.to_thread(load_suite, name)
            shown = suite_markdown(chosen, await asyncio.to_thread(chosen.cases, settings()))
        except Exception as exc:
            shown = f"⚠️ The suite {md_text(name)} cannot be loaded: {md_text(redact(exc))}"
        return shown, *await run_choices(name, a, b)

    suite_outputs = [description, versions, run_a, run_b]
    demo.load(on_load, [suite], [models, mlflow_line, description, versions]).then(
        load_runs, [suite], [mlflow_line, run_a, run_b]
    )
    suite.input(show_suite, [suite], suite_outputs)
    reload.click(refresh, [suite, run_a, run_b], [description, run_a, run_b])

    async def cancel_run(page_job: str | None, request: gr.Request) -> str:
        return cancel_eval(evals, client_key(request), page_job)

    run_outputs = [progress, status, metrics, description, run_a, run_b, summary, cases, params, compared, job_id]
    run.click(run_eval, [suite, models, versions, sets, limit], run_outputs, concurrency_limit=None,
              show_progress="hidden")  # fmt: skip
    cancel.click(cancel_run, [job_id], [status], concurrency_limit=None)
    compare.click(compare_chosen, [run_a, run_b], [summary, cases, params, compared])

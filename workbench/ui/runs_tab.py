"""The Runs tab: the DuckDB run log, filtered by graph, status, model, session, time and a least time spent (in
LLM calls, retrieval...), sorted by any roll-up; one run's detail (input, output, node timeline, retrieved documents,
voice timings, audit findings, a link to its trace); and promoting a run to an eval case.

Reads run in a worker thread after flushing this process's run-log queue, so a turn that just ended shows.
Everything that comes from a run (questions, answers, file names, messages) goes into textboxes and table cells
as text, or into Markdown through :func:`~workbench.audit.markdown.md_text`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from workbench.audit.markdown import md_text
from workbench.audit.store import report_of_run
from workbench.errors import StorageUnavailable
from workbench.evals.cases import PromotionError
from workbench.evals.console import promote_logged_run
from workbench.runlog import RUN_STATUSES, get_run, get_runlog, recent_runs
from workbench.ui.runs_view import (
    detail_markdown,
    doc_rows,
    finding_rows,
    promoted_line,
    run_rows,
    timeline_rows,
)

if TYPE_CHECKING:
    from workbench.settings import Settings
    from workbench.ui.context import UiServices

TITLE = "Runs"
ALL = "all"
GRAPHS = (ALL, "chat", "voice", "repo_audit")
log = logging.getLogger(__name__)
STATUSES = (ALL, *RUN_STATUSES[1:], RUN_STATUSES[0])
SINCE = {"last hour": timedelta(hours=1), "last day": timedelta(days=1), "last week": timedelta(weeks=1), ALL: None}
NEWEST = "newest"
SORTS = {
    NEWEST: "started_at", "duration": "duration_ms", "time to first token": "ttft_ms", "tokens in": "tokens_in",
    "tokens out": "tokens_out", "LLM time": "llm_ms", "retrieval time": "retrieval_ms", "speech time": "speech_ms",
    "tool time": "tool_ms", "spans": "spans",
}  # fmt: skip
"""The sort choices and the run-list column each orders by (largest first; newest by start)."""
AT_LEAST = {
    "duration": "duration_ms", "LLM time": "llm_ms", "retrieval time": "retrieval_ms", "speech time": "speech_ms",
    "tool time": "tool_ms", "time to first token": "ttft_ms",
}  # fmt: skip
"""What the "at least (ms)" filter can apply to."""


# Pure helpers (testable without a server)


def graph_choices() -> list[str]:
    """The graph filter's choices: all, the built-in graphs, and the agents of the agents folder (by name; the
    filter also takes any name typed in, such as an agent removed since)."""
    from workbench.agents import catalog

    try:
        agents = catalog.names()
    except Exception:  # an unreadable agents folder must not keep the Runs tab from rendering
        log.warning("the agents folder could not be read for the Runs tab's graph filter", exc_info=True)
        agents = []
    return [*GRAPHS, *(name for name in agents if name not in GRAPHS)]


def query_args(graph: str | None, status: str | None, model: str | None, session: str | None, since: str | None,
               limit: float | None, sort: str | None = None, least_of: str | None = None,
               least_ms: float | None = None, now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """The filters as :func:`~workbench.runlog.recent_runs` arguments: ``all`` and blanks filter nothing, and no
    (or a zero) "at least" keeps every run."""

    def chosen(value: str | None) -> str | None:
        value = (value or "").strip()
        return None if value in ("", ALL) else value

    delta = SINCE.get(since or ALL)
    return {
        "limit": max(1, min(1000, int(limit or 50))),
        "graph": chosen(graph),
        "status": chosen(status),
        "model": chosen(model),
        "session_id": chosen(session),
        "since": None if delta is None else (now or datetime.now(UTC)) - delta,
        "sort": SORTS.get(sort or NEWEST, SORTS[NEWEST]),
        "min_ms": {AT_LEAST[least_of]: float(least_ms)} if least_ms and least_of in AT_LEAST else None,
    }


def resolve_id(typed: str | None, listed: list[str]) -> str | None:
    """The run id typed (whole, or a prefix of a listed run's id); None when blank."""
    typed = (typed or "").strip()
    if not typed:
        return None
    matches = [run_id for run_id in listed if run_id.startswith(typed)]
    return matches[0] if len(matches) == 1 else typed


# The tab


def render(services: UiServices, demo: gr.Blocks) -> None:
    listed = gr.State([])  # full run ids of the table's rows, in order
    shown = gr.State(None)  # the run whose detail is shown (Promote acts on it)
    with gr.Row():
        graph = gr.Dropdown(graph_choices(), value=ALL, label="Graph", elem_id="runs-graph", allow_custom_value=True)
        status = gr.Dropdown(list(STATUSES), value=ALL, label="Status", elem_id="runs-status")
        model = gr.Textbox(label="Model", placeholder="e.g. extractive", elem_id="runs-model")
        session = gr.Textbox(label="Session", elem_id="runs-session")
        since = gr.Dropdown(list(SINCE), value=ALL, label="Since", elem_id="runs-since")
        limit = gr.Number(50, label="Limit", precision=0, minimum=1, maximum=1000, elem_id="runs-limit")
        refresh = gr.Button("Refresh", elem_id="runs-refresh", scale=0, min_width=90)
    with gr.Row():
        sort = gr.Dropdown(list(SORTS), value=NEWEST, label="Sort by (most first)", elem_id="runs-sort")
        least_of = gr.Dropdown(list(AT_LEAST), value="duration", label="At least, of", elem_id="runs-least-of")
        least_ms = gr.Number(None, label="At least (ms)", minimum=0, elem_id="runs-least-ms")
    table = gr.Dataframe(run_rows([]), interactive=False, wrap=True, max_height=420, elem_id="runs-table",
                         column_widths=["11%", "7%", "6%", "6%", "6%", "6%", "6%", "6%", "6%", "7%", "5%", "10%",
                                        "18%"])  # fmt: skip
    list_status = gr.Markdown(elem_id="runs-list-status")
    with gr.Row():
        run_id = gr.Textbox(label="Run id (select a row, or type an id or a listed prefix)", elem_id="runs-id", scale=4)
        open_run = gr.Button("Open", elem_id="runs-open", scale=0, min_width=80)
    detail = gr.Markdown(elem_id="runs-detail")
    with gr.Row():
        run_input = gr.Textbox(label="Input", lines=3, max_lines=12, interactive=False, elem_id="runs-input")
        run_output = gr.Textbox(label="Output", lines=3, max_lines=12, interactive=False, elem_id="runs-output")
    timeline = gr.Dataframe(timeline_rows({}), label="Node timeline", interactive=False, wrap=True,
                            elem_id="runs-timeline")  # fmt: skip
    docs = gr.Dataframe(doc_rows({}), label="Retrieved documents", interactive=False, visible=False,
                        elem_id="runs-docs")  # fmt: skip
    findings = gr.Dataframe(finding_rows(None), label="Findings", interactive=False, wrap=True, visible=False,
                            elem_id="runs-findings")  # fmt: skip
    with gr.Row():
        use_output = gr.Checkbox(label="Use the output as the reference", value=False, elem_id="runs-promote-output")
        promote_button = gr.Button("Promote to eval case", elem_id="runs-promote", scale=0, min_width=180)
    promote_status = gr.Markdown(elem_id="runs-promote-status")

    def settings() -> Settings:
        return services.resources().settings

    def read_runs(args: dict[str, Any]) -> list[dict[str, Any]]:
        get_runlog().flush()
        return recent_runs(settings().runlog_path, **args)

    async def list_runs(*filters: Any) -> tuple[pd.DataFrame, list[str], str]:
        try:
            runs = await asyncio.to_thread(read_runs, query_args(*filters))
        except StorageUnavailable as exc:  # a damaged or unreadable run log: say what to do
            return run_rows([]), [], f"⚠️ {md_text(exc)}"
        note = f"{len(runs)} run(s)" if runs else "_No runs match these filters._"
        return run_rows(runs), [r["run_id"] for r in runs], note

    def read_run(wanted: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        get_runlog().flush()
        run = get_run(settings().runlog_path, wanted)
        report = report_of_run(settings().runlog_path, wanted) if run and run.get("graph") == "repo_audit" else None
        return run, report

    async def show(typed: str | None, ids: list[str]) -> tuple:
        # outputs: run_id, shown, detail, run_input, run_output, timeline, docs, findings, promote_status
        wanted = resolve_id(typed, ids)
        try:
            run, report = await asyncio.to_thread(read_run, wanted) if wanted else (None, None)
        except StorageUnavailable as exc:
            return (typed, None, f"⚠️ {md_text(exc)}", "", "", timeline_rows({}), gr.update(visible=False),
                    gr.update(visible=False), "")  # fmt: skip
        if run is None:
            note = "Select a run in the table first." if not wanted else f"No run `{md_text(wanted)}` in the log."
            return (typed, None, note, "", "", timeline_rows({}), gr.update(visible=False),
                    gr.update(visible=False), "")  # fmt: skip
        return (
            run["run_id"], run["run_id"], detail_markdown(run, report), run.get("input") or "",
            run.get("output") or "", timeline_rows(run),
            gr.update(value=doc_rows(run), visible=run.get("graph") == "chat"),
            gr.update(value=finding_rows(report), visible=run.get("graph") == "repo_audit"), "",
        )  # fmt: skip

    async def select(ids: list[str], evt: gr.SelectData) -> tuple:
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        return await show(ids[row] if isinstance(row, int) and 0 <= row < len(ids) else None, ids)

    async def promote_run(wanted: str | None, include_output: bool) -> str:
        if not wanted:
            return "Open a run first."

        try:
            suite, case, count = await asyncio.to_thread(promote_logged_run, settings(), wanted,
                                                         include_output=include_output)  # fmt: skip
        except PromotionError as exc:
            return f"⚠️ {md_text(exc)}"
        return promoted_line(suite, case.id, count)

    filters = [graph, status, model, session, since, limit, sort, least_of, least_ms]
    listing = [table, listed, list_status]
    detail_outputs = [run_id, shown, detail, run_input, run_output, timeline, docs, findings, promote_status]
    demo.load(list_runs, filters, listing)
    refresh.click(list_runs, filters, listing)
    for control in (graph, status, since, sort, least_of):
        control.input(list_runs, filters, listing)
    for box in (model, session, limit, least_ms):
        box.submit(list_runs, filters, listing)
    table.select(select, [listed], detail_outputs)
    open_run.click(show, [run_id, listed], detail_outputs)
    run_id.submit(show, [run_id, listed], detail_outputs)
    promote_button.click(promote_run, [shown, use_output], [promote_status])

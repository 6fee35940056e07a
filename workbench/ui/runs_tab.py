"""The Runs tab: the DuckDB run log, filtered by graph, status, model, session and time; one run's detail (input,
output, node timeline, retrieved documents, voice timings, audit findings); and promoting a run to an eval case.

Reads run in a worker thread after flushing this process's run-log queue, so a turn that just ended shows.
Everything that comes from a run (questions, answers, file names, messages) goes into textboxes and table cells
as text, or into Markdown through :func:`~workbench.audit.markdown.md_text`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from workbench.audit.markdown import md_text
from workbench.audit.store import report_of_run
from workbench.errors import StorageUnavailable
from workbench.evals.cases import PromotionError, load_promoted, promote
from workbench.runlog import RUN_STATUSES, get_run, get_runlog, recent_runs
from workbench.ui.voice_tab import latency_markdown

if TYPE_CHECKING:
    from workbench.settings import Settings
    from workbench.ui.app import Services

TITLE = "Runs"
ALL = "all"
GRAPHS = (ALL, "chat", "voice", "repo_audit")
log = logging.getLogger(__name__)
STATUSES = (ALL, *RUN_STATUSES[1:], RUN_STATUSES[0])
SINCE = {"last hour": timedelta(hours=1), "last day": timedelta(days=1), "last week": timedelta(weeks=1), ALL: None}
RUN_COLUMNS = ["started (UTC)", "run id", "graph", "entry point", "status", "duration (s)", "model", "input"]
TIMELINE_COLUMNS = ["seq", "node", "kind", "status", "duration (ms)", "offset (ms)", "detail"]
DOC_COLUMNS = ["source", "chunk", "score", "dense", "sparse"]
FINDING_COLUMNS = ["severity", "rule", "CWE", "file", "line", "message", "agents"]
ENGINES = (("persona", "persona"), ("LLM", "model"), ("speech to text", "stt_model"), ("voice", "tts_voice"))


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
               limit: float | None, now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """The filters as :func:`~workbench.runlog.recent_runs` arguments: ``all`` and blanks filter nothing."""

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
    }


def _seconds(start: datetime | None, end: datetime | None) -> str:
    return "" if start is None or end is None else f"{(end - start).total_seconds():.2f}"


def excerpt(text: object, size: int = 80) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= size else line[: size - 1] + "…"


def run_rows(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """The runs table, newest first as given."""
    rows = [
        [
            run["started_at"].strftime("%Y-%m-%d %H:%M:%S") if run.get("started_at") else "",
            run["run_id"][:8],
            run.get("graph") or "",
            run.get("entry_point") or "",
            run.get("status") or "",
            _seconds(run.get("started_at"), run.get("ended_at")),
            run.get("model") or "",
            excerpt(run.get("input")),
        ]
        for run in runs
    ]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def resolve_id(typed: str | None, listed: list[str]) -> str | None:
    """The run id typed (whole, or a prefix of a listed run's id); None when blank."""
    typed = (typed or "").strip()
    if not typed:
        return None
    matches = [run_id for run_id in listed if run_id.startswith(typed)]
    return matches[0] if len(matches) == 1 else typed


def timeline_rows(run: dict[str, Any]) -> pd.DataFrame:
    """The run's events in order, with each one's offset from the run's start."""
    start: datetime | None = run.get("started_at")
    rows = []
    for event in run.get("events") or []:
        began, duration = event.get("started_at"), event.get("duration_ms")
        offset = "" if start is None or began is None else f"{(began - start).total_seconds() * 1000:.0f}"
        detail = event.get("detail")
        rows.append([
            str(event.get("seq", "")), event.get("node") or "", event.get("kind") or "", event.get("status") or "",
            "" if duration is None else f"{duration:.1f}", offset,
            excerpt(json.dumps(detail, default=str, ensure_ascii=False) if detail else "", 120),
        ])  # fmt: skip
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def doc_rows(run: dict[str, Any]) -> pd.DataFrame:
    def fmt(value: Any) -> str:
        return "" if value is None else f"{float(value):.3f}"

    rows = [
        [
            doc.get("source") or "",
            str(doc.get("chunk_id") or ""),
            fmt(doc.get("score")),
            fmt(doc.get("dense_score")),
            fmt(doc.get("sparse_score")),
        ]  # fmt: skip
        for doc in run.get("retrieved") or []
    ]
    return pd.DataFrame(rows, columns=DOC_COLUMNS)


def finding_rows(report: dict[str, Any] | None) -> pd.DataFrame:
    rows = [
        [
            f.get("severity") or "",
            f.get("rule") or "",
            f"CWE-{f['cwe']}" if f.get("cwe") else "",
            f.get("file") or "",
            "" if f.get("line") is None else str(f["line"]),
            excerpt(f.get("message"), 200),
            ", ".join(f.get("agents") or [f.get("agent") or ""]),
        ]  # fmt: skip
        for f in (report or {}).get("findings") or []
    ]
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def detail_markdown(run: dict[str, Any], report: dict[str, Any] | None = None) -> str:
    """The run's header (what ran, how it ended, how long) and what its graph adds: voice timings and engines,
    an audit's counts; other metadata as a key/value table."""
    fields = [
        ("run", run["run_id"]), ("graph", run.get("graph")), ("entry point", run.get("entry_point")),
        ("status", run.get("status")), ("model", run.get("model")), ("prompt", run.get("prompt_version")),
        ("session", run.get("session_id")),
        ("started (UTC)", run["started_at"].strftime("%Y-%m-%d %H:%M:%S") if run.get("started_at") else None),
        ("duration (s)", _seconds(run.get("started_at"), run.get("ended_at")) or None),
        ("first token (ms)", None if run.get("ttft_ms") is None else f"{run['ttft_ms']:.0f}"),
        ("tokens in/out", None if run.get("tokens_in") is None else f"{run['tokens_in']} / {run.get('tokens_out')}"),
    ]  # fmt: skip
    parts = [" · ".join(f"**{name}** {md_text(value)}" for name, value in fields if value not in (None, ""))]
    if run.get("error"):
        parts.append(f"⚠️ **error** {md_text(run['error'])}")
    metadata = dict(run.get("metadata") or {})
    if run.get("graph") == "voice":
        engines = " · ".join(f"**{n}** {md_text(metadata[k])}" for n, k in ENGINES if metadata.get(k))
        parts += [
            "_The audio itself is not kept, neither the recording nor the spoken reply: the log holds the transcript,"
            " the reply and the timings (a recording that was not transcribed appears as its size and SHA-256 only)._",
            f"**Transcript** {md_text(metadata.get('transcript') or run.get('input') or '–')}",
            engines or "_No engines recorded._",
            latency_markdown({k: v for k, v in metadata.items() if isinstance(v, int | float)}),
        ]
        shown = {"transcript", *(key for _, key in ENGINES)}
        metadata = {k: v for k, v in metadata.items() if not k.endswith("_s") and k not in shown}
    if report is not None:
        counts = report.get("counts") or {}
        parts.append("**Findings** " + (" · ".join(f"{md_text(k)} {md_text(v)}" for k, v in counts.items()) or "0"))
    if metadata:
        rows = ["| metadata | value |", "|---|---|"]
        rows += [f"| {md_text(k)} | {md_text(excerpt(v, 200))} |" for k, v in sorted(metadata.items())]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def promoted_message(settings: Settings, suite: str, case_id: str) -> str:
    count = len(load_promoted(settings, suite))
    return f"✅ Added case {case_id} to suite {suite} ({count} promoted cases)"


# The tab


def render(services: Services, demo: gr.Blocks) -> None:
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
    table = gr.Dataframe(run_rows([]), interactive=False, wrap=True, max_height=420, elem_id="runs-table",
                         column_widths=["14%", "8%", "8%", "8%", "7%", "8%", "14%", "33%"])  # fmt: skip
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

        def go() -> str:
            get_runlog().flush()
            suite, case = promote(settings(), wanted, include_output=include_output)
            return promoted_message(settings(), suite, case.id)

        try:
            return await asyncio.to_thread(go)
        except PromotionError as exc:
            return f"⚠️ {md_text(exc)}"

    filters = [graph, status, model, session, since, limit]
    listing = [table, listed, list_status]
    detail_outputs = [run_id, shown, detail, run_input, run_output, timeline, docs, findings, promote_status]
    demo.load(list_runs, filters, listing)
    refresh.click(list_runs, filters, listing)
    for control in (graph, status, since):
        control.input(list_runs, filters, listing)
    for box in (model, session, limit):
        box.submit(list_runs, filters, listing)
    table.select(select, [listed], detail_outputs)
    open_run.click(show, [run_id, listed], detail_outputs)
    run_id.submit(show, [run_id, listed], detail_outputs)
    promote_button.click(promote_run, [shown, use_output], [promote_status])

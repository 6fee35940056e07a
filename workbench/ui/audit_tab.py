"""The Audit tab: audit a repository (URL or local path) with the chosen agents, watch each agent live, then
filter the findings, read the summary and download the report as Markdown, SARIF and JSON.

Audits run as tasks of the server's :class:`~workbench.tasks.manager.TaskManager` (the same ones ``/api/tasks``
and ``/ws/tasks`` serve), so a task started here is in the run log and can be reopened from the recent tasks.
The downloads are written to a temporary folder that lives only until Gradio has copied them into its cache
(which the Blocks empties hourly).

The tab lays out the components and wires their events; :mod:`workbench.ui.audit_view` renders what the tasks
report (untrusted text from the audited repository escaped there).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from workbench.audit.markdown import md_text
from workbench.audit.models import AGENTS, SEVERITIES
from workbench.audit.report import display_repo
from workbench.errors import WorkbenchError
from workbench.tasks.manager import TERMINAL
from workbench.ui.audit_view import (
    SKIP_TRIAGE,
    agent_rows,
    counts_markdown,
    filter_rows,
    finding_row,
    model_choices,
    progress_html,
    recent_choices,
    status_line,
    step_text,
    target_hint,
    write_exports,
)

if TYPE_CHECKING:
    from gradio.components import Component

    from workbench.ui.context import UiServices

TITLE = "Audit"
RECENT = 20


def render(services: UiServices, demo: gr.Blocks) -> None:
    current = gr.State(None)  # the task id shown (Cancel acts on it)
    rows = gr.State([])  # every finding of the shown report, as table rows (the filters read these)
    with gr.Row():
        with gr.Column(scale=3):
            repo = gr.Textbox(label="Repository (https URL or local path)", elem_id="audit-repo")
            with gr.Row():
                ref = gr.Textbox(label="Ref (optional)", placeholder="branch or tag", elem_id="audit-ref")
                model = gr.Dropdown(label="Triage model", choices=[SKIP_TRIAGE], value=SKIP_TRIAGE,
                                    elem_id="audit-model", info=f"'{SKIP_TRIAGE}' skips the LLM triage")  # fmt: skip
            agents = gr.CheckboxGroup(list(AGENTS), value=list(AGENTS), label="Agents", elem_id="audit-agents")
            with gr.Row():
                run = gr.Button("Run audit", variant="primary", elem_id="audit-run")
                cancel = gr.Button("Cancel", variant="stop", elem_id="audit-cancel")
            status = gr.Markdown(elem_id="audit-status")
            progress = gr.HTML(progress_html(0), elem_id="audit-progress")
            agent_table = gr.Dataframe(agent_rows({}), label="Agents", interactive=False, wrap=True,
                                       column_widths=["16%", "12%", "48%", "12%", "12%"],
                                       elem_id="audit-agents-status")  # fmt: skip
        with gr.Column(scale=2):
            with gr.Row():
                recent = gr.Dropdown(label="Recent audits", choices=[], elem_id="audit-recent", scale=4)
                load = gr.Button("Open", elem_id="audit-load", scale=1, min_width=60)
            counts = gr.Markdown(elem_id="audit-counts")
            gr.Markdown("### Downloads")
            download_md = gr.DownloadButton("Markdown", interactive=False, elem_id="audit-download-md")
            download_sarif = gr.DownloadButton("SARIF", interactive=False, elem_id="audit-download-sarif")
            download_json = gr.DownloadButton("JSON", interactive=False, elem_id="audit-download-json")
    gr.Markdown("### Summary")
    summary = gr.Markdown(elem_id="audit-summary")
    gr.Markdown("### Findings")
    with gr.Row():
        filter_severity = gr.Dropdown(list(SEVERITIES), value=[], multiselect=True, label="Severity",
                                      elem_id="audit-filter-severity")  # fmt: skip
        filter_agent = gr.Dropdown(list(AGENTS), value=[], multiselect=True, label="Agent",
                                   elem_id="audit-filter-agent")  # fmt: skip
        filter_file = gr.Textbox(label="File contains", elem_id="audit-filter-file")
    findings = gr.Dataframe(filter_rows([], None, None, None), interactive=False, wrap=True, max_height=600,
                            column_widths=["8%", "11%", "8%", "17%", "5%", "31%", "9%", "5%", "6%"],
                            elem_id="audit-findings")  # fmt: skip

    downloads = (download_md, download_sarif, download_json)
    result_outputs: list[Component] = [summary, counts, findings, rows, *downloads]

    def cleared() -> dict[Component, Any]:
        """The result panels emptied (a new task is shown)."""
        return {
            summary: "",
            counts: "",
            findings: filter_rows([], None, None, None),
            rows: [],
            **{button: gr.update(value=None, interactive=False) for button in downloads},
        }

    async def recent_update(selected: str | None = None) -> dict[str, Any]:
        choices = recent_choices(await services.tasks().recent(RECENT))
        return gr.update(choices=choices, value=selected if selected in {v for _, v in choices} else None)

    async def on_load() -> tuple[Any, Any, Any]:
        resources = services.resources()
        settings = resources.settings
        choices, configured = model_choices(settings, resources.models.available())
        return (
            gr.update(placeholder=target_hint(settings.audit_allowed_hosts, settings.audit_allowed_roots)),
            gr.update(choices=choices, value=configured),
            await recent_update(),
        )

    demo.load(on_load, outputs=[repo, model, recent])

    async def show_result(task_id: str, sev: list[str], who: list[str], part: str) -> AsyncIterator[dict]:
        """The ended task's status, agents, summary, findings and downloads (files live until Gradio copied them)."""
        tasks = services.tasks()
        state = await tasks.status(task_id) or {"task_id": task_id, "status": "unknown"}
        report = await tasks.report(task_id)
        view: dict[Component, Any] = {
            current: task_id,
            status: status_line(state, report),
            progress: progress_html(state.get("progress") or 0, str(state.get("status") or "")),
            agent_table: agent_rows(state),
            recent: await recent_update(task_id),
        }
        if report is None:
            yield {**view, **cleared()}
            return
        all_rows = [finding_row(f) for f in report.findings]
        view |= {
            summary: report.summary or "_No summary._",
            counts: counts_markdown(report),
            rows: all_rows,
            findings: filter_rows(all_rows, sev, who, part),
        }
        with tempfile.TemporaryDirectory(prefix="workbench-audit-") as folder:
            files = write_exports(report, Path(folder))
            pairs = zip(downloads, files, strict=True)
            yield view | {button: gr.update(value=str(path), interactive=True) for button, path in pairs}
        # the generator resumes here only after Gradio has copied the files into its cache

    async def watch(task_id: str, sev: list[str], who: list[str], part: str) -> AsyncIterator[dict]:
        """Live progress of a task until it ends, then its result."""
        tasks = services.tasks()
        async for event in tasks.subscribe(task_id):
            state = await tasks.status(task_id) or {}
            update: dict[Component, Any] = {agent_table: agent_rows(state)}
            if (text := step_text(event)) is not None:
                update[progress] = progress_html(state.get("progress") or 0, text)
            if event["type"] == "task.error" and event.get("level") == "task":
                update[status] = f"⚠️ {md_text(event.get('message') or 'the audit failed')}"
            yield update
        async for update in show_result(task_id, sev, who, part):
            yield update

    async def start(target: str, ref_name: str, chosen: list[str], model_spec: str, sev: list[str],
                    who: list[str], part: str) -> AsyncIterator[dict]:  # fmt: skip
        if not (target or "").strip():
            yield {status: "Enter a repository: an https:// URL or a local path."}
            return
        if not chosen:
            yield {status: "Choose at least one agent."}
            return
        try:
            task = services.tasks().create(target, (ref_name or "").strip() or None, list(chosen),
                                           model=model_spec or None)  # fmt: skip
        except WorkbenchError as exc:  # TargetError, InvalidRequest: nothing was started
            yield {status: f"⚠️ Refused: {md_text(exc)}", current: None}
            return
        task_id = task.record.task_id
        yield {
            current: task_id,
            status: f"⏳ Auditing {md_text(display_repo(task.record.repo))} · task `{task_id[:12]}`",
            progress: progress_html(0, "queued"),
            agent_table: agent_rows({"agent_states": task.record.agent_states}),
            **cleared(),
        }
        async for update in watch(task_id, sev, who, part):
            yield update

    async def open_task(task_id: str | None, sev: list[str], who: list[str], part: str) -> AsyncIterator[dict]:
        if not task_id:
            yield {status: "Choose an audit from the list first."}
            return
        state = await services.tasks().status(task_id)
        if state is None:
            yield {status: "That audit is no longer in the run log."}
            return
        yield {current: task_id, **cleared()}
        stream = show_result if state["status"] in TERMINAL else watch
        async for update in stream(task_id, sev, who, part):
            yield update

    async def stop(task_id: str | None) -> str:
        if task_id and await services.tasks().cancel(task_id):  # returns once the task has stopped
            return f"⏹️ Cancelled · task `{task_id[:12]}`"
        return "Nothing is running."

    filters = [filter_severity, filter_agent, filter_file]
    outputs = [current, status, progress, agent_table, recent, *result_outputs]
    # our own progress bar and status say what is happening: no loading overlays on the panels being streamed
    quiet: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}
    run.click(start, [repo, ref, agents, model, *filters], outputs, **quiet)
    repo.submit(start, [repo, ref, agents, model, *filters], outputs, **quiet)
    load.click(open_task, [recent, *filters], outputs, **quiet)
    cancel.click(stop, [current], [status], concurrency_limit=None)
    for control in (filter_severity, filter_agent, filter_file):
        control.change(filter_rows, [rows, *filters], [findings], queue=False)

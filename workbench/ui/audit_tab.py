"""The Audit tab: audit a repository (URL or local path) with the chosen agents, watch each agent live, then
filter the findings, read the summary and download the report as Markdown, SARIF and JSON.

Audits run as tasks of the server's :class:`~workbench.audit.tasks.TaskManager` (the same ones ``/api/tasks``
and ``/ws/tasks`` serve), so a task started here is in the run log and can be reopened from the recent tasks.
The downloads are written to a temporary folder that lives only until Gradio has copied them into its cache
(which the Blocks empties hourly).

Everything shown that comes from the audited repository (file names, messages) goes into table cells as text or
through :func:`~workbench.audit.report.md_text`; the report's summary is escaped by the aggregator.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from workbench.audit.models import AGENTS, SEVERITIES, AuditReport, Finding
from workbench.audit.report import display_repo, md_text, to_json, to_markdown, to_sarif
from workbench.audit.tasks import TERMINAL
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from gradio.components import Component

    from workbench.ui.app import Services

TITLE = "Audit"
NO_MODEL = "none"
AGENT_COLUMNS = ["agent", "status", "detail", "findings", "duration (s)"]
FINDING_COLUMNS = ["severity", "rule", "CWE", "file", "line", "message", "agents", "agreement", "LLM verdict"]
RECENT = 20


# Pure helpers (testable without a server)


def target_hint(hosts: Sequence[str], roots: Iterable[Path | str]) -> str:
    """The repository box's placeholder: which URLs and folders this server accepts."""
    allowed = [f"https://{host}/owner/repo" for host in hosts[:3]] + (["…"] if len(hosts) > 3 else [])
    where = ", ".join(str(root) for root in roots)
    local = f"or a folder under {where}" if where else "(local paths are off: set WORKBENCH_AUDIT_ALLOWED_ROOTS)"
    return f"{' · '.join(allowed) or 'no hosts allowed'} {local}"


def progress_html(percent: float, step: str = "") -> str:
    """A progress bar with its percent and the current step (escaped)."""
    pct = max(0.0, min(100.0, float(percent or 0)))
    label = f"{pct:.0f}%" + (f" · {html.escape(step)}" if step else "")
    return (
        f'<div class="audit-progress"><progress max="100" value="{pct:.0f}" style="width:100%"></progress>'
        f'<div class="audit-progress-step">{label}</div></div>'
    )


def step_text(event: dict[str, Any]) -> str | None:
    """What a ``task.*`` event says about where the audit is, in one line; None when it says nothing new."""
    kind = event.get("type")
    agent = f"{event['agent']}: " if event.get("agent") else ""
    if kind == "task.started":
        return f"started {event.get('repo', '')}"
    if kind == "task.progress":
        return f"{event.get('step', '')} · {agent}{event.get('message') or ''}".strip(" ·")
    if kind == "task.agent_result":
        return f"{agent}{event.get('status', 'ok')} ({event.get('findings', 0)} findings)"
    if kind == "task.error":
        return f"{agent}{event.get('status') or 'error'}: {event.get('message') or ''}"
    if kind == "task.completed":
        return f"aggregated · {event.get('status', '')}"
    return None


def agent_rows(status: dict[str, Any]) -> pd.DataFrame:
    """The per-agent table from a task's public status (``agent_states``)."""
    states: dict[str, Any] = status.get("agent_states") or {}
    names = [a for a in AGENTS if a in states] + sorted(set(states) - set(AGENTS))
    rows = []
    for name in names:
        state = states[name] or {}
        kind = str(state.get("status") or "pending")
        detail = state.get("error") or state.get("summary") or state.get("message") or ""
        duration = state.get("duration_s")
        rows.append(
            [
                name,
                kind,
                " ".join(re.sub(r"\*\*|`", "", str(detail)).split())[:240],
                "" if state.get("findings") is None else str(state["findings"]),
                f"{duration:.1f}" if isinstance(duration, int | float) else "",
            ]
        )
    return pd.DataFrame(rows, columns=AGENT_COLUMNS)


def finding_row(finding: Finding) -> list[str]:
    return [
        finding.severity,
        finding.rule,
        f"CWE-{finding.cwe}" if finding.cwe else "",
        finding.file,
        "" if finding.line is None else str(finding.line),
        " ".join(finding.message.split()),
        ", ".join(finding.agents or [finding.agent]),
        str(finding.agreement),
        finding.llm_verdict or "",
    ]


def filter_rows(rows: list[list[str]], severities: list[str] | None, agents: list[str] | None,
                file_part: str | None) -> pd.DataFrame:  # fmt: skip
    """The findings table restricted to the chosen severities, agents and a file-name fragment (empty: all)."""
    wanted_sev, wanted_agents = set(severities or []), set(agents or [])
    needle = (file_part or "").strip().lower()
    kept = [
        row
        for row in rows or []
        if (not wanted_sev or row[0] in wanted_sev)
        and (not wanted_agents or wanted_agents & {a.strip() for a in row[6].split(",")})
        and (not needle or needle in row[3].lower())
    ]
    return pd.DataFrame(kept, columns=FINDING_COLUMNS)


def counts_markdown(report: AuditReport) -> str:
    counts = {sev: report.counts.get(sev, 0) for sev in SEVERITIES}
    total = sum(counts.values())
    return " · ".join(f"**{sev}** {n}" for sev, n in counts.items()) + f" · **total** {total}"


def slug(repo: str) -> str:
    name = display_repo(repo).rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:60] or "repo"


def write_exports(report: AuditReport, folder: Path) -> tuple[Path, Path, Path]:
    """The report as Markdown, SARIF and JSON files in ``folder``."""
    stem = f"audit-{slug(report.repo)}-{report.task_id[:8]}"
    md, sarif, data = folder / f"{stem}.md", folder / f"{stem}.sarif", folder / f"{stem}.json"
    md.write_text(to_markdown(report), encoding="utf-8")
    sarif.write_text(json.dumps(to_sarif(report), indent=2), encoding="utf-8")
    data.write_text(json.dumps(to_json(report), indent=2), encoding="utf-8")
    return md, sarif, data


def recent_choices(tasks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, task id) for the recent-tasks picker, newest first."""
    out = []
    for task in tasks:
        when = (task.get("created_at") or "")[:16].replace("T", " ")
        label = f"{when} · {display_repo(task.get('repo') or '')} · {task.get('status')} · {task['task_id'][:8]}"
        out.append((label, task["task_id"]))
    return out


def status_line(status: dict[str, Any], report: AuditReport | None) -> str:
    """The status panel once a task has ended."""
    task = f"task `{status['task_id'][:12]}`"
    kind = status.get("status")
    if report is not None:
        head = "✅ Audit completed" if report.status == "completed" else "⚠️ Partial report (some agents did not finish)"
        return f"{head} · {len(report.findings)} findings · {task}"
    if kind == "cancelled":
        return f"⏹️ Cancelled · {task}"
    if kind in ("failed", "interrupted"):
        return f"⚠️ The audit {kind}: {md_text(status.get('error') or 'no detail')} · {task}"
    return f"{md_text(kind)} · {task}"


# The tab


def render(services: Services, demo: gr.Blocks) -> None:
    current = gr.State(None)  # the task id shown (Cancel acts on it)
    rows = gr.State([])  # every finding of the shown report, as table rows (the filters read these)
    with gr.Row():
        with gr.Column(scale=3):
            repo = gr.Textbox(label="Repository (https URL or local path)", elem_id="audit-repo")
            with gr.Row():
                ref = gr.Textbox(label="Ref (optional)", placeholder="branch or tag", elem_id="audit-ref")
                model = gr.Dropdown(label="Triage model", choices=[NO_MODEL], value=NO_MODEL, elem_id="audit-model",
                                    info="'none' skips the LLM triage")  # fmt: skip
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
        configured = settings.audit_model or settings.llm or "auto"
        choices = list(dict.fromkeys([NO_MODEL, configured, *resources.models.available()]))
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

"""What the Audit tab shows of an audit, as tables, Markdown and HTML: the target hint, the progress bar and the step
each ``task.*`` event reaches, the agents' table, the findings (filtered), the counts, the recent audits, the
status line once a task has ended, and the report written out for download.

Everything shown that comes from the audited repository (file names, messages) goes into table cells as text or
through :func:`~workbench.audit.markdown.md_text`; the report's summary is escaped by the aggregator.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.audit.markdown import md_text
from workbench.audit.models import AGENTS, SEVERITIES, AuditReport, Finding
from workbench.audit.report import display_repo, to_json, to_markdown, to_sarif
from workbench.settings import Settings
from workbench.ui.trace_links import trace_link

SKIP_TRIAGE = "none"
"""The triage model picker's first choice. It is only a label: the audit graph decides what skips the LLM triage
(``graphs.repo_audit.NO_MODEL``, which holds it)."""
AGENT_COLUMNS = ["agent", "status", "detail", "findings", "duration (s)"]
FINDING_COLUMNS = ["severity", "rule", "CWE", "file", "line", "message", "agents", "agreement", "LLM verdict"]


def model_choices(settings: Settings, available: list[str]) -> tuple[list[str], str]:
    """The triage model picker's choices and its value: the configured model (the audit's, else the server's)."""
    configured = settings.audit_model or settings.llm or "auto"
    return list(dict.fromkeys([SKIP_TRIAGE, configured, *available])), configured


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
    """The status panel once a task has ended, with a link to its run's trace."""
    link = trace_link(status.get("run_id"))
    task = f"task `{status['task_id'][:12]}`" + (f" · {link}" if link else "")
    kind = status.get("status")
    if report is not None:
        head = "✅ Audit completed" if report.status == "completed" else "⚠️ Partial report (some agents did not finish)"
        return f"{head} · {len(report.findings)} findings · {task}"
    if kind == "cancelled":
        return f"⏹️ Cancelled · {task}"
    if kind in ("failed", "interrupted"):
        return f"⚠️ The audit {kind}: {md_text(status.get('error') or 'no detail')} · {task}"
    return f"{md_text(kind)} · {task}"

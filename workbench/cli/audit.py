"""``workbench audit``: one repository audit without the server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workbench.cli.clients import opened
from workbench.cli.errors import BadArgument, Failed

if TYPE_CHECKING:
    from graphs.repo_audit_state import AuditInput

FORMATS = ("json", "sarif", "md")
FINDINGS_MATCHED = 3
"""The exit status when a finding is at least as severe as --fail-on."""


def audit(
    target: Annotated[str, typer.Argument(help="An https:// URL on an allowed host, or a local folder.")],
    output_format: Annotated[str, typer.Option("--format", help="json, sarif or md.")] = "md",
    ref: Annotated[str | None, typer.Option(help="Branch or tag to audit.")] = None,
    agents: Annotated[
        str | None, typer.Option(help="Comma-separated: explorer, bug_hunter, security (default: all).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help='Triage model, "provider/model"; "none" skips the LLM (default: WORKBENCH_LLM).')
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here, not stdout.")] = None,
    fail_on: Annotated[
        str | None, typer.Option(help="Exit 3 when a finding is at least this severe (critical, high, medium, low).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress on stderr.")] = False,
) -> None:
    """Audit a repository without the server: progress on stderr, the report on stdout (or --output).

    A local folder given here is allowed even outside WORKBENCH_AUDIT_ALLOWED_ROOTS (you named it yourself); the
    other safety rules are the server's. Exit codes: 0 done, 1 the audit failed, 2 the target or an option was
    refused, 3 --fail-on matched.
    """
    from workbench.audit.models import SEVERITY_RANK
    from workbench.audit.report import to_json, to_markdown, to_sarif
    from workbench.audit.safety import check_agents
    from workbench.errors import WorkbenchError
    from workbench.settings import get_settings
    from workbench.tasks.direct import allowing_named_folder, audit_here, is_refusal

    if output_format not in FORMATS:
        raise BadArgument(f"--format must be json, sarif or md, not {output_format!r}")
    if fail_on is not None and fail_on not in SEVERITY_RANK:
        raise BadArgument(f"--fail-on must be one of {', '.join(SEVERITY_RANK)}")
    chosen = check_agents([a.strip() for a in agents.split(",") if a.strip()] if agents else None)
    request: AuditInput = {"repo": target, "ref": ref, "agents": chosen}
    show = _ignore if quiet else show_progress
    with opened(allowing_named_folder(get_settings(), target)) as resources:
        try:
            report = asyncio.run(audit_here(request, show, resources, model=model))
        except WorkbenchError as exc:
            if is_refusal(exc):
                raise
            raise Failed(str(exc)) from exc
    if output_format == "md":
        text = to_markdown(report)
    else:
        text = json.dumps(to_sarif(report) if output_format == "sarif" else to_json(report), indent=2)
    if output is not None:
        output.write_text(text + "\n")
        typer.echo(str(output), err=True)
    else:
        typer.echo(text)
    if fail_on is not None and any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on] for f in report.findings):
        raise typer.Exit(FINDINGS_MATCHED)


def show_progress(event: dict[str, Any]) -> None:
    """One line on stderr per ``task.*`` event: its kind, the agent, what it says."""
    kind = event["type"].removeprefix("task.")
    who = f"[{event['agent']}] " if event.get("agent") else ""
    text = event.get("message") or event.get("summary") or event.get("status") or event.get("repo") or ""
    if kind == "agent_result":
        text = f"{event['status']}: {event['summary']}"
    elif kind == "completed":
        text = f"{event['status']}: " + ", ".join(f"{n} {s}" for s, n in event["counts"].items() if n)
    typer.echo(f"{kind:<12} {who}{str(text).splitlines()[0] if text else ''}", err=True)


def _ignore(event: dict[str, Any]) -> None:
    """--quiet: no progress."""

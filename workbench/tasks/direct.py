"""An audit a person starts from the terminal (``workbench audit``): in this process, without the server's task
queue, recorded in the run log as a finished task.

A local folder named this way is allowed even outside ``WORKBENCH_AUDIT_ALLOWED_ROOTS`` (the person named it
themselves); every other safety rule is the server's, and what a folder's ``.git`` leads to is still out of bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphs.repo_audit_state import AuditContext, AuditInput
from workbench.audit.models import AuditReport
from workbench.errors import WorkbenchError
from workbench.resources import Resources
from workbench.runlog import RunLogCallback, get_runlog
from workbench.runtime import LocalRuntime
from workbench.settings import Settings
from workbench.tasks.runner import run_audit

REFUSALS = frozenset({
    "invalid_target", "unsupported_scheme", "option_injection", "credentials_in_url", "host_not_allowed",
    "path_not_allowed", "not_found", "invalid_ref",
})  # fmt: skip
"""The error codes that refuse what was asked for (the target or the ref) rather than report a failed audit."""


def is_refusal(exc: WorkbenchError) -> bool:
    """Whether ``exc`` refused the request (a bad target or ref) rather than failed the audit of a good one."""
    return getattr(exc, "code", "") in REFUSALS


def allowing_named_folder(settings: Settings, target: str) -> Settings:
    """``settings`` with ``target`` among the allowed roots when it is a local folder (not a URL, an ``ext::``
    transport or an option), so the person who named it may audit it."""
    local = Path(target).expanduser()
    if target.startswith("-") or "://" in target or "::" in target or not local.is_dir():
        return settings
    return settings.model_copy(update={"audit_allowed_roots": [*settings.audit_allowed_roots, local.resolve()]})


async def audit_here(
    request: AuditInput, on_event: Callable[[dict[str, Any]], None], resources: Resources, *, model: str | None
) -> AuditReport:
    """Run the audit in this process on ``resources`` (their settings are the audit's), passing each ``task.*``
    event to ``on_event``; logged like any run, and recorded as a finished task before it returns."""
    runlog = get_runlog()
    try:
        return await run_audit(
            request, on_event, runtime=LocalRuntime(None, resources=resources), settings=resources.settings,
            context=AuditContext(model=model), callback=RunLogCallback(runlog), entry_point="cli", record_in=runlog,
        )  # fmt: skip
    finally:
        await runlog.aflush()

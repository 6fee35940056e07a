"""The recent runs as ``workbench runs`` lists them: through the process's writer when it can be started, so
what a stopped process left running is marked interrupted first; read-only and as it is otherwise (a home this
process may not write). A damaged log is reported before any writer is started on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import StorageUnavailable
from workbench.runlog.queries import get_trace, matching_run_ids, recent_runs
from workbench.runlog.schema import writable
from workbench.runlog.shared import get_runlog


def list_runs(path: Path, limit: int, **filters: Any) -> list[dict[str, Any]]:
    """The newest ``limit`` runs of the log at ``path`` (the process's run log), with ``filters`` and ``sort`` as
    :func:`~workbench.runlog.queries.recent_runs` takes them. Raises
    :class:`~workbench.errors.StorageUnavailable` when the log cannot be read at all."""
    try:
        if not writable(path.parent):
            raise StorageUnavailable("the home folder is read-only")
        recent_runs(path, 1, read_only=True)
        return get_runlog().recent_runs(limit=limit, **filters)
    except StorageUnavailable:
        return recent_runs(path, limit, **filters, read_only=True)


def find_trace(path: Path, run_id: str) -> dict[str, Any]:
    """The run whose id is, or starts with, ``run_id`` (at least 4 characters), with its spans; read-only, so a
    server writing the log meanwhile is not disturbed. Raises :class:`LookupError` with what to do when no run or
    several runs match."""
    if len(run_id) < 4:
        raise LookupError("give at least the first 4 characters of the run id (`workbench runs` lists them)")
    if not path.exists():
        raise LookupError("there is no run log yet: no run was logged in this home")
    found = matching_run_ids(path, run_id, limit=3)
    if not found:
        raise LookupError(f"no run has an id starting with {run_id[:40]!r}; `workbench runs` lists the recent ones")
    if len(found) > 1:
        raise LookupError(f"{len(found)} runs have ids starting with {run_id[:40]!r}; give more of the id")
    trace = get_trace(path, found[0], read_only=True)
    if trace is None:  # removed between the two reads
        raise LookupError(f"run {found[0]} is no longer in the run log")
    return trace

"""The recent runs as ``workbench runs`` lists them: through the process's writer when it can be started, so
what a stopped process left running is marked interrupted first; read-only and as it is otherwise (a home this
process may not write). A damaged log is reported before any writer is started on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import StorageUnavailable
from workbench.runlog.queries import recent_runs
from workbench.runlog.schema import writable
from workbench.runlog.shared import get_runlog


def list_runs(path: Path, limit: int, *, graph: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` runs of the log at ``path`` (the process's run log), optionally of one graph or status.
    Raises :class:`~workbench.errors.StorageUnavailable` when the log cannot be read at all."""
    try:
        if not writable(path.parent):
            raise StorageUnavailable("the home folder is read-only")
        recent_runs(path, 1, read_only=True)
        return get_runlog().recent_runs(limit=limit, graph=graph, status=status)
    except StorageUnavailable:
        return recent_runs(path, limit, graph=graph, status=status, read_only=True)

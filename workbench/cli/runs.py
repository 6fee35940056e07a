"""``workbench runs``: the run log in the terminal."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from workbench.cli.errors import BadArgument, Failed


def runs(
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    graph: Annotated[str | None, typer.Option(help="Only this graph.")] = None,
    status: Annotated[
        str | None, typer.Option(help="running, ok, error, aborted, or interrupted (cut off by a crash or kill).")
    ] = None,
) -> None:
    """Recent runs from the DuckDB run log (what a stopped process left running is marked interrupted first; a
    home this command may not write is read as it is, read-only)."""
    from workbench.errors import StorageUnavailable
    from workbench.runlog import RUN_STATUSES
    from workbench.runlog.listing import list_runs
    from workbench.settings import get_settings

    if status is not None and status not in RUN_STATUSES:
        raise BadArgument(f"unknown status {status[:40]!r}; choose one of {', '.join(RUN_STATUSES)}")
    try:
        rows = list_runs(get_settings().runlog_path, limit, graph=graph, status=status)
    except StorageUnavailable as exc:  # the log is there but cannot be read: the command failed
        raise Failed(str(exc)) from None
    for row in rows:
        typer.echo(json.dumps(row, default=str) if as_json else line(row))


def line(row: dict[str, Any]) -> str:
    """One run as a table row: when, run id, graph, entry point, status, seconds, model, the start of its input."""
    started = row["started_at"]
    took = (row["ended_at"] - started).total_seconds() if row["ended_at"] and started else float("nan")
    text = (row["input"] or "").replace("\n", " ")[:60]
    when = f"{started:%Y-%m-%d %H:%M:%S}" if started else "-"
    return (
        f"{when:<19}  {row['run_id'][:8]}  {row['graph']:<10} {row['entry_point']:<9}"
        f" {row['status']:<11} {took:6.2f}s  {row['model'] or '-':<22} {text}"
    )

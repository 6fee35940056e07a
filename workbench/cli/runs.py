"""``workbench runs``: the run log in the terminal; ``workbench runs show RUN_ID``: one run's trace."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from workbench.cli.errors import BadArgument, Failed

app = typer.Typer(help="The run log: recent runs, and one run's trace.")

SORTS = ("started_at", "duration_ms", "ttft_ms", "tokens_in", "tokens_out", "llm_ms", "retrieval_ms", "speech_ms")


@app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    graph: Annotated[str | None, typer.Option(help="Only this graph.")] = None,
    status: Annotated[
        str | None, typer.Option(help="running, ok, error, aborted, or interrupted (cut off by a crash or kill).")
    ] = None,
    sort: Annotated[
        str, typer.Option(help=f"Newest first (started_at), or most first by one of: {', '.join(SORTS[1:])}.")
    ] = "started_at",
) -> None:
    """Recent runs from the DuckDB run log (what a stopped process left running is marked interrupted first; a
    home this command may not write is read as it is, read-only)."""
    if ctx.invoked_subcommand is not None:
        return
    from workbench.errors import StorageUnavailable
    from workbench.runlog import RUN_STATUSES
    from workbench.runlog.listing import list_runs
    from workbench.settings import get_settings

    if status is not None and status not in RUN_STATUSES:
        raise BadArgument(f"unknown status {status[:40]!r}; choose one of {', '.join(RUN_STATUSES)}")
    if sort not in SORTS:
        raise BadArgument(f"runs cannot be sorted by {sort[:40]!r}; choose one of {', '.join(SORTS)}")
    try:
        rows = list_runs(get_settings().runlog_path, limit, graph=graph, status=status, sort=sort)
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


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run's id, or the start of it (as `workbench runs` lists it).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the run and its spans as JSON.")] = False,
) -> None:
    """One run's trace: its spans as a tree with their durations, the critical path marked ``*``, and its totals
    (tokens, LLM, retrieval, speech and tool time)."""
    from workbench.errors import StorageUnavailable
    from workbench.runlog.listing import find_trace
    from workbench.runlog.trace import build_tree, critical_path, render_tree, rollup
    from workbench.settings import get_settings

    try:
        found = find_trace(get_settings().runlog_path, run_id.strip())
    except StorageUnavailable as exc:
        raise Failed(str(exc)) from None
    except LookupError as exc:
        raise BadArgument(str(exc)) from None
    roots = build_tree(found["spans"])
    totals = rollup(found["spans"])
    if as_json:
        document = {**found, "critical_path": critical_path(roots), "rollup": totals}
        typer.echo(json.dumps(document, default=str, ensure_ascii=False))
        return
    run = found["run"]
    typer.echo(line(run))
    typer.echo(
        f"tokens {totals['tokens_in']} in / {totals['tokens_out']} out · LLM {totals['llm_ms']:.0f} ms · retrieval "
        f"{totals['retrieval_ms']:.0f} ms · speech {totals['speech_ms']:.0f} ms · tools {totals['tool_ms']:.0f} ms"
        f" · {totals['spans']} spans, {totals['errors']} failed"
    )
    if all((span.get("attributes") or {}).get("workbench.from_row") for span in found["spans"]):
        typer.echo("(no step of this run was traced: it was logged before runs had traces, or cut off first)")
    for text in render_tree(roots):
        typer.echo(text)

"""``workbench eval``: an eval suite over one or more variants, each an MLflow run."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer

from workbench.cli.clients import opened
from workbench.cli.errors import BadArgument

if TYPE_CHECKING:
    from workbench.evals.compare import Comparison
    from workbench.evals.runner import SuiteRun


def eval_suite(
    suite: Annotated[str, typer.Argument(help="chat-rag, voice or audit.")],
    model: Annotated[list[str] | None, typer.Option(help="Model(s) to compare; repeat for several.")] = None,
    prompt_version: Annotated[list[str] | None, typer.Option(help="Prompt version(s); repeat for several.")] = None,
    agent: Annotated[
        list[str] | None, typer.Option(help="chat-rag: agent spec(s) to run (`chat`: the built-in graph); repeat.")
    ] = None,
    settings_: Annotated[
        list[str] | None, typer.Option("--set", help="key=value[,value...]: suite settings (several values: variants).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N cases.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per variant.")] = False,
) -> None:
    """Run an eval suite over one or more variants, each an MLflow run; with two or more, compare the first two
    case by case (the cases whose outcome changed first)."""
    from evals import load_suite
    from workbench.evals.compare import compare_runs
    from workbench.evals.plan import limit_cases
    from workbench.evals.runner import run_variant
    from workbench.evals.variants import VariantError, build_variants, parse_sets
    from workbench.settings import get_settings

    try:
        chosen = load_suite(suite)
    except KeyError as exc:
        raise BadArgument(str(exc.args[0])) from None
    try:
        choices = parse_sets(settings_ or [])
        for key, values in (("model", model), ("prompt_version", prompt_version), ("agent", agent)):
            if values:
                choices[key] = list(values)
        variants = build_variants(chosen.defaults, choices)
    except VariantError as exc:
        raise BadArgument(str(exc)) from None
    settings = get_settings()

    def progress(message: str, done: int, total: int) -> None:
        if not as_json:
            typer.echo(f"[{done}/{total}] {message}", err=True)

    with opened(settings) as resources:

        async def run_all() -> list[SuiteRun]:
            cases = limit_cases(chosen.cases(settings), limit)  # the first N bundled cases, every promoted one
            return [await run_variant(chosen, v, resources, cases=cases, progress=progress) for v in variants]

        runs = asyncio.run(run_all())
    print_runs(runs, as_json)
    if len(runs) >= 2 and not as_json:
        print_comparison(compare_runs(settings, runs[0].mlflow_run_id, runs[1].mlflow_run_id))


def print_runs(runs: list[SuiteRun], as_json: bool) -> None:
    """Each variant's MLflow run and metrics (with its cases, as JSON lines)."""
    if as_json:
        for run in runs:
            typer.echo(json.dumps({
                "suite": run.suite, "variant": run.variant.name, "mlflow_run_id": run.mlflow_run_id,
                "params": run.params, "metrics": run.metrics,
                "cases": [r.row() for r in run.results],
            }, default=str))  # fmt: skip
        return
    for run in runs:
        typer.echo(f"\n{run.suite} [{run.variant.name}]  mlflow run {run.mlflow_run_id}  ({run.duration_s:.1f} s)")
        for name, value in sorted(run.metrics.items()):
            typer.echo(f"  {name:<28} {value:.4f}" if isinstance(value, float) else f"  {name:<28} {value}")


def print_comparison(comparison: Comparison) -> None:
    """What changed from the first run to the second: params, metrics, and the cases whose outcome changed."""
    typer.echo(f"\ncompare {comparison.run_a[:8]} (a) -> {comparison.run_b[:8]} (b)")
    for row in comparison.param_rows():
        typer.echo(f"  param  {row['param']:<22} {row['a']} -> {row['b']}")
    for row in comparison.metric_rows():
        if row["delta"]:
            typer.echo(f"  metric {row['metric']:<22} {row['a']:.4f} -> {row['b']:.4f} ({row['delta']:+.4f})")
    changed = comparison.changed
    typer.echo(f"  {len(changed)} of {len(comparison.cases)} cases changed outcome")
    for diff in changed:
        typer.echo(f"    {diff.case_id:<20} {diff.outcome_a} -> {diff.outcome_b} ({diff.direction})")

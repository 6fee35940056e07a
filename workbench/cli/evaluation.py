"""``workbench eval``: run a suite over one or more variants (each an MLflow run), compare two runs with paired
statistics, and gate a candidate against a baseline in CI.

- ``workbench eval SUITE [options]``: one subcommand per suite (chat-rag, voice, audit);
- ``workbench eval compare A B [--json]``: every per-case metric of run B against run A, with its interval, test
  and verdict, then the cases whose outcome changed and where their two runs part ways;
- ``workbench eval gate --baseline A --candidate B --metric NAME --margin M``: exit 1 when B may be worse than A by
  more than M (the interval's lower bound is below -M), 0 otherwise, with the reason in one line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evals import SUITES
from workbench.cli.clients import opened
from workbench.cli.errors import BadArgument

if TYPE_CHECKING:
    from workbench.evals.compare import Comparison
    from workbench.evals.runner import SuiteRun
    from workbench.evals.stats import MetricComparison
    from workbench.settings import Settings

app = typer.Typer(
    help="Eval suites (each variant an MLflow run), comparisons with paired statistics, and a gate for CI.",
    no_args_is_help=True,
)

RUN_ID = typer.Argument(help="An MLflow run id of an eval (printed by `workbench eval SUITE`).")


def run_suite_command(suite: str) -> Callable[..., None]:
    """The ``workbench eval <suite>`` command."""

    def command(
        model: Annotated[list[str] | None, typer.Option(help="Model(s) to compare; repeat for several.")] = None,
        prompt_version: Annotated[list[str] | None, typer.Option(help="Prompt version(s); repeat for several.")] = None,
        agent: Annotated[
            list[str] | None, typer.Option(help="chat-rag: agent spec(s) to run (`chat`: the built-in graph); repeat.")
        ] = None,
        settings_: Annotated[
            list[str] | None,
            typer.Option("--set", help="key=value[,value...]: suite settings (several values: variants)."),
        ] = None,
        limit: Annotated[int | None, typer.Option(help="Only the first N cases.")] = None,
        repeats: Annotated[
            int, typer.Option(min=1, max=100, help="Run every case K times (independent samples): pass@k, pass^k.")
        ] = 1,
        dataset: Annotated[
            Path | None,
            typer.Option(help="chat-rag: a question file (JSON Lines or CSV) to run instead of datasets/qa.jsonl."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON line per variant.")] = False,
    ) -> None:
        run_suite(suite, model, prompt_version, agent, settings_, limit, repeats, dataset, as_json)

    command.__doc__ = (
        f"Run the {suite} suite over one or more variants, each an MLflow run; with two or more, compare the "
        "first two case by case, with paired statistics."
    )
    return command


def run_suite(
    suite: str,
    model: list[str] | None,
    prompt_version: list[str] | None,
    agent: list[str] | None,
    sets: list[str] | None,
    limit: int | None,
    repeats: int,
    dataset: Path | None,
    as_json: bool,
) -> None:
    from evals import load_suite
    from workbench.evals.compare import compare_runs, log_comparison
    from workbench.evals.plan import limit_cases
    from workbench.evals.runner import run_variant
    from workbench.evals.suite import Variant
    from workbench.evals.variants import VariantError, build_variants, parse_sets
    from workbench.settings import get_settings

    chosen = load_suite(suite)
    try:
        choices = parse_sets(sets or [])
        for key, values in (("model", model), ("prompt_version", prompt_version), ("agent", agent)):
            if values:
                choices[key] = list(values)
        if dataset is not None and "dataset" not in chosen.defaults:
            raise VariantError(f"the {suite} suite does not take --dataset; chat-rag does")
        variants = build_variants(chosen.defaults, choices)
    except VariantError as exc:
        raise BadArgument(str(exc)) from None
    if dataset is not None:  # every variant runs on it; its name is the suite's to log (never the path)
        variants = [Variant(v.name, {**v.params, "dataset": str(dataset)}) for v in variants]
    settings = get_settings()
    cases = limit_cases(load_cases(chosen, settings, dataset), limit)  # the first N cases, every promoted one

    def progress(message: str, done: int, total: int) -> None:
        if not as_json:
            typer.echo(f"[{done}/{total}] {message}", err=True)

    with opened(settings) as resources:

        async def run_all() -> list[SuiteRun]:
            return [
                await run_variant(chosen, v, resources, cases=cases, progress=progress, repeats=repeats)
                for v in variants
            ]

        runs = asyncio.run(run_all())
    print_runs(runs, as_json)
    if len(runs) >= 2 and not as_json:
        comparison = compare_runs(settings, runs[0].mlflow_run_id, runs[1].mlflow_run_id)
        explain(comparison)
        log_comparison(settings, comparison)
        print_comparison(comparison)


def load_cases(suite: Any, settings: Settings, dataset: Path | None) -> list[Any]:
    """The suite's cases, or those of ``dataset`` (a file the user brought: its errors are the user's to fix)."""
    if dataset is None:
        return list(suite.cases(settings))
    from workbench.evals.datasets import DatasetError

    try:
        return list(suite.cases(settings, dataset=dataset))
    except (DatasetError, OSError) as exc:
        reason = exc if isinstance(exc, DatasetError) else f"cannot read {dataset.name}: {exc.strerror}"
        raise BadArgument(str(reason)) from None


def compare(
    run_a: Annotated[str, RUN_ID],
    run_b: Annotated[str, RUN_ID],
    as_json: Annotated[bool, typer.Option("--json", help="The comparison as one JSON object.")] = False,
    traces: Annotated[
        bool, typer.Option(help="Find where the two runs of each changed case part ways (reads the run log).")
    ] = True,
) -> None:
    """Compare eval run B with run A: per metric, b - a with its 95 % paired bootstrap interval, an exact paired
    test and a verdict (better, worse or inconclusive: then the smallest effect these cases can detect, and the
    cases needed to detect the one observed); then the cases whose outcome changed, first."""
    from workbench.evals.compare import log_comparison
    from workbench.settings import get_settings

    settings = get_settings()
    comparison = _compare(settings, run_a, run_b)
    if traces:
        explain(comparison)
    log_comparison(settings, comparison)
    if as_json:
        typer.echo(json.dumps(comparison.as_dict(), default=str))
    else:
        print_comparison(comparison)


def gate(
    baseline: Annotated[str, typer.Option(help="The baseline's MLflow run id (e.g. the main branch's stored run).")],
    candidate: Annotated[str, typer.Option(help="The candidate's MLflow run id (the change under test).")],
    metric: Annotated[str, typer.Option(help="A per-case metric: pass_rate, token_f1, recall_at_k, latency_s...")],
    margin: Annotated[
        float, typer.Option(min=0.0, help="How much worse the candidate may be, in the metric's units (0.05).")
    ],
) -> None:
    """Non-inferiority gate for CI: exit 1 when the candidate may be worse than the baseline by more than MARGIN
    (the 95 % interval of the difference reaches past it), 0 otherwise; the reason in one line."""
    from workbench.evals.stats import non_inferior
    from workbench.settings import get_settings

    comparison = _compare(get_settings(), baseline, candidate)
    stat = comparison.statistic(metric)
    if stat is None:
        names = ", ".join(s.metric for s in comparison.statistics)
        raise BadArgument(f"no per-case metric {metric[:60]!r} in both runs; choose one of {names}")
    passed, reason = non_inferior(stat, margin)
    typer.echo(f"{'pass' if passed else 'FAIL'}: {reason} ({stat.n_cases} cases)")
    raise typer.Exit(0 if passed else 1)


def _compare(settings: Settings, run_a: str, run_b: str) -> Comparison:
    from mlflow.exceptions import MlflowException

    from workbench.evals.compare import compare_runs

    try:
        return compare_runs(settings, run_a, run_b)
    except MlflowException:
        raise BadArgument(
            f"no eval run {run_a[:40]!r} or {run_b[:40]!r} with a case table in this workbench's MLflow store; "
            "use the ids `workbench eval SUITE` printed"
        ) from None
    except ValueError as exc:
        raise BadArgument(str(exc)) from None


def explain(comparison: Comparison) -> None:
    """Where the two runs of each changed case part ways, from their traces in this workbench's run log."""
    from workbench.evals.compare import attach_divergences
    from workbench.evals.divergence import run_reader
    from workbench.runlog import get_runlog

    runlog = get_runlog()
    runlog.flush()  # the runs of a suite this command just ran
    attach_divergences(comparison, run_reader(runlog.path))


def print_runs(runs: list[SuiteRun], as_json: bool) -> None:
    """Each variant's MLflow run and metrics (with its cases, as JSON lines)."""
    from workbench.evals.repeats import spreads_of

    if as_json:
        for run in runs:
            line: dict[str, Any] = {
                "suite": run.suite, "variant": run.variant.name, "mlflow_run_id": run.mlflow_run_id,
                "params": run.params, "metrics": run.metrics,
                "cases": [r.row() for r in run.results],
            }  # fmt: skip
            if run.params.get("repeats", 1) > 1:
                line["case_spreads"] = [c.as_dict() for c in spreads_of(run.results)]
            typer.echo(json.dumps(line, default=str))
        return
    for run in runs:
        typer.echo(f"\n{run.suite} [{run.variant.name}]  mlflow run {run.mlflow_run_id}  ({run.duration_s:.1f} s)")
        for name, value in sorted(run.metrics.items()):
            typer.echo(f"  {name:<28} {value:.4f}" if isinstance(value, float) else f"  {name:<28} {value}")
        flaky = [c for c in spreads_of(run.results) if c.flaky]
        if run.params.get("repeats", 1) > 1:
            typer.echo(f"  {len(flaky)} flaky cases (passed and failed)" + (":" if flaky else ""))
            for case in flaky:
                typer.echo(f"    {case.case_id:<20} {case.passes}/{case.samples} passed")


def print_comparison(comparison: Comparison) -> None:
    """Params that differ, each metric's statistics, and the cases whose outcome changed with where they part."""
    typer.echo(f"\ncompare {comparison.run_a[:8]} (a) -> {comparison.run_b[:8]} (b)")
    for row in comparison.param_rows():
        typer.echo(f"  param  {row['param']:<22} {row['a']} -> {row['b']}")
    for stat in comparison.statistics:
        typer.echo(f"  {metric_line(stat)}")
    changed = comparison.changed
    typer.echo(f"  {len(changed)} of {len(comparison.cases)} cases changed outcome")
    for diff in changed:
        typer.echo(f"    {diff.case_id:<20} {diff.outcome_a} -> {diff.outcome_b} ({diff.direction})")
        if isinstance(diff.divergence, dict):
            typer.echo(f"      parts ways at {diff.divergence.get('description', '')}")
        elif diff.divergence:
            typer.echo(f"      {diff.divergence}")


def metric_line(stat: MetricComparison) -> str:
    """One metric's comparison: means, difference with its interval, p-value and verdict (and, when inconclusive,
    what the cases can detect)."""
    if stat.n_cases == 0:
        return f"{stat.metric:<18} no case scored by both runs"
    line = (
        f"{stat.metric:<18} {stat.a:.4f} -> {stat.b:.4f}  {stat.delta:+.4f} "
        f"[{stat.ci_low:+.4f}, {stat.ci_high:+.4f}]  p={stat.p_value:.3g}  {stat.verdict}"
    )
    if stat.verdict == "inconclusive" and stat.delta == 0 and stat.mde == 0:
        line += " (no case differs)"
    elif stat.verdict == "inconclusive":
        needed = f", about {stat.cases_needed} cases to see {stat.delta:+.4f}" if stat.cases_needed else ""
        line += f" (detectable: ±{stat.mde:.4f} with {stat.n_cases} cases{needed})"
    return line


for _suite in SUITES:
    app.command(_suite)(run_suite_command(_suite))
app.command("compare")(compare)
app.command("gate")(gate)

"""What the Evals tab shows, as tables, Markdown and HTML: metrics per variant, two runs compared per metric (the
paired statistics and their verdicts) and case by case (the cases whose outcome changed first, with where their two
runs part ways), the suite's description, the progress bar and the status lines.

Text that comes from a suite, a run or an error goes through :func:`~workbench.audit.markdown.md_text`, and an
error's URLs lose their passwords first (an MLflow server URI may carry one).
"""

from __future__ import annotations

import html
import math
import re
from typing import Any, Literal

import pandas as pd

from workbench.audit.markdown import md_text
from workbench.evals.compare import PASS_RATE, CaseDiff, Comparison
from workbench.evals.plan import SuiteUnavailable
from workbench.evals.runner import SuiteRun
from workbench.evals.stats import MetricComparison
from workbench.evals.suite import Case, Suite
from workbench.ui.trace_links import trace_link

PARAM_COLUMNS = ["param", "a", "b"]
METRIC_COLUMNS = ["metric", "a", "b", "delta"]
STAT_COLUMNS = ["metric", "a", "b", "Δ (b−a)", "95 % CI", "p", "test", "verdict", "note"]
CASE_COLUMNS = ["case", "outcome a", "outcome b", "direction", "metric", "a", "b", "trace a", "trace b",
                "parts ways at"]  # fmt: skip
CASE_TYPES: list[Literal["str", "html"]] = ["str", "str", "str", "str", "str", "str", "str", "html", "html", "str"]
"""The case table's cell types: everything from a run is text; the trace links are the view's own HTML. Where the
runs part ways comes last: a long line there would push the links out of sight."""
VERDICT_MARKS = {"better": "▲ better", "worse": "▼ worse", "inconclusive": "≈ inconclusive"}
TEST_NAMES = {"mcnemar_exact": "McNemar exact", "sign_flip_permutation": "sign-flip permutation"}
TIMING_SUFFIXES = ("_s", "_ms")
_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)[^/\s]*@")


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def redact(text: object) -> str:
    """``text`` with the passwords of any URLs in it masked (an MLflow server URI may carry one)."""
    return _CREDENTIALS.sub(r"\1***@", str(text))


def shown_uri(uri: str) -> str:
    """The tracking URI for a code span: no password, no backticks."""
    return redact(uri).replace("`", "")


def warning(exc: object) -> str:
    """An error for the status line: escaped, without passwords."""
    return f"⚠️ {md_text(redact(exc))}"


def suite_warning(exc: SuiteUnavailable) -> str:
    return f"⚠️ The suite {md_text(exc.suite)} cannot be loaded: {md_text(redact(exc.cause))}"


def variant_label(run: SuiteRun) -> str:
    """A variant's run as its column and picker show it: the variant and its MLflow run id."""
    return f"{run.variant.name} ({run.mlflow_run_id[:8]})"


def metrics_table(runs: list[SuiteRun]) -> pd.DataFrame:
    """One row per metric, one column per variant (headed with its MLflow run id)."""
    names = sorted({name for run in runs for name in run.metrics})
    columns = ["metric", *[variant_label(run) for run in runs]]
    return pd.DataFrame([[name, *[fmt(run.metrics.get(name)) for run in runs]] for name in names], columns=columns)


def key_metric(diff: CaseDiff) -> str | None:
    """The quality metric that moved most between the two runs (timings only when a case has nothing else)."""
    names = sorted(set(diff.metrics_a) & set(diff.metrics_b)) or sorted(set(diff.metrics_a) | set(diff.metrics_b))
    quality = [name for name in names if not name.endswith(TIMING_SUFFIXES)] or names
    if not quality:
        return None
    return max(quality, key=lambda m: abs(diff.metrics_b.get(m, 0.0) - diff.metrics_a.get(m, 0.0)))


def parts_ways(diff: CaseDiff) -> str:
    """Where a changed case's two runs part ways (the divergence's one line, or why it is not known), as one line
    without passwords; empty for a case whose divergence was not looked for."""
    found = diff.divergence
    text = found.get("description", "") if isinstance(found, dict) else found or ""
    return " ".join(redact(text).split())


def case_rows(cases: list[CaseDiff]) -> pd.DataFrame:
    """The case-by-case table: cases whose outcome changed first (the given order kept within each group), each
    with where its two runs part ways and links to their traces."""
    ordered = [c for c in cases if c.changed] + [c for c in cases if not c.changed]
    rows = []
    for diff in ordered:
        metric = key_metric(diff)
        a = diff.metrics_a.get(metric) if metric else None
        b = diff.metrics_b.get(metric) if metric else None
        rows.append([diff.case_id, diff.outcome_a or "–", diff.outcome_b or "–", diff.direction, metric or "",
                     fmt(a), fmt(b), trace_link(diff.run_id_a), trace_link(diff.run_id_b),
                     parts_ways(diff)])  # fmt: skip
    return pd.DataFrame(rows, columns=CASE_COLUMNS)


def param_table(comparison: Comparison) -> pd.DataFrame:
    rows = [[r["param"], fmt(r["a"]), fmt(r["b"])] for r in comparison.param_rows()]
    return pd.DataFrame(rows, columns=PARAM_COLUMNS)


def metric_table(comparison: Comparison) -> pd.DataFrame:
    """The metrics each run logged for itself (aggregates such as case counts and timings), side by side."""
    rows = [[r["metric"], fmt(r["a"]), fmt(r["b"]), "" if r["delta"] is None else f"{r['delta']:+.4g}"]
            for r in comparison.metric_rows()]  # fmt: skip
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def signed(value: float, spec: str = "+.3g") -> str:
    return format(value, spec) if math.isfinite(value) else ""


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def interval(stat: MetricComparison, spec: str = "+.3g") -> str:
    return f"[{signed(stat.ci_low, spec)}, {signed(stat.ci_high, spec)}]"


def stat_note(stat: MetricComparison) -> str:
    """What an inconclusive verdict means for this metric: the smallest difference its cases can tell from noise
    and how many cases would show the one observed; and how many cases only one run scored."""
    notes = []
    if stat.n_cases == 0:
        notes.append("no case scored by both runs")
    elif stat.verdict == "inconclusive" and stat.mde == 0:
        notes.append(f"the runs scored all {stat.n_cases} cases the same")
    elif stat.verdict == "inconclusive":
        notes.append(f"detectable ±{stat.mde:.2g} with {stat.n_cases} cases")
        if stat.cases_needed:
            notes.append(f"~{stat.cases_needed} cases to see {signed(stat.delta)}")
    if stat.dropped:
        notes.append(f"{stat.dropped} case(s) left out: scored by one run only")
    return "; ".join(notes)


def statistics_table(comparison: Comparison) -> pd.DataFrame:
    """Per metric, the paired comparison of run b against run a (the pass rate first): means, the difference with
    its interval, the test's p-value, a marked verdict and, when inconclusive, what the cases can detect."""
    rows = []
    for stat in comparison.statistics:
        scored = stat.n_cases > 0
        rows.append([stat.metric, fmt(stat.a) if scored else "", fmt(stat.b) if scored else "", signed(stat.delta),
                     interval(stat) if scored else "", p_text(stat.p_value) if scored else "",
                     TEST_NAMES.get(stat.test, stat.test), VERDICT_MARKS[stat.verdict], stat_note(stat)])  # fmt: skip
    return pd.DataFrame(rows, columns=STAT_COLUMNS)


def verdict_line(stat: MetricComparison) -> str:
    """One metric's verdict in plain words: ``pass rate 0.500 → 0.750 (+0.250, 95 % CI [+0.100, +0.400], p =
    0.002): ▲ better``, or for an inconclusive one the difference its cases cannot tell from noise."""
    name = "pass rate" if stat.metric == PASS_RATE else md_text(stat.metric)
    if stat.n_cases == 0:
        return f"{name}: no case was scored by both runs"
    p = p_text(stat.p_value)
    numbers = (f"{name} {stat.a:.3f} → {stat.b:.3f} ({stat.delta:+.3f}, {stat.confidence * 100:g} % CI "
               f"{interval(stat, '+.3f')}, p {p if p.startswith('<') else f'= {p}'})")  # fmt: skip
    if stat.verdict != "inconclusive":
        return f"{numbers}: **{VERDICT_MARKS[stat.verdict]}**"
    if stat.mde == 0:
        why = f"the runs scored all {stat.n_cases} cases the same"
    else:
        why = f"a difference under ±{stat.mde:.2f} cannot be told from noise with {stat.n_cases} cases"
    return f"{numbers}: **{VERDICT_MARKS['inconclusive']}**: {why}"


def comparison_summary(comparison: Comparison, labels: dict[str, str] | None = None) -> str:
    """How many cases changed outcome between the two runs and, when the comparison has statistics, the pass rate's
    verdict in plain words."""
    names = labels or {}
    a, b = (md_text(names.get(r, r[:8])) for r in (comparison.run_a, comparison.run_b))
    counts = f"**{len(comparison.changed)} of {len(comparison.cases)} cases changed outcome** · a: {a} → b: {b}"
    passes = comparison.statistic(PASS_RATE)
    return counts if passes is None else f"{counts}\n\n{verdict_line(passes)}"


def progress_html(fraction: float, text: str) -> str:
    pct = round(max(0.0, min(1.0, fraction)) * 100)
    return (f'<div class="evals-progress"><progress max="100" value="{pct}" style="width:100%"></progress>'
            f"<div>{pct}% · {html.escape(text)}</div></div>")  # fmt: skip


def suite_markdown(suite: Suite, cases: list[Case]) -> str:
    promoted = sum(c.source == "promoted" for c in cases)
    rows = ["| setting | default |", "|---|---|"]
    rows += [f"| {md_text(k)} | {md_text(v)} |" for k, v in sorted(suite.defaults.items())]
    count = f"**{len(cases)} cases** ({promoted} promoted from runs)"
    return "\n\n".join([md_text(suite.description), count, "\n".join(rows)])


def mlflow_hint(uri: str) -> str:
    return (f"Open the MLflow UI with `workbench mlflow`: it serves it on http://127.0.0.1:5000 "
            f"(loopback only) · tracking URI `{shown_uri(uri)}`")  # fmt: skip


def starting_line(suite: str, variants: list[str]) -> str:
    names = ", ".join(md_text(name) for name in variants)
    return f"⏳ Preparing {md_text(suite)} · {len(variants)} variant(s): {names}"


def done_line(suite: str, runs: list[SuiteRun]) -> str:
    counted = f"{len(runs[0].results)} cases ({runs[0].params.get('cases_promoted', 0)} promoted)" if runs else ""
    return f"✅ {len(runs)} run(s) of {md_text(suite)} logged to MLflow over {counted}: " + ", ".join(
        md_text(variant_label(run)) for run in runs
    )


def cancelled_line(runs: list[SuiteRun], variants: int) -> str:
    last = runs[-1] if runs else None
    if last is None or not last.cancelled:
        return f"⏹️ Cancelled after {len(runs)} of {variants} variant(s)."
    return (f"⏹️ Cancelled: variant {md_text(last.variant.name)} stopped after {len(last.results)} case(s); its "
            f"MLflow run `{last.mlflow_run_id[:8]}` ended as KILLED with them ({len(runs)} of {variants} "
            "variant(s) run).")  # fmt: skip

"""Compare two MLflow runs of a suite case by case, the cases whose outcome changed first, and say for each metric
whether the difference is real (:mod:`workbench.evals.stats`: paired over the cases both runs scored).

A run that repeated its cases (``--repeats k``) is compared on each case's pass share and metric means: the case
is the unit of the statistics, not the sample (:mod:`workbench.evals.repeats`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.evals.repeats import CaseSpread, by_case
from workbench.evals.stats import MetricComparison, compare_metric
from workbench.evals.tracking import configure
from workbench.settings import Settings

PASS_RATE = "pass_rate"
"""The statistics' name for the cases' outcomes (1 for a pass, 0 for a fail or an error; a share with repeats)."""
LOWER_IS_BETTER = frozenset({"wer", "errors"})
"""Per-case metrics where less is better, besides timings (``*_s``) and real-time factors (``*_rtf``)."""


@dataclass
class CaseDiff:
    case_id: str
    outcome_a: str | None
    outcome_b: str | None
    metrics_a: dict[str, float] = field(default_factory=dict)
    metrics_b: dict[str, float] = field(default_factory=dict)
    output_a: str = ""
    output_b: str = ""
    run_id_a: str | None = None
    run_id_b: str | None = None
    pass_a: float | None = None
    """The share of the case's samples that passed in run a (0 or 1 without repeats; None: the run lacks it)."""
    pass_b: float | None = None
    divergence: dict[str, Any] | str | None = None
    """Where the two runs of a changed case part ways (see :mod:`workbench.evals.divergence`), or why not known."""

    @property
    def changed(self) -> bool:
        return self.outcome_a != self.outcome_b

    @property
    def direction(self) -> str:
        """better, worse, same, or new/missing (a case only one run has)."""
        if self.outcome_a is None:
            return "new"
        if self.outcome_b is None:
            return "missing"
        if not self.changed:
            return "same"
        if self.pass_a is not None and self.pass_b is not None and self.pass_a != self.pass_b:
            return "better" if self.pass_b > self.pass_a else "worse"
        return "better" if self.outcome_b == "pass" else "worse" if self.outcome_a == "pass" else "changed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "outcome_a": self.outcome_a, "outcome_b": self.outcome_b,
            "direction": self.direction, "pass_a": self.pass_a, "pass_b": self.pass_b,
            "metrics_a": self.metrics_a, "metrics_b": self.metrics_b, "run_id_a": self.run_id_a,
            "run_id_b": self.run_id_b, "divergence": self.divergence,
        }  # fmt: skip


@dataclass
class Comparison:
    run_a: str
    run_b: str
    params_a: dict[str, str]
    params_b: dict[str, str]
    metrics_a: dict[str, float]
    metrics_b: dict[str, float]
    cases: list[CaseDiff]
    statistics: list[MetricComparison] = field(default_factory=list)
    """Per-case metrics compared with paired statistics, the pass rate first (:func:`paired_statistics`)."""

    @property
    def changed(self) -> list[CaseDiff]:
        return [c for c in self.cases if c.changed]

    def statistic(self, metric: str) -> MetricComparison | None:
        return next((s for s in self.statistics if s.metric == metric), None)

    def as_dict(self) -> dict[str, Any]:
        """The comparison as JSON: per metric its paired statistics, the runs' own metrics, the changed cases first."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "params": self.param_rows(),
            "metrics": {s.metric: s.as_dict() for s in self.statistics},
            "run_metrics": self.metric_rows(),
            "changed": len(self.changed),
            "cases": [c.as_dict() for c in self.cases],
        }

    def metric_rows(self) -> list[dict[str, Any]]:
        names = sorted(set(self.metrics_a) | set(self.metrics_b))
        rows = []
        for name in names:
            a, b = self.metrics_a.get(name), self.metrics_b.get(name)
            delta = None if a is None or b is None else round(b - a, 6)
            rows.append({"metric": name, "a": a, "b": b, "delta": delta})
        return rows

    def param_rows(self) -> list[dict[str, Any]]:
        names = sorted(set(self.params_a) | set(self.params_b))
        return [
            {"param": n, "a": self.params_a.get(n), "b": self.params_b.get(n)}
            for n in names
            if self.params_a.get(n) != self.params_b.get(n)
        ]


def case_table(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    """The run's ``cases.json`` rows."""
    import mlflow

    configure(settings)
    path = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="cases.json"))
    table = json.loads(path.read_text())
    columns, data = table["columns"], table["data"]
    return [dict(zip(columns, row, strict=True)) for row in data]


def _metrics(row: dict[str, Any]) -> dict[str, float]:
    return {k.removeprefix("metric."): v for k, v in row.items() if k.startswith("metric.") and _number(v)}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN: a missing cell


def higher_is_better(metric: str) -> bool:
    return not (metric.endswith(("_s", "_rtf")) or metric in LOWER_IS_BETTER)


@dataclass
class _Case:
    """One case of one run: its first sample's row (output, run id) and all its samples' spread."""

    first: dict[str, Any]
    spread: CaseSpread

    @property
    def outcome(self) -> str | None:
        spread = self.spread
        if spread.samples == 1:
            return self.first.get("outcome")
        if spread.passes in (0, spread.samples):
            return "pass" if spread.passes else "error" if spread.errors == spread.samples else "fail"
        return f"{spread.passes}/{spread.samples} pass"


def _cases(rows: list[dict[str, Any]]) -> dict[str, _Case]:
    """A run's case table grouped by case (several rows each when the run repeated its cases)."""
    firsts: dict[str, dict[str, Any]] = {}
    for row in rows:
        firsts.setdefault(str(row["case_id"]), row)
    spreads = by_case((str(r["case_id"]), r.get("outcome"), _metrics(r)) for r in rows)
    return {s.case_id: _Case(firsts[s.case_id], s) for s in spreads}


def paired_statistics(cases: list[CaseDiff], *, resamples: int = 10_000, seed: int = 0) -> list[MetricComparison]:
    """Each per-case metric both runs have, compared over the cases both scored: the pass rate first, then the
    metrics by name (timings and real-time factors oriented lower-is-better)."""
    shared = sorted({m for c in cases for m in c.metrics_a} & {m for c in cases for m in c.metrics_b})
    scores = {PASS_RATE: ([c.pass_a for c in cases], [c.pass_b for c in cases])}
    for name in shared:
        scores[name] = ([c.metrics_a.get(name) for c in cases], [c.metrics_b.get(name) for c in cases])
    return [
        compare_metric(name, a, b, higher_is_better=higher_is_better(name), resamples=resamples, seed=seed)
        for name, (a, b) in scores.items()
    ]


def compare_runs(settings: Settings, run_a: str, run_b: str, *, resamples: int = 10_000, seed: int = 0) -> Comparison:
    """Case-by-case comparison of two runs (usually two variants of one suite): changed outcomes first, then
    the largest metric moves; with the paired statistics of every per-case metric."""
    from mlflow import MlflowClient

    configure(settings)
    client = MlflowClient()
    info_a, info_b = client.get_run(run_a), client.get_run(run_b)
    rows_a, rows_b = _cases(case_table(settings, run_a)), _cases(case_table(settings, run_b))
    diffs = []
    for case_id in list(dict.fromkeys([*rows_a, *rows_b])):
        a, b = rows_a.get(case_id), rows_b.get(case_id)
        diffs.append(
            CaseDiff(
                case_id,
                a.outcome if a else None,
                b.outcome if b else None,
                a.spread.means if a else {},
                b.spread.means if b else {},
                str(a.first.get("output") or "") if a else "",
                str(b.first.get("output") or "") if b else "",
                a.first.get("run_id") if a else None,
                b.first.get("run_id") if b else None,
                a.spread.pass_share if a else None,
                b.spread.pass_share if b else None,
            )
        )

    def moved(diff: CaseDiff) -> float:
        """The largest move of a quality metric (timings, ``*_s``, are noise for ordering)."""
        shared = {m for m in set(diff.metrics_a) & set(diff.metrics_b) if not m.endswith("_s")}
        return max((abs(diff.metrics_b[m] - diff.metrics_a[m]) for m in shared), default=0.0)

    diffs.sort(key=lambda d: (not d.changed, -moved(d), d.case_id))
    return Comparison(
        run_a, run_b, dict(info_a.data.params), dict(info_b.data.params),
        dict(info_a.data.metrics), dict(info_b.data.metrics), diffs,
        paired_statistics(diffs, resamples=resamples, seed=seed),
    )  # fmt: skip


SAME_STEPS = "both runs did the same steps with the same results: the outcomes differ in scoring only"


def attach_divergences(comparison: Comparison, read: Callable[[str], dict[str, Any] | None]) -> None:
    """Set each changed case's ``divergence``: where its two runs part ways, read from the run log by ``read``
    (:func:`workbench.evals.divergence.run_reader`), or why that is not known."""
    from workbench.evals.divergence import Divergence, divergences

    found = divergences(((c.case_id, c.run_id_a, c.run_id_b) for c in comparison.changed), read)
    for case in comparison.changed:
        where = found.get(case.case_id)
        case.divergence = where.as_dict() if isinstance(where, Divergence) else where or SAME_STEPS


def log_comparison(settings: Settings, comparison: Comparison) -> str:
    """Keep the comparison in MLflow, with the candidate (run b): ``comparisons/<run a>.json`` among its artifacts
    and run a's id in its ``workbench.compared_with`` tag. Returns the artifact's path in the run."""
    from mlflow import MlflowClient

    configure(settings)
    client = MlflowClient()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{comparison.run_a}.json"
        path.write_text(json.dumps(comparison.as_dict(), indent=1, default=str))
        client.log_artifact(comparison.run_b, str(path), artifact_path="comparisons")
    earlier = client.get_run(comparison.run_b).data.tags.get("workbench.compared_with", "")
    compared = list(dict.fromkeys([*filter(None, earlier.split(",")), comparison.run_a]))
    client.set_tag(comparison.run_b, "workbench.compared_with", ",".join(compared)[-5000:])
    return f"comparisons/{comparison.run_a}.json"

"""Compare two MLflow runs of a suite case by case, the cases whose outcome changed first."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.evals.tracking import configure
from workbench.settings import Settings


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
        return "better" if self.outcome_b == "pass" else "worse" if self.outcome_a == "pass" else "changed"


@dataclass
class Comparison:
    run_a: str
    run_b: str
    params_a: dict[str, str]
    params_b: dict[str, str]
    metrics_a: dict[str, float]
    metrics_b: dict[str, float]
    cases: list[CaseDiff]

    @property
    def changed(self) -> list[CaseDiff]:
        return [c for c in self.cases if c.changed]

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
    return {k.removeprefix("metric."): v for k, v in row.items() if k.startswith("metric.") and v is not None}


def compare_runs(settings: Settings, run_a: str, run_b: str) -> Comparison:
    """Case-by-case comparison of two runs (usually two variants of one suite): changed outcomes first, then
    the largest metric moves."""
    from mlflow import MlflowClient

    configure(settings)
    client = MlflowClient()
    info_a, info_b = client.get_run(run_a), client.get_run(run_b)
    rows_a = {r["case_id"]: r for r in case_table(settings, run_a)}
    rows_b = {r["case_id"]: r for r in case_table(settings, run_b)}
    diffs = []
    for case_id in list(dict.fromkeys([*rows_a, *rows_b])):
        a, b = rows_a.get(case_id, {}), rows_b.get(case_id, {})
        diffs.append(
            CaseDiff(
                case_id,
                a.get("outcome"),
                b.get("outcome"),
                _metrics(a),
                _metrics(b),
                str(a.get("output") or ""),
                str(b.get("output") or ""),
                a.get("run_id"),
                b.get("run_id"),
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
    )  # fmt: skip

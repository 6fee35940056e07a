"""A suite run with every case repeated: per-case pass shares and spreads, pass@k, pass^k and the flaky cases.

LLM outputs vary from sample to sample, so one run of a case says little about how often it passes. Run each case
``k`` times (independent samples: nothing is cached between them) and the case becomes the unit of analysis: its
pass share and its mean metric values, each with its spread, are what two runs are compared on
(:mod:`workbench.evals.compare`), never the ``k`` samples as if they were independent cases.

- ``pass_at_k``: the share of cases that passed at least once in ``k`` tries (could the agent do it at all?);
- ``pass_all_k`` (pass^k): the share that passed every time (can it be relied on?);
- ``flaky_cases``: how many both passed and failed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workbench.evals.suite import CaseResult


@dataclass
class CaseSpread:
    """One case's samples: how many passed, and each metric's mean and standard deviation over them."""

    case_id: str
    samples: int
    passes: int
    errors: int
    means: dict[str, float] = field(default_factory=dict)
    spreads: dict[str, float] = field(default_factory=dict)

    @property
    def pass_share(self) -> float:
        return self.passes / self.samples if self.samples else 0.0

    @property
    def flaky(self) -> bool:
        return 0 < self.passes < self.samples

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "samples": self.samples, "passes": self.passes, "errors": self.errors,
            "pass_share": round(self.pass_share, 4), "flaky": self.flaky,
            "means": {k: round(v, 4) for k, v in self.means.items()},
            "spreads": {k: round(v, 4) for k, v in self.spreads.items()},
        }  # fmt: skip


def by_case(rows: Iterable[tuple[str, str | None, dict[str, float]]]) -> list[CaseSpread]:
    """Group ``(case_id, outcome, metrics)`` samples by case, in the order cases first appear."""
    grouped: dict[str, list[tuple[str | None, dict[str, float]]]] = {}
    for case_id, outcome, metrics in rows:
        grouped.setdefault(case_id, []).append((outcome, metrics))
    spreads = []
    for case_id, samples in grouped.items():
        names = sorted({name for _, metrics in samples for name in metrics})
        values = {name: [m[name] for _, m in samples if name in m] for name in names}
        spreads.append(
            CaseSpread(
                case_id,
                samples=len(samples),
                passes=sum(outcome == "pass" for outcome, _ in samples),
                errors=sum(outcome == "error" for outcome, _ in samples),
                means={name: statistics.fmean(v) for name, v in values.items()},
                spreads={name: statistics.stdev(v) if len(v) > 1 else 0.0 for name, v in values.items()},
            )
        )
    return spreads


def spreads_of(results: list[CaseResult]) -> list[CaseSpread]:
    return by_case((r.case_id, r.outcome, r.metrics) for r in results)


def repeat_metrics(results: list[CaseResult], repeats: int) -> dict[str, float]:
    """The run's metrics over cases run ``repeats`` times (none for a run without repeats)."""
    if repeats < 2:
        return {}
    cases = spreads_of(results)
    total = len(cases) or 1
    return {
        "repeats": float(repeats),
        "samples": float(len(results)),
        "pass_at_k": round(sum(c.passes > 0 for c in cases) / total, 4),
        "pass_all_k": round(sum(c.samples > 0 and c.passes == c.samples for c in cases) / total, 4),
        "flaky_cases": float(sum(c.flaky for c in cases)),
    }

"""What an eval suite is: cases, variants, per-case results, and the suite's aggregate metrics.

A suite (see ``evals/``) lists its cases (a bundled dataset plus the cases promoted from logged runs), runs one
case under one variant, and aggregates the per-case metrics into the run's metrics. The runner
(:mod:`workbench.evals.runner`) does the rest: variants, MLflow runs, the per-case table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from workbench.settings import Settings

if TYPE_CHECKING:
    from workbench.resources import Resources

Outcome = Literal["pass", "fail", "error"]


@dataclass
class Case:
    """One thing to evaluate: its input, and what a good output looks like (when known)."""

    id: str
    input: dict[str, Any]
    expected: dict[str, Any] = field(default_factory=dict)
    source: str = "bundled"
    """bundled (the suite's dataset) or promoted (from a logged run, with the run id in ``origin``)."""
    origin: str | None = None


@dataclass
class CaseResult:
    case_id: str
    outcome: Outcome
    metrics: dict[str, float] = field(default_factory=dict)
    output: str = ""
    run_id: str | None = None
    """The case's run in the DuckDB log (``workbench runs``, the Runs tab)."""
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    repeat: int = 0
    """Which sample of the case this is (0, 1, ... when the run repeats every case)."""

    def row(self) -> dict[str, Any]:
        """The case as a row of the run's ``cases.json`` table."""
        return {
            "case_id": self.case_id,
            "outcome": self.outcome,
            **{f"metric.{k}": v for k, v in self.metrics.items()},
            "output": self.output[:2000],
            "run_id": self.run_id,
            "error": self.error,
            "repeat": self.repeat,
        }


@dataclass(frozen=True)
class Variant:
    """A named set of knobs (model, prompt version, top-k...) a suite runs under."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str, int, int], None]
"""Called as ``progress(message, done, total)``."""


class Suite(Protocol):
    name: str
    description: str
    defaults: dict[str, Any]
    """The knobs a variant may set, with their defaults (the CLI's ``--set key=value`` checks against these)."""

    def cases(self, settings: Settings) -> list[Case]: ...

    async def setup(self, resources: Resources, variant: Variant) -> dict[str, Any]:
        """Prepare what every case of a variant shares, with the run's clients; returns extra params to log (model
        resolved, prompt versions registered as ``prompt_uris``...)."""
        ...

    async def run_case(self, case: Case, variant: Variant, resources: Resources) -> CaseResult: ...

    def aggregate(self, results: list[CaseResult]) -> dict[str, float]: ...


def mean(results: list[CaseResult], metric: str) -> float | None:
    values = [r.metrics[metric] for r in results if metric in r.metrics]
    return sum(values) / len(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]

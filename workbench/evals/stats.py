"""Is run B really better than run A on a metric, or is the difference noise? Paired statistics over the cases both
runs scored: the mean difference with a bootstrap interval, an exact paired test, the smallest effect this many cases
can detect, and a verdict that says "better" or "worse" only when the test and the interval agree.

The runs score the same cases, so every comparison is paired: a case's difficulty is shared by both arms and
cancels in ``b - a``, which is what makes a few hundred cases enough to see a few points of difference. Pass/fail
metrics (every value 0 or 1) use McNemar's exact test, continuous ones a sign-flip permutation test; both are exact
or Monte Carlo with a seed, so the same inputs always give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import binomtest, norm

Scores = Sequence[float | None] | np.ndarray
Verdict = Literal["better", "worse", "inconclusive"]
Test = Literal["mcnemar_exact", "sign_flip_permutation"]

EXACT_SIGN_FLIPS_MAX = 20
"""Up to this many non-zero differences the sign-flip test enumerates all 2**k sign patterns (a million at 20)."""
_CHUNK_VALUES = 2_000_000
"""Resampled values drawn at once: bounds memory (16 MB of indices) whatever the number of cases."""


@dataclass(frozen=True)
class Paired:
    """The cases both runs scored, in order, and how many were dropped because either score was missing."""

    a: np.ndarray
    b: np.ndarray
    dropped: int
    binary: bool

    @property
    def diff(self) -> np.ndarray:
        return self.b - self.a

    @property
    def n(self) -> int:
        return int(self.a.size)


def pair(a: Scores, b: Scores, *, binary: bool | None = None) -> Paired:
    """Align two runs' per-case scores, dropping a case when either score is None, NaN or infinite.

    ``binary`` None detects a pass/fail metric (every kept value 0 or 1); True insists on it, False treats the
    values as continuous even when they are all 0 or 1."""
    if len(a) != len(b):
        raise ValueError(
            f"run a has {len(a)} cases and run b has {len(b)}: both runs must score the same cases in the same order"
        )
    xa, xb = _floats(a), _floats(b)
    keep = np.isfinite(xa) & np.isfinite(xb)
    xa, xb = xa[keep], xb[keep]
    zero_one = bool(np.isin(xa, (0.0, 1.0)).all() and np.isin(xb, (0.0, 1.0)).all())
    if binary and not zero_one:
        raise ValueError("a binary (pass/fail) metric must score every case 0 or 1")
    return Paired(xa, xb, dropped=int(keep.size - keep.sum()), binary=zero_one if binary is None else binary)


def paired_bootstrap_ci(
    a: Scores, b: Scores, *, resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap interval of mean(b - a), resampling cases (both arms of a case together).

    Percentile rather than BCa: the statistic is a mean, whose bootstrap distribution is close to symmetric from a
    few dozen cases on, where BCa's bias and skew corrections move the bounds by less than the Monte Carlo noise
    of 10,000 resamples. BCa also needs a jackknife and is undefined when every difference is equal (two identical
    runs), where the percentile interval is simply [0, 0]. The verdict never rests on the interval alone: it also
    needs the exact test. NaN bounds when no case was scored by both runs."""
    return _percentile_ci(pair(a, b).diff, resamples, confidence, seed)


def paired_test(
    a: Scores, b: Scores, *, binary: bool | None = None, resamples: int = 10_000, seed: int = 0
) -> tuple[Test, float]:
    """The two-sided paired test of "no difference" and its p-value.

    Pass/fail metrics: McNemar's exact test, the binomial test of the discordant cases (b passes where a fails
    against a passes where b fails) at 1/2; p = 1 when the runs never disagree. Continuous metrics: the sign-flip
    permutation test of the mean difference (under no effect each case's difference is as likely to have either
    sign): exact over every sign pattern up to ``EXACT_SIGN_FLIPS_MAX`` non-zero differences, otherwise
    ``resamples`` seeded random patterns with p = (1 + hits) / (1 + resamples) so it is never 0."""
    return _test(pair(a, b, binary=binary), resamples, seed)


def difference_sd(a: Scores, b: Scores, *, binary: bool | None = None) -> float:
    """The standard deviation of a case's difference b - a, which sets the power of a paired comparison.

    For pass/fail metrics it is the square root of the discordance rate (the share of cases the runs disagree on),
    the difference's spread when there is no effect, as in McNemar's sample-size formula; for continuous ones the
    sample standard deviation (NaN under two cases)."""
    return _difference_sd(pair(a, b, binary=binary))


def minimum_detectable_effect(sd: float, n: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest absolute mean difference that ``n`` paired cases detect with this power at two-sided ``alpha``:
    (z_{1-alpha/2} + z_power) * sd / sqrt(n), the normal approximation. Infinite without cases or a known sd; 0
    when the two runs never differ (sd 0)."""
    if n <= 0 or not math.isfinite(sd):
        return math.inf
    return _z_sum(alpha, power) * sd / math.sqrt(n)


def cases_needed(observed_delta: float, sd: float, *, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """How many paired cases would detect a difference of ``observed_delta`` with this power (the inverse of
    :func:`minimum_detectable_effect`); None for a zero (or unknown) difference, which no number of cases detects."""
    if observed_delta == 0 or not math.isfinite(observed_delta) or not math.isfinite(sd):
        return None
    return max(1, math.ceil((_z_sum(alpha, power) * sd / abs(observed_delta)) ** 2))


@dataclass(frozen=True)
class MetricComparison:
    """One metric of run B against run A: means, the difference b - a with its interval, the test and a verdict."""

    metric: str
    a: float
    b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: Test
    verdict: Verdict
    n_cases: int
    mde: float
    cases_needed: int | None
    dropped: int
    higher_is_better: bool
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and infinite numbers (no cases, an unknown mde) become None."""
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(self).items()}


def compare_metric(
    name: str,
    a: Scores,
    b: Scores,
    *,
    higher_is_better: bool = True,
    binary: bool | None = None,
    alpha: float = 0.05,
    resamples: int = 10_000,
    seed: int = 0,
) -> MetricComparison:
    """Compare one metric across two runs' cases. "better" or "worse" (oriented by ``higher_is_better``) only when
    the paired test's p-value is below ``alpha`` and the (1 - alpha) interval of b - a excludes 0; otherwise
    "inconclusive". ``mde`` and ``cases_needed`` use 80 % power at the same ``alpha``."""
    data = pair(a, b, binary=binary)
    diff = data.diff
    delta = _mean(diff)
    low, high = _percentile_ci(diff, resamples, 1 - alpha, seed)
    test, p_value = _test(data, resamples, seed)
    sd = _difference_sd(data)
    verdict: Verdict = "inconclusive"
    if p_value < alpha and (low > 0 or high < 0):
        verdict = "better" if (low > 0) == higher_is_better else "worse"
    return MetricComparison(
        metric=name,
        a=_mean(data.a),
        b=_mean(data.b),
        delta=delta,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        test=test,
        verdict=verdict,
        n_cases=data.n,
        mde=minimum_detectable_effect(sd, data.n, alpha=alpha),
        cases_needed=cases_needed(delta, sd, alpha=alpha),
        dropped=data.dropped,
        higher_is_better=higher_is_better,
        confidence=1 - alpha,
    )


def non_inferior(comparison: MetricComparison, margin: float) -> tuple[bool, str]:
    """Is B no worse than A by more than ``margin`` (in the metric's units)? True when the interval's worse end
    stays within the margin: the lower bound of b - a is not below -margin, or for a lower-is-better metric the
    upper bound not above +margin. The text says why in one line."""
    if margin < 0:
        raise ValueError(f"the non-inferiority margin must be 0 or more, not {margin}")
    c = comparison
    if c.n_cases == 0:
        return False, f"{c.metric}: no case was scored by both runs"
    worst, limit = (c.ci_low, -margin) if c.higher_is_better else (c.ci_high, margin)
    within = worst >= limit if c.higher_is_better else worst <= limit
    side = "above" if c.higher_is_better else "below"
    summary = f"{c.metric}: b − a = {_signed(c.delta)}, {c.confidence * 100:g} % CI [{_signed(c.ci_low)}, "
    summary += f"{_signed(c.ci_high)}]"
    if within:
        return True, f"{summary}, {side} {_signed(limit)}: not worse by more than the margin"
    return False, f"{summary}, reaches {'below' if c.higher_is_better else 'above'} {_signed(limit)}: " + (
        "may be worse by more than the margin"
    )


# --- internals -------------------------------------------------------------------------------------------------


def _floats(values: Scores) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def _z_sum(alpha: float, power: float) -> float:
    return float(norm.ppf(1 - alpha / 2) + norm.ppf(power))


def _chunks(total: int, width: int) -> Iterator[tuple[int, int]]:
    """(start, stop) rows of ``total`` resamples of ``width`` values each, a few million values at a time."""
    step = max(1, _CHUNK_VALUES // max(width, 1))
    for start in range(0, total, step):
        yield start, min(start + step, total)


def _percentile_ci(diff: np.ndarray, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    n = diff.size
    if n == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start, stop in _chunks(resamples, n):
        means[start:stop] = diff[rng.integers(0, n, size=(stop - start, n), dtype=np.int32)].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def _test(data: Paired, resamples: int, seed: int) -> tuple[Test, float]:
    if data.binary:
        b_wins = int(np.sum((data.b == 1) & (data.a == 0)))
        a_wins = int(np.sum((data.a == 1) & (data.b == 0)))
        discordant = a_wins + b_wins
        return "mcnemar_exact", 1.0 if discordant == 0 else float(binomtest(b_wins, discordant, 0.5).pvalue)
    return "sign_flip_permutation", _sign_flip_p(data.diff, resamples, seed)


def _sign_flip_p(diff: np.ndarray, resamples: int, seed: int) -> float:
    d = diff[diff != 0]
    if d.size == 0:
        return 1.0
    observed = abs(d.sum())
    slack = 1e-9 * np.abs(d).sum()  # sums that equal the observed one up to rounding count as hits
    if d.size <= EXACT_SIGN_FLIPS_MAX:
        sums = np.zeros(1)
        for x in d:  # every sign pattern's sum, doubling each step: 2**k values in all
            sums = np.concatenate([sums + x, sums - x])
        return float(np.mean(np.abs(sums) >= observed - slack))
    rng = np.random.default_rng(seed)
    hits = 0
    for start, stop in _chunks(resamples, d.size):
        signs = rng.integers(0, 2, size=(stop - start, d.size), dtype=np.int8) * 2 - 1
        hits += int(np.sum(np.abs(signs @ d) >= observed - slack))
    return (1 + hits) / (1 + resamples)


def _difference_sd(data: Paired) -> float:
    if data.binary:
        return math.sqrt(float(np.mean(data.diff != 0))) if data.n else math.nan
    return float(np.std(data.diff, ddof=1)) if data.n >= 2 else math.nan

"""The statistics that compare two eval runs: checked against SciPy's own tests and bootstrap on fixed data, by
simulation (false alarms on A/A runs, power on a planted effect), and on the edge cases a real comparison meets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from workbench.evals.stats import (
    cases_needed,
    compare_metric,
    difference_sd,
    minimum_detectable_effect,
    non_inferior,
    paired_bootstrap_ci,
    paired_test,
)


def _continuous(n: int, shift: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Scores where each case has its own level, shared by both runs, and b is ``shift`` higher on average."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0.5, 0.2, n)
    return level + rng.normal(0, 0.1, n), level + shift + rng.normal(0, 0.1, n)


def _pass_fail(rng: np.random.Generator, n: int, rate_a: float, rate_b: float) -> tuple[np.ndarray, np.ndarray]:
    """Pass/fail outcomes with a per-case difficulty shared by both runs (latent correlation 0.5), so the arms are
    correlated as real runs on the same cases are; each arm's pass rate is exactly ``rate_a`` / ``rate_b``."""
    difficulty = rng.normal(0, math.sqrt(0.5), n)
    noise = rng.normal(0, math.sqrt(0.5), (2, n))
    a = difficulty + noise[0] < stats.norm.ppf(rate_a)
    b = difficulty + noise[1] < stats.norm.ppf(rate_b)
    return a.astype(float), b.astype(float)


# --- against SciPy --------------------------------------------------------------------------------------------


def test_mcnemar_p_is_scipys_exact_binomial_test_on_the_discordant_cases():
    a = [1] * 30 + [0] * 12 + [1] * 4 + [0] * 54
    b = [1] * 30 + [1] * 12 + [0] * 4 + [0] * 54  # b wins 12 cases, a wins 4

    test, p = paired_test(a, b)

    assert test == "mcnemar_exact"
    assert p == pytest.approx(stats.binomtest(12, 16, 0.5).pvalue, rel=1e-12)


def test_bootstrap_interval_matches_scipys_paired_bootstrap_and_repeats_with_the_same_seed():
    a, b = _continuous(300, 0.02)

    ours = paired_bootstrap_ci(a, b, seed=3)
    theirs = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=10_000,
        method="percentile",
        rng=11,
    ).confidence_interval

    standard_error = np.std(b - a, ddof=1) / math.sqrt(a.size)
    assert ours[0] == pytest.approx(theirs.low, abs=0.1 * standard_error)
    assert ours[1] == pytest.approx(theirs.high, abs=0.1 * standard_error)
    assert paired_bootstrap_ci(a, b, seed=3) == ours
    assert paired_bootstrap_ci(a, b, seed=4) != ours


def test_sign_flip_p_is_exact_up_to_twenty_differences_and_close_to_scipy_beyond():
    a, b = _continuous(18, 0.05, seed=1)
    exact = stats.permutation_test(
        (b - a,), lambda d, axis: np.mean(d, axis=axis), permutation_type="samples", n_resamples=np.inf
    ).pvalue
    assert paired_test(a, b) == ("sign_flip_permutation", pytest.approx(exact, rel=1e-9))

    a, b = _continuous(200, 0.015, seed=2)
    sampled = stats.permutation_test(
        (b - a,), lambda d, axis: np.mean(d, axis=axis), permutation_type="samples", n_resamples=10_000, rng=5
    ).pvalue
    test, p = paired_test(a, b, seed=9)
    assert test == "sign_flip_permutation"
    assert 0.001 < p < 0.5  # a real test of the tolerance, not two zeros
    assert p == pytest.approx(sampled, abs=4 * math.sqrt(p * (1 - p) / 10_000) + 1e-3)


def test_a_clear_improvement_points_the_same_way_as_wilcoxon():
    a, b = _continuous(60, 0.1)

    comparison = compare_metric("token_f1", a, b)

    assert stats.wilcoxon(b, a, alternative="greater").pvalue < 0.001
    assert comparison.verdict == "better"
    assert comparison.p_value < 0.001
    assert 0 < comparison.ci_low < comparison.delta < comparison.ci_high


# --- by simulation --------------------------------------------------------------------------------------------


def test_a_over_a_comparisons_rarely_call_a_winner():
    """1,000 pairs of pass/fail runs (p = 0.6, 100 cases) from one distribution: "better" or "worse" at most 6 % of
    the time at alpha 0.05. 2,000 bootstrap resamples instead of 10,000 keep it to a couple of seconds; the
    verdict needs the exact McNemar p-value below alpha as well, so the coarser interval cannot add false alarms."""
    rng = np.random.default_rng(2024)
    calls = 0
    for seed in range(1_000):
        a, b = _pass_fail(rng, 100, 0.6, 0.6)
        calls += compare_metric("pass", a, b, resamples=2_000, seed=seed).verdict != "inconclusive"
    assert calls / 1_000 <= 0.06


def test_a_planted_ten_point_gain_is_found_at_least_eighty_percent_of_the_time():
    """Pass rates 0.55 -> 0.65 on 400 cases with a per-case difficulty both runs share, over 200 simulations
    (2,000 bootstrap resamples each, for speed): the verdict is "better" at least 80 % of the time."""
    rng = np.random.default_rng(7)
    found = 0
    for seed in range(200):
        a, b = _pass_fail(rng, 400, 0.55, 0.65)
        found += compare_metric("pass", a, b, resamples=2_000, seed=seed).verdict == "better"
    assert found / 200 >= 0.8


# --- edge cases -----------------------------------------------------------------------------------------------


def test_identical_runs_are_inconclusive_with_no_difference():
    scores = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1]

    comparison = compare_metric("pass", scores, scores)

    assert (comparison.delta, comparison.p_value, comparison.verdict) == (0.0, 1.0, "inconclusive")
    assert (comparison.ci_low, comparison.ci_high) == (0.0, 0.0)
    assert math.isfinite(comparison.mde)
    assert comparison.cases_needed is None
    continuous = compare_metric("token_f1", [0.2, 0.5, 0.9], [0.2, 0.5, 0.9])
    assert (continuous.test, continuous.p_value, continuous.verdict) == ("sign_flip_permutation", 1.0, "inconclusive")


def test_missing_scores_are_dropped_pairwise_and_counted():
    comparison = compare_metric("token_f1", [0.5, None, 0.7, float("nan")], [0.6, 0.9, None, 0.1])

    assert (comparison.n_cases, comparison.dropped) == (1, 3)
    assert comparison.delta == pytest.approx(0.1)
    assert comparison.p_value == 1.0  # one case: either sign is as likely


def test_all_missing_scores_give_an_empty_inconclusive_comparison_that_is_still_json():
    comparison = compare_metric("token_f1", [None, float("nan")], [0.3, None])

    assert (comparison.n_cases, comparison.dropped, comparison.verdict) == (0, 2, "inconclusive")
    row = json.loads(json.dumps(comparison.as_dict(), allow_nan=False))
    assert row["delta"] is None and row["ci_low"] is None and row["mde"] is None
    assert non_inferior(comparison, 0.05) == (False, "token_f1: no case was scored by both runs")


def test_one_case_is_inconclusive():
    comparison = compare_metric("pass", [0], [1])

    assert (comparison.n_cases, comparison.delta, comparison.p_value) == (1, 1.0, 1.0)
    assert comparison.verdict == "inconclusive"


def test_runs_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="run a has 3 cases and run b has 2: both runs must score the same cases"):
        compare_metric("pass", [1, 0, 1], [1, 0])


def test_a_binary_metric_must_be_zero_or_one_and_can_be_treated_as_continuous():
    with pytest.raises(ValueError, match="0 or 1"):
        paired_test([0, 0.5], [1, 1], binary=True)
    assert paired_test([0, 1, 1], [1, 1, 1], binary=False)[0] == "sign_flip_permutation"


def test_lower_is_better_metrics_flip_the_verdict():
    a, b = _continuous(60, 0.1)  # b's values are higher: slower, if they are latencies

    assert compare_metric("latency_s", a, b, higher_is_better=False).verdict == "worse"
    assert compare_metric("latency_s", b, a, higher_is_better=False).verdict == "better"
    assert compare_metric("token_f1", b, a).verdict == "worse"


def _shifted(shift: float) -> tuple[np.ndarray, np.ndarray]:
    """200 cases where b - a is exactly ``shift`` on average, give or take 0.1 per case."""
    a = np.linspace(0.2, 0.9, 200)
    return a, a + shift + np.tile([0.1, -0.1], 100)


def test_non_inferiority_passes_within_the_margin_and_fails_beyond_it():
    close = compare_metric("token_f1", *_shifted(-0.012))
    ok, why = non_inferior(close, 0.05)
    assert ok
    assert why.startswith("token_f1: b − a = −0.012, 95 % CI [−0.02")
    assert why.endswith("above −0.050: not worse by more than the margin")

    a, b = _shifted(-0.06)
    ok, why = non_inferior(compare_metric("token_f1", a, b), 0.05)
    assert not ok
    assert why.endswith("reaches below −0.050: may be worse by more than the margin")

    ok, why = non_inferior(compare_metric("latency_s", a, b, higher_is_better=False), 0.05)
    assert ok  # b is faster, so it is no worse
    assert why.endswith("below +0.050: not worse by more than the margin")
    with pytest.raises(ValueError, match="margin"):
        non_inferior(close, -0.1)


def test_power_figures_follow_the_normal_approximation():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)

    assert minimum_detectable_effect(0.5, 100) == pytest.approx(z * 0.05)
    assert cases_needed(z * 0.05, 0.5) == 100
    assert cases_needed(0.0, 0.5) is None
    assert minimum_detectable_effect(0.5, 0) == math.inf
    # pass/fail: the sd is the square root of the discordance rate (here 4 cases in 16 disagree)
    a = [1] * 4 + [0] * 4 + [1, 1, 0, 0] + [1] * 4
    b = [1] * 4 + [0] * 4 + [0, 0, 1, 1] + [1] * 4
    assert difference_sd(a, b) == pytest.approx(0.5)
    assert compare_metric("pass", a, b).mde == pytest.approx(z * 0.5 / 4)

"""How long comparing two eval runs on one metric takes at the default 10,000 resamples over 1,000 paired cases.

Timed, p50 of ``--runs`` runs each (after one warm-up): :func:`workbench.evals.stats.paired_bootstrap_ci` on a
pass/fail metric and on a continuous one (goal: at most 1 s each), the sign-flip permutation test on the continuous
one (10,000 random sign patterns) and on 20 cases (exact, all 2**20 patterns), and a whole ``compare_metric``.
For reference, SciPy's ``stats.bootstrap(paired=True, vectorized=True)`` on the same continuous data, percentile
and BCa. Usage: ``python bench/eval_stats.py [--runs 5] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.evals.stats import compare_metric, paired_bootstrap_ci, paired_test  # noqa: E402

CASES = 1_000
RESAMPLES = 10_000
GOAL_S = 1.0


def _p50(run: Callable[[], Any], runs: int) -> float:
    run()  # warm-up: first-call costs (imports, allocations) are not what a comparison pays each time
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _scipy_bootstrap(a: np.ndarray, b: np.ndarray, method: str) -> Any:
    return stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=RESAMPLES,
        method=method,
        rng=0,
    )


def measure(runs: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    level = rng.normal(0.5, 0.2, CASES)
    a, b = level + rng.normal(0, 0.1, CASES), level + 0.01 + rng.normal(0, 0.1, CASES)
    passed_a = (rng.random(CASES) < 0.6).astype(float)
    passed_b = np.where(rng.random(CASES) < 0.8, passed_a, 1 - passed_a)
    few_a, few_b = a[:20], b[:20]
    return {
        "bootstrap_binary_s": _p50(lambda: paired_bootstrap_ci(passed_a, passed_b, resamples=RESAMPLES), runs),
        "bootstrap_continuous_s": _p50(lambda: paired_bootstrap_ci(a, b, resamples=RESAMPLES), runs),
        "permutation_continuous_s": _p50(lambda: paired_test(a, b, resamples=RESAMPLES), runs),
        "permutation_exact_20_s": _p50(lambda: paired_test(few_a, few_b), runs),
        "compare_metric_continuous_s": _p50(lambda: compare_metric("token_f1", a, b, resamples=RESAMPLES), runs),
        "scipy_bootstrap_percentile_s": _p50(lambda: _scipy_bootstrap(a, b, "percentile"), runs),
        "scipy_bootstrap_bca_s": _p50(lambda: _scipy_bootstrap(a, b, "BCa"), runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.runs)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{CASES:,} paired cases, {RESAMPLES:,} resamples, p50 of {args.runs} runs")
    for key in ("bootstrap_binary_s", "bootstrap_continuous_s"):
        verdict = "meets" if figures[key] <= GOAL_S else "MISSES"
        print(f"  {key:<30} {figures[key] * 1000:8.1f} ms   goal ≤ {GOAL_S:g} s: {verdict}")
    for key in list(figures)[2:]:
        print(f"  {key:<30} {figures[key] * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

"""Comparisons with paired statistics, repeated cases, the comparison kept in MLflow, and ``workbench eval compare``
and ``workbench eval gate`` on runs of a fake suite in a real MLflow sqlite store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.evals.compare import CaseDiff, compare_runs, log_comparison, paired_statistics
from workbench.evals.repeats import repeat_metrics
from workbench.evals.runner import run_suite, run_variant
from workbench.evals.suite import Case, CaseResult, Variant
from workbench.evals.tracking import client
from workbench.resources import Resources
from workbench.settings import Settings


class CountingSuite:
    """Case i passes when i < ``threshold``; ``flaky`` cases pass only on even samples (the suite counts them)."""

    name = "counting"
    description = "a fake suite"
    defaults: dict[str, Any] = {"threshold": 10, "flaky": 0}

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls: dict[str, int] = {}

    def cases(self, settings: Settings) -> list[Case]:
        return [Case(f"c{i:03d}", {"i": i}) for i in range(self.n)]

    async def setup(self, resources: Resources, variant: Variant) -> dict[str, Any]:
        return {}

    async def run_case(self, case: Case, variant: Variant, resources: Resources) -> CaseResult:
        key = f"{variant.name}:{case.id}"
        sample = self.calls[key] = self.calls.get(key, -1) + 1
        i, params = case.input["i"], {**self.defaults, **variant.params}
        ok = i < params["threshold"] or (i >= self.n - params["flaky"] and sample % 2 == 0)
        return CaseResult(case.id, "pass" if ok else "fail", {"score": float(ok), "latency_s": 1.0 + i / 100})

    def aggregate(self, results: list[CaseResult]) -> dict[str, float]:
        return {}


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return Settings(home=tmp_path / "home")


async def _pair(settings: Settings, n: int, low: int, high: int) -> tuple[str, str]:
    a, b = await run_suite(
        CountingSuite(n), [Variant("a", {"threshold": low}), Variant("b", {"threshold": high})], Resources(settings)
    )
    return a.mlflow_run_id, b.mlflow_run_id


async def test_a_large_gain_is_better_with_an_exact_mcnemar_test_and_an_interval_that_excludes_zero(settings):
    run_a, run_b = await _pair(settings, 40, 10, 30)
    comparison = compare_runs(settings, run_a, run_b)
    stat = comparison.statistic("pass_rate")
    assert stat is not None
    assert (stat.a, stat.b, stat.delta, stat.n_cases) == (0.25, 0.75, 0.5, 40)
    assert stat.test == "mcnemar_exact" and stat.verdict == "better" and stat.p_value < 1e-5
    assert 0 < stat.ci_low < 0.5 < stat.ci_high
    assert [s.metric for s in comparison.statistics] == ["pass_rate", "latency_s", "score"]
    latency = comparison.statistic("latency_s")
    assert latency is not None and not latency.higher_is_better and latency.verdict == "inconclusive"
    assert [d.case_id for d in comparison.changed] == [f"c{i:03d}" for i in range(10, 30)]


async def test_a_one_case_difference_is_inconclusive_and_says_how_many_cases_would_show_it(settings):
    run_a, run_b = await _pair(settings, 48, 10, 11)
    stat = compare_runs(settings, run_a, run_b).statistic("pass_rate")
    assert stat is not None and stat.verdict == "inconclusive"
    assert stat.ci_low <= 0 <= stat.ci_high and stat.p_value == 1.0
    assert stat.mde > abs(stat.delta) and stat.cases_needed is not None and stat.cases_needed > 48


async def test_the_json_of_a_comparison_has_every_field_per_metric_and_the_changed_cases_first(settings):
    run_a, run_b = await _pair(settings, 12, 2, 4)
    result = CliRunner().invoke(app, ["eval", "compare", run_a, run_b, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    fields = {"a", "b", "delta", "ci_low", "ci_high", "p_value", "test", "verdict", "n_cases", "mde"}
    assert set(data["metrics"]) == {"pass_rate", "latency_s", "score"}
    assert all(fields <= set(m) for m in data["metrics"].values())
    assert data["metrics"]["pass_rate"]["delta"] == pytest.approx(2 / 12)
    assert [c["case_id"] for c in data["cases"][:2]] == ["c002", "c003"] and data["changed"] == 2
    assert {c["direction"] for c in data["cases"][:2]} == {"better"}
    assert data["cases"][0]["divergence"] == "run a logged no trace of this case"  # the fake suite logs no runs
    kept = client(settings).get_run(run_b)
    assert kept.data.tags["workbench.compared_with"] == run_a
    assert f"comparisons/{run_a}.json" in {a.path for a in client(settings).list_artifacts(run_b, "comparisons")}


async def test_the_gate_passes_a_candidate_within_the_margin_and_fails_one_that_may_be_worse(settings):
    same_a, same_b = await _pair(settings, 60, 30, 30)
    worse_a, worse_b = await _pair(settings, 60, 40, 20)
    runner = CliRunner()
    args = ["--metric", "pass_rate", "--margin", "0.05"]
    ok = runner.invoke(app, ["eval", "gate", "--baseline", same_a, "--candidate", same_b, *args])
    assert ok.exit_code == 0 and ok.output.startswith("pass: pass_rate") and len(ok.output.splitlines()) == 1
    bad = runner.invoke(app, ["eval", "gate", "--baseline", worse_a, "--candidate", worse_b, *args])
    assert bad.exit_code == 1 and bad.output.startswith("FAIL: pass_rate") and "−0.05" in bad.output
    unknown = runner.invoke(app, ["eval", "gate", "--baseline", same_a, "--candidate", same_b, "--metric", "f1",
                                  "--margin", "0.05"])  # fmt: skip
    assert unknown.exit_code == 2 and "pass_rate, latency_s, score" in unknown.output


def test_comparing_runs_that_do_not_exist_is_a_clear_error(settings):
    result = CliRunner().invoke(app, ["eval", "compare", "nope", "nada", "--no-traces"])
    assert result.exit_code == 2 and "no eval run 'nope'" in result.output and "Traceback" not in result.output


async def test_repeats_give_pass_at_k_pass_all_k_and_the_flaky_cases_and_compare_on_cases_not_samples(settings):
    suite = CountingSuite(10)
    run = await run_variant(suite, Variant("v", {"threshold": 4, "flaky": 3}), Resources(settings), repeats=3)
    assert len(run.results) == 30 and [r.repeat for r in run.results[:3]] == [0, 1, 2]
    assert run.metrics["cases"] == 10 and run.metrics["samples"] == 30
    assert (run.metrics["pass_at_k"], run.metrics["pass_all_k"], run.metrics["flaky_cases"]) == (0.7, 0.4, 3)
    assert run.params["repeats"] == 3
    other = await run_variant(suite, Variant("w", {"threshold": 4}), Resources(settings), repeats=3)
    comparison = compare_runs(settings, other.mlflow_run_id, run.mlflow_run_id)
    flaky = [d for d in comparison.cases if d.case_id == "c009"][0]
    assert (flaky.outcome_a, flaky.outcome_b, flaky.direction) == ("fail", "2/3 pass", "better")
    assert flaky.pass_b == pytest.approx(2 / 3)
    stat = comparison.statistic("pass_rate")
    assert stat is not None and stat.n_cases == 10  # the case is the unit
    assert stat.test == "sign_flip_permutation" and stat.delta == pytest.approx(0.2)


def test_repeat_metrics_are_absent_for_a_single_sample_and_paired_statistics_skip_one_sided_cases():
    assert repeat_metrics([CaseResult("c", "pass")], 1) == {}
    cases = [
        CaseDiff("both", "pass", "fail", {"f1": 1.0}, {"f1": 0.0}, pass_a=1.0, pass_b=0.0),
        CaseDiff("only-a", "pass", None, {"f1": 1.0}, {}, pass_a=1.0),
    ]
    f1 = {s.metric: s for s in paired_statistics(cases)}["f1"]
    assert (f1.n_cases, f1.dropped) == (1, 1)


async def test_a_comparison_logged_twice_keeps_one_tag_entry_per_baseline(settings):
    run_a, run_b = await _pair(settings, 6, 1, 2)
    comparison = compare_runs(settings, run_a, run_b)
    log_comparison(settings, comparison)
    log_comparison(settings, comparison)
    assert client(settings).get_run(run_b).data.tags["workbench.compared_with"] == run_a

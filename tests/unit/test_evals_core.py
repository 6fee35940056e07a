"""The eval runner, variants, comparisons, prompt registry and promoted cases, over a real MLflow sqlite store
in a temporary home, with a fake suite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from workbench.evals.cases import PromotionError, load_promoted, promote, promoted_path
from workbench.evals.compare import case_table, compare_runs
from workbench.evals.runner import run_suite
from workbench.evals.suite import Case, CaseResult, Variant
from workbench.evals.tracking import client, experiment_name, register_prompt, tracking_uri
from workbench.evals.variants import VariantError, build_variants, parse_sets
from workbench.resources import Resources
from workbench.runlog import RunLog, RunRecord
from workbench.settings import Settings


class ThresholdSuite:
    """Case i passes when i < threshold: raising the threshold turns later cases from fail to pass."""

    name = "fake"
    description = "a fake suite"
    defaults: dict[str, Any] = {"threshold": 2, "model": "extractive", "prompt_version": "v1"}

    def __init__(self, n: int = 4) -> None:
        self.n = n

    def cases(self, settings: Settings) -> list[Case]:
        return [Case(f"c{i}", {"i": i}) for i in range(self.n)] + load_promoted(settings, self.name)

    async def setup(self, resources: Resources, variant: Variant) -> dict[str, Any]:
        version = variant.params.get("prompt_version", "v1")
        uri = register_prompt(resources.settings, "fake-answer", f"Answer ({version}): {{{{question}}}}", version)
        return {"prompt_uris": [uri], "graph_version": "abc123"}

    async def run_case(self, case: Case, variant: Variant, resources: Resources) -> CaseResult:
        if case.input.get("boom"):
            raise RuntimeError("case exploded")
        i = case.input.get("i", 0)
        threshold = variant.params.get("threshold", self.defaults["threshold"])
        ok = i < threshold
        return CaseResult(case.id, "pass" if ok else "fail", {"score": 1.0 if ok else 0.0}, f"out{i}", f"run-{i}")

    def aggregate(self, results: list[CaseResult]) -> dict[str, float]:
        scores = [r.metrics["score"] for r in results if "score" in r.metrics]
        return {"score": sum(scores) / len(scores) if scores else 0.0}


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Settings(home=tmp_path / "home")


def test_variants_are_every_combination_typed_after_the_defaults():
    defaults = {"top_k": 5, "hybrid": True, "model": "auto", "threshold": 0.5}
    variants = build_variants(defaults, {**parse_sets(["top_k=3,5", "hybrid=off"]), "model": ["a", "b"]})
    assert [v.params for v in variants] == [
        {"top_k": 3, "hybrid": False, "model": "a"},
        {"top_k": 3, "hybrid": False, "model": "b"},
        {"top_k": 5, "hybrid": False, "model": "a"},
        {"top_k": 5, "hybrid": False, "model": "b"},
    ]
    assert variants[0].name == "top_k=3,model=a"
    assert build_variants(defaults, {})[0].name == "default"
    with pytest.raises(VariantError, match="unknown settings"):
        build_variants(defaults, {"topk": ["3"]})
    with pytest.raises(VariantError):
        build_variants(defaults, {"hybrid": ["maybe"]})
    with pytest.raises(VariantError, match="key=value"):
        parse_sets(["top_k"])


async def test_a_suite_run_logs_params_metrics_the_case_table_and_prompt_versions(settings):
    suite = ThresholdSuite()
    (run,) = await run_suite(suite, [Variant("t2", {"threshold": 2, "prompt_version": "v1"})], Resources(settings))
    assert tracking_uri(settings) == f"sqlite:///{(settings.home / 'mlflow.db').resolve()}"
    logged = client(settings).get_run(run.mlflow_run_id)
    assert logged.info.experiment_id == client(settings).get_experiment_by_name(experiment_name("fake")).experiment_id
    params = logged.data.params
    assert (params["threshold"], params["prompt_version"], params["graph_version"], params["suite"]) == (
        "2", "v1", "abc123", "fake"
    )  # fmt: skip
    assert logged.data.metrics["pass_rate"] == 0.5 and logged.data.metrics["score"] == 0.5
    assert logged.data.metrics["cases"] == 4 and logged.data.metrics["errors"] == 0
    rows = case_table(settings, run.mlflow_run_id)
    assert [(r["case_id"], r["outcome"], r["run_id"]) for r in rows] == [
        ("c0", "pass", "run-0"), ("c1", "pass", "run-1"), ("c2", "fail", "run-2"), ("c3", "fail", "run-3")
    ]  # fmt: skip
    assert logged.data.tags["workbench.prompts"] == "prompts:/fake-answer/1"
    artifacts = {a.path for a in client(settings).list_artifacts(run.mlflow_run_id)}
    assert "cases.json" in artifacts
    assert str((settings.home / "mlartifacts").resolve()) in logged.info.artifact_uri


async def test_registering_the_same_prompt_twice_reuses_its_version(settings):
    first = register_prompt(settings, "p", "Hello {{name}}", "v1")
    assert register_prompt(settings, "p", "Hello {{name}}", "v1") == first == "prompts:/p/1"
    assert register_prompt(settings, "p", "Hi {{name}}", "v2") == "prompts:/p/2"


async def test_two_variants_compare_case_by_case_with_changed_outcomes_first(settings):
    suite = ThresholdSuite()
    a, b = await run_suite(
        suite,
        [Variant("low", {"threshold": 1}), Variant("high", {"threshold": 3, "prompt_version": "v2"})],
        Resources(settings),
    )
    comparison = compare_runs(settings, a.mlflow_run_id, b.mlflow_run_id)
    assert [d.case_id for d in comparison.changed] == ["c1", "c2"]
    assert [d.case_id for d in comparison.cases[:2]] == ["c1", "c2"]  # changed first
    assert {d.direction for d in comparison.changed} == {"better"}
    assert {r["param"] for r in comparison.param_rows()} >= {"threshold", "variant", "prompt_version"}
    score = next(r for r in comparison.metric_rows() if r["metric"] == "score")
    assert (score["a"], score["b"], score["delta"]) == (0.25, 0.75, 0.5)


async def test_a_case_that_raises_is_an_error_row_and_the_suite_goes_on(settings):
    suite = ThresholdSuite(n=2)
    cases = [Case("ok", {"i": 0}), Case("bad", {"boom": True}), Case("after", {"i": 1})]
    from workbench.evals.runner import run_variant

    run = await run_variant(suite, Variant("v", {"threshold": 5}), Resources(settings), cases=cases)
    assert [r.outcome for r in run.results] == ["pass", "error", "pass"]
    assert "case exploded" in (run.results[1].error or "")
    assert run.metrics["errors"] == 1


def _log_run(settings: Settings, **fields: Any) -> str:
    with RunLog(settings.runlog_path) as log:
        log.log_run(RunRecord(started_at=datetime.now(UTC), **fields))
    return str(fields["run_id"])


async def test_a_promoted_chat_run_is_a_case_the_next_eval_includes(settings):
    run_id = _log_run(
        settings, run_id="11111111-aaaa", graph="chat", input="Which port does the server use?", output="8000 [1]",
        retrieved=[{"chunk_id": "c1", "source": "/x/datasets/corpus/server.md", "score": 0.9}],
    )  # fmt: skip
    suite_name, case = promote(settings, run_id, include_output=True)
    assert suite_name == "chat-rag" and case.id == "run-11111111"
    assert case.input == {"question": "Which port does the server use?"}
    assert case.expected == {"answer": "8000 [1]", "sources": ["server.md"]}
    promote(settings, run_id)  # promoting again replaces the case, without the reference this time
    (loaded,) = load_promoted(settings, "chat-rag")
    assert loaded.expected == {"sources": ["server.md"]} and loaded.origin == run_id and loaded.source == "promoted"
    assert promoted_path(settings, "chat-rag").read_text().count("\n") == 1

    # a suite that reads promoted cases runs it next time (the fake suite reads its own name's file)
    promoted_path(settings, "fake").write_text(promoted_path(settings, "chat-rag").read_text())
    (run,) = await run_suite(ThresholdSuite(n=1), [Variant("v")], Resources(settings))
    assert [r.case_id for r in run.results] == ["c0", "run-11111111"]
    assert run.params["cases_promoted"] == 1


def test_runs_that_cannot_be_cases_are_refused_clearly(settings):
    voice = _log_run(settings, run_id="v1", graph="voice", input="hello")
    empty = _log_run(settings, run_id="c2", graph="chat", input="")
    with pytest.raises(PromotionError, match="recordings are never kept"):
        promote(settings, voice)
    with pytest.raises(PromotionError, match="no logged input"):
        promote(settings, empty)
    with pytest.raises(PromotionError, match="no run"):
        promote(settings, "missing")

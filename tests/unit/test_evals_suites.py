"""The ``voice`` and ``audit`` eval suites: their cases, their arithmetic, and one real case each (the audit on a
fixture with the real analyzers, the voice turn on fake speech engines), logged to a DuckDB run log in a temporary
home."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evals import load_suite
from evals.audit import REPOS, AuditSuite
from evals.voice import ROUND_TRIP, SOURCE_VOICE, VoiceSuite
from workbench.audit.scoring import load_expected
from workbench.errors import ConfigurationError
from workbench.evals.cases import promoted_path
from workbench.evals.suite import CaseResult, Variant
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog, get_run, set_runlog
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, flushed
from workbench.testing_speech import FakeSpeech, FakeSTT, FakeTTS

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
DEFAULT = Variant("default", {})


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory) -> str:
    """One MLflow store for the module's prompt registrations (creating a store takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def settings(tmp_path, monkeypatch, mlflow_uri) -> Settings:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    return Settings(home=tmp_path / "home", llm="extractive")


@pytest.fixture
def runlog(tmp_path) -> Iterator[RunLog]:
    log = RunLog(tmp_path / "runs.duckdb")
    set_runlog(log)
    yield log
    log.close()
    set_runlog(None)


@pytest.fixture
def resources(settings) -> Resources:
    return Resources(settings)


def promote_case(settings: Settings, suite: str, **case: Any) -> None:
    path = promoted_path(settings, suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"expected": {}, "origin": "0" * 32, **case}) + "\n")


def result(case_id: str, **metrics: float) -> CaseResult:
    return CaseResult(case_id, "pass", dict(metrics))


# --- cases ----------------------------------------------------------------------------------------------------


def test_the_registry_loads_both_suites():
    assert isinstance(load_suite("voice"), VoiceSuite) and isinstance(load_suite("audit"), AuditSuite)


def test_voice_cases_are_referenced_recordings_then_the_others_then_the_round_trip_sentences(settings):
    cases = VoiceSuite().cases(settings)
    assert [c.id for c in cases] == ["clip-jfk", "clip-hotwords", "say-1", "say-2", "say-3"]
    assert cases[0].input == {"file": "jfk.flac"} and cases[0].expected == {"text": JFK}
    assert cases[1].expected == {}, "a recording without a reference reports real-time factors only"
    assert [c.input for c in cases[2:]] == [{"say": text, "voice": SOURCE_VOICE} for text in ROUND_TRIP]
    assert all(c.expected["text"] == c.input["say"] and c.source == "bundled" for c in cases[2:])


def test_audit_cases_are_the_labelled_fixtures_then_the_promoted_ones(settings):
    finding = {"file": "app.py", "line": 3, "category": "code-injection", "cwe": 95, "agent": "security"}
    promote_case(
        settings, "audit", id="run-1234abcd", input={"repo": "/somewhere/repo"}, expected={"findings": [finding]}
    )
    cases = AuditSuite().cases(settings)
    fixtures = sorted(p.name.removesuffix(".expected.yaml") for p in REPOS.glob("*.expected.yaml"))
    assert [c.id for c in cases] == [*fixtures, "run-1234abcd"]
    inventory = next(c for c in cases if c.id == "inventory-api")
    labels = load_expected(REPOS / "inventory-api.expected.yaml")
    assert inventory.input == {"fixture": "inventory-api"}
    assert [item["id"] for item in inventory.expected["findings"]] == [item.id for item in labels.findings]
    assert next(c for c in cases if c.id == "clean-lib").expected == {"findings": []}
    promoted = cases[-1]
    assert (promoted.source, promoted.origin, promoted.input) == ("promoted", "0" * 32, {"repo": "/somewhere/repo"})
    assert promoted.expected["findings"] == [finding]


def test_audit_agents_are_joined_by_plus_and_unknown_ones_are_refused(settings):
    suite = AuditSuite()
    assert suite.knobs(DEFAULT, settings)["agents"] == ["explorer", "bug_hunter", "security"]
    assert suite.knobs(Variant("v", {"agents": "security+explorer"}), settings)["agents"] == ["security", "explorer"]
    assert suite.knobs(DEFAULT, settings)["llm_reviews"] == settings.audit_llm_reviews
    with pytest.raises(ConfigurationError, match="choose from"):
        suite.knobs(Variant("v", {"agents": "security+linter"}), settings)


# --- aggregates -----------------------------------------------------------------------------------------------


def counts(agent: str, tp: int, fp: int, fn: int) -> dict[str, float]:
    return {f"{agent}_tp": tp, f"{agent}_fp": fp, f"{agent}_fn": fn}


def test_audit_precision_recall_and_f1_are_micro_averaged_over_cases():
    results = [
        result("big", **counts("overall", 9, 1, 0), **counts("security", 9, 1, 0), duration_s=3.0, findings=12),
        result("small", **counts("overall", 0, 0, 1), **counts("security", 0, 0, 1), duration_s=1.0, findings=0),
        result("clean", **counts("overall", 0, 2, 0), duration_s=2.0, findings=2),
        result("promoted", duration_s=5.0, findings=4),  # counts only: in the totals, not in the ratios
    ]
    out = AuditSuite().aggregate(results)
    # overall: tp 9, fp 3, fn 1 over every case, then the ratios (a mean of per-case F1s would be far lower)
    assert (out["overall_tp"], out["overall_fp"], out["overall_fn"]) == (9, 3, 1)
    assert out["overall_precision"] == 0.75 and out["overall_recall"] == 0.9
    assert out["overall_f1"] == round(2 * 0.75 * 0.9 / 1.65, 4)
    assert (out["security_precision"], out["security_recall"]) == (0.9, 0.9)
    assert "bug_hunter_f1" not in out, "no case scored that agent"
    assert out["duration_p50_s"] == 3.0 and out["findings_total"] == 18


def test_voice_wer_is_the_mean_over_cases_with_a_reference_and_latencies_are_percentiles():
    results = [
        result("a", wer=0.1, stt_rtf=0.2, tts_rtf=0.3, first_audio_s=1.0, total_s=2.0),
        result("b", stt_rtf=0.4, tts_rtf=0.5, first_audio_s=3.0, total_s=4.0),
        result("c", wer=0.3, stt_rtf=0.6, tts_rtf=0.1, first_audio_s=2.0, total_s=3.0),
    ]
    out = VoiceSuite().aggregate(results)
    assert out["wer"] == 0.2 and out["wer_cases"] == 2
    assert (out["stt_rtf_p50"], out["tts_rtf_p50"]) == (0.4, 0.3)
    assert (out["first_audio_p50_s"], out["first_audio_p95_s"], out["total_p50_s"]) == (2.0, 3.0, 3.0)
    assert "llm_ttft_p50_s" not in out, "no case had a full turn"


# --- the audit on a fixture -----------------------------------------------------------------------------------


async def test_an_audit_case_scores_the_fixture_and_links_its_logged_run(settings, resources, runlog):
    suite = AuditSuite()
    (case,) = [c for c in suite.cases(settings) if c.id == "deploy-tools"]
    roots = list(settings.audit_allowed_roots)
    outcome = await suite.run_case(case, DEFAULT, resources)

    assert outcome.outcome == "pass", outcome.output
    labels = load_expected(REPOS / "deploy-tools.expected.yaml").findings
    m = outcome.metrics
    assert m["overall_tp"] + m["overall_fn"] == len(labels) and m["overall_f1"] >= 0.8
    for agent in ("bug_hunter", "security"):
        assert m[f"{agent}_tp"] + m[f"{agent}_fn"] == sum(item.agent == agent for item in labels)
        assert 0.0 <= m[f"{agent}_precision"] <= 1.0 and 0.0 <= m[f"{agent}_recall"] <= 1.0
    assert m["findings"] >= m["overall_tp"] and m["duration_s"] > 0
    assert outcome.detail["status"] == "completed" and "overall P=" in outcome.output
    assert resources.settings is settings and settings.audit_allowed_roots == roots, "the case's settings stay its own"
    assert flushed(runlog)
    row = get_run(runlog, outcome.run_id or "")
    assert row is not None
    assert (row["graph"], row["entry_point"], row["status"]) == ("repo_audit", "eval", "ok")
    audited = Path(row["input"])
    assert audited.is_absolute() and not any(audited.is_relative_to(root) for root in roots), (
        "it audited the fixture's copy, which only the case's settings allow"
    )


VIEW = (
    "from flask import request\n\n\ndef init(app):\n    @app.route('/b/{name}', methods=['POST'])\n"
    "    def view():\n        import sqlite3\n        param = request.form.get('p')\n        bar = {bar}\n"
    "        cur = sqlite3.connect(':memory:').cursor()\n"
    "        cur.execute(f\"SELECT * FROM users WHERE name = '{{bar}}'\")\n        return 'ok'\n"
)


async def test_a_benchmark_folder_becomes_one_case_scored_upstreams_way(settings, tmp_path, runlog):
    bench = tmp_path / "BenchmarkPython"
    (bench / "testcode").mkdir(parents=True)
    (bench / "testcode" / "BenchmarkTest00001.py").write_text(VIEW.format(name="1", bar="param"))
    (bench / "testcode" / "BenchmarkTest00002.py").write_text(VIEW.format(name="2", bar="'constant'"))
    (bench / "expectedresults-0.1.csv").write_text(
        "# test name, category, real vulnerability, cwe\nBenchmarkTest00001,sqli,true,89\n"
        "BenchmarkTest00002,sqli,false,89\n"
    )
    settings = settings.model_copy(update={"audit_benchmark": bench})
    suite = AuditSuite()
    (case,) = [c for c in suite.cases(settings) if c.id == "owasp-benchmark-python"]
    outcome = await suite.run_case(case, DEFAULT, Resources(settings))
    assert outcome.outcome == "pass", outcome.output
    m = outcome.metrics
    # the real flow is flagged by the taint rules; bandit's B608 on the constant one stays at low confidence
    assert (m["benchmark_tpr"], m["benchmark_fpr"], m["benchmark_score"]) == (1.0, 0.0, 1.0)
    assert m["benchmark_sqli_score"] == 1.0 and m["benchmark_positive_categories"] == 1.0
    assert suite.aggregate([outcome])["benchmark_score"] == 1.0
    assert list((tmp_path / "BenchmarkPython").iterdir())  # read in place, left as it was


async def test_a_clean_fixture_passes_without_false_positives_and_a_bare_promoted_case_reports_counts(
    settings, tmp_path, runlog
):
    allowed = tmp_path / "allowed"
    shutil.copytree(REPOS / "clean-lib", allowed / "clean-lib")
    settings = settings.model_copy(update={"audit_allowed_roots": [allowed]})
    promote_case(settings, "audit", id="run-0000aaaa", input={"repo": str(allowed / "clean-lib")})
    resources = Resources(settings)
    suite = AuditSuite()
    cases = {c.id: c for c in suite.cases(settings)}
    clean = await suite.run_case(cases["clean-lib"], DEFAULT, resources)
    bare = await suite.run_case(cases["run-0000aaaa"], DEFAULT, resources)
    refused = await suite.run_case(
        cases["run-0000aaaa"], DEFAULT, resources.with_settings(settings.model_copy(update={"audit_allowed_roots": []}))
    )
    assert clean.outcome == "pass" and clean.metrics["overall_fp"] == 0
    assert bare.outcome == "pass" and "overall_f1" not in bare.metrics and "findings" in bare.metrics
    assert bare.output.startswith("completed: ")
    assert refused.outcome == "error" and "allowed" in (refused.error or "") and refused.run_id


async def test_audit_prompts_are_registered_and_linked_only_when_a_model_triages(settings):
    registry = ModelRegistry(settings, {"fake/triage": ScriptedChatModel()})
    resources = Resources(settings, models=registry)
    suite = AuditSuite()
    offline = await suite.setup(resources, DEFAULT)
    triaged = await suite.setup(resources, Variant("m", {"model": "fake/triage", "llm_reviews": 2}))
    assert offline["prompt_uris"] == [] and offline["model_resolved"] == "none"
    assert triaged["prompt_uris"] == ["prompts:/audit-triage/1", "prompts:/audit-summary/1"]
    assert (triaged["model_resolved"], triaged["llm_reviews"]) == ("fake/triage", 2)
    assert offline["graph_version"] == triaged["graph_version"] and len(offline["graph_version"]) == 12


# --- voice on fake engines ------------------------------------------------------------------------------------


@pytest.fixture
def fake_speech(settings) -> FakeSpeech:
    return FakeSpeech(settings, stt=FakeSTT(JFK, delay_s=0.01), tts=FakeTTS(delay_s=0.01))


@pytest.fixture
def speaking(settings, fake_speech) -> Resources:
    """Clients whose speech engines are the fakes."""
    return Resources(settings, speech=fake_speech)


async def test_a_voice_case_scores_the_transcript_and_times_a_whole_logged_turn(settings, speaking, runlog):
    suite = VoiceSuite()
    setup = await suite.setup(speaking, DEFAULT)
    assert (setup["stt_resolved"], setup["tts_resolved"], setup["model_resolved"]) == (
        "fake/stt",
        "fake/tts",
        "extractive",
    )
    assert setup["prompt_uris"] == ["prompts:/voice-persona-assistant/1"] and setup["persona"] == "assistant"
    cases = {c.id: c for c in suite.cases(settings)}

    jfk = await suite.run_case(cases["clip-jfk"], DEFAULT, speaking)
    assert jfk.outcome == "pass" and jfk.metrics["wer"] == 0.0 and jfk.output == JFK
    assert jfk.metrics["audio_s"] == pytest.approx(11.0, abs=0.1)
    assert jfk.metrics["stt_rtf"] == pytest.approx(0.01 / jfk.metrics["audio_s"])
    assert jfk.metrics["tts_rtf"] > 0
    assert {"stt_s", "llm_ttft_s", "llm_s", "tts_s", "first_audio_s", "total_s"} <= set(jfk.metrics)
    assert jfk.metrics["first_audio_s"] <= jfk.metrics["total_s"]
    assert jfk.detail["reply"] and jfk.detail["models"]["stt"] == "fake/stt"
    assert flushed(runlog)
    row = get_run(runlog, jfk.run_id or "")
    assert row is not None
    assert (row["graph"], row["entry_point"], row["status"]) == ("voice", "eval", "ok")

    # a round-trip sentence: the fake recogniser hears the JFK line instead, far past max_wer
    misheard = await suite.run_case(cases["say-1"], DEFAULT, speaking)
    assert misheard.outcome == "fail" and misheard.metrics["wer"] > 0.2
    # no reference: real-time factors only, and a pass because something was recognised
    unreferenced = await suite.run_case(cases["clip-hotwords"], Variant("t", {"full_turn": False}), speaking)
    assert unreferenced.outcome == "pass" and "wer" not in unreferenced.metrics and unreferenced.run_id is None
    assert {"stt_rtf", "tts_rtf"} <= set(unreferenced.metrics) and "total_s" not in unreferenced.metrics


async def test_a_voice_turn_that_fails_is_an_error_case_with_its_run_id(settings, fake_speech, speaking, runlog):
    fake_speech.fake_stt.text = ""  # nothing recognised: the turn refuses the audio
    suite = VoiceSuite()
    (case,) = [c for c in suite.cases(settings) if c.id == "clip-jfk"]
    failed = await suite.run_case(case, DEFAULT, speaking)
    assert failed.outcome == "error" and "no speech" in (failed.error or "") and failed.metrics["wer"] == 1.0
    assert flushed(runlog)
    row = get_run(runlog, failed.run_id or "")
    assert row is not None and row["status"] == "error"

"""The Runs and Evals tabs' pure helpers: filters to query arguments, table rows, run detail, variant inputs,
case limits and the comparison tables (changed cases first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workbench.agents.registry import AGENTS_DIR as ROOT_AGENTS
from workbench.evals import console, plan
from workbench.evals.compare import CaseDiff, Comparison, paired_statistics
from workbench.evals.runner import SuiteRun
from workbench.evals.stats import compare_metric
from workbench.evals.suite import Case, Variant
from workbench.evals.variants import VariantError, build_variants
from workbench.ui import evals_view, runs_tab, runs_view
from workbench.ui.trace_links import trace_link

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def _run(**fields: Any) -> dict[str, Any]:
    return {
        "run_id": "0123456789abcdef",
        "graph": "chat",
        "entry_point": "ws",
        "status": "ok",
        "model": "extractive",
        "input": "How do I\nconfigure   the data folder?",
        "output": "Set WORKBENCH_HOME [1].",
        "started_at": NOW,
        "ended_at": NOW + timedelta(milliseconds=1250),
        **fields,
    }


def test_filters_become_query_arguments_and_all_or_blank_filter_nothing():
    args = runs_tab.query_args("chat", "all", " extractive ", "", "last hour", 20, now=NOW)
    assert args == {
        "limit": 20, "graph": "chat", "status": None, "model": "extractive", "session_id": None,
        "since": NOW - timedelta(hours=1), "sort": "started_at", "min_ms": None,
    }  # fmt: skip
    everything = runs_tab.query_args("all", "all", None, None, "all", None, now=NOW)
    assert everything["since"] is None and everything["limit"] == 50 and everything["sort"] == "started_at"
    assert {k for k, v in everything.items() if v is not None} == {"limit", "sort"}
    assert runs_tab.query_args("voice", "error", "", "s1", "last week", 5000)["limit"] == 1000


def test_the_sort_and_the_least_time_become_the_run_lists_order_and_roll_up_filter():
    slow_llm = runs_tab.query_args("all", "all", "", "", "all", 20, "tokens out", "LLM time", 1500)
    assert slow_llm["sort"] == "tokens_out" and slow_llm["min_ms"] == {"llm_ms": 1500.0}
    assert runs_tab.query_args("all", "all", "", "", "all", 20, "time to first token", "duration", 0)["min_ms"] is None
    assert runs_tab.query_args("all", "all", "", "", "all", 20, None, "speech time", None)["sort"] == "started_at"
    from workbench.runlog.queries import SORTABLE

    assert set(runs_tab.SORTS.values()) <= SORTABLE and set(runs_tab.AT_LEAST.values()) <= SORTABLE - {"started_at"}


def test_run_rows_show_short_ids_durations_and_one_line_input_excerpts():
    table = runs_view.run_rows([_run(), _run(run_id="ffffffff0000", status="running", ended_at=None, input="x" * 200)])
    assert list(table.columns) == runs_view.RUN_COLUMNS
    first, second = table.values.tolist()
    assert first == ["2025-05-01 12:00:00", "01234567", "chat", "ws", "ok", "1.25", "", "", "", "", "", "extractive",
                     "How do I configure the data folder?"]  # fmt: skip
    assert second[4:6] == ["running", ""] and len(second[-1]) == 80 and second[-1].endswith("…")


def test_run_rows_show_each_runs_time_in_llm_calls_retrieval_and_speech_its_tokens_and_spans():
    rolled = _run(llm_ms=812.4, retrieval_ms=35.6, speech_ms=None, tool_ms=3.0, spans=7, tokens_in=120, tokens_out=9)
    row = dict(zip(runs_view.RUN_COLUMNS, runs_view.run_rows([rolled]).values.tolist()[0], strict=True))
    assert (row["LLM (ms)"], row["retrieval (ms)"], row["speech (ms)"]) == ("812", "36", "")
    assert (row["tokens in/out"], row["spans"]) == ("120 / 9", "7")


def test_the_detail_links_the_runs_trace_in_a_new_tab_only_for_an_id_of_the_right_shape():
    text = runs_view.detail_markdown(_run(run_id="run-1.a:b"))
    assert '<a href="/runs/run-1.a:b/trace" target="_blank" rel="noopener">Open trace ↗</a>' in text
    for hostile in ('x" onclick="alert(1)', "../../etc", "a/b", "..", "x" * 129):
        assert "href" not in runs_view.detail_markdown(_run(run_id=hostile))


def test_a_typed_prefix_resolves_to_the_one_listed_run_it_names():
    listed = ["abc123", "abd999", "ffff00"]
    assert runs_tab.resolve_id(" ff ", listed) == "ffff00"
    assert runs_tab.resolve_id("ab", listed) == "ab"  # ambiguous: looked up as typed
    assert runs_tab.resolve_id("", listed) is None


def test_the_timeline_orders_events_with_their_offset_from_the_run_start():
    events = [
        {"seq": 0, "node": "retrieve", "kind": "node", "status": "ok", "started_at": NOW + timedelta(milliseconds=5),
         "duration_ms": 12.34, "detail": {"k": 5}},
        {"seq": 1, "node": "answer", "kind": "llm", "status": "ok", "started_at": NOW + timedelta(milliseconds=40),
         "duration_ms": None, "detail": None},
    ]  # fmt: skip
    rows = runs_view.timeline_rows(_run(events=events)).values.tolist()
    assert rows == [
        ["0", "retrieve", "node", "ok", "12.3", "5", '{"k": 5}'],
        ["1", "answer", "llm", "ok", "", "40", ""],
    ]


def test_documents_and_findings_become_table_rows():
    docs = runs_view.doc_rows(_run(retrieved=[{"source": "a.md", "chunk_id": "c1", "score": 0.5, "dense_score": 0.71234,
                                              "sparse_score": None}]))  # fmt: skip
    assert docs.values.tolist() == [["a.md", "c1", "0.500", "0.712", ""]]
    report = {"findings": [{"severity": "high", "rule": "bandit/B602", "cwe": 78, "file": "x.py", "line": 3,
                            "message": "shell\n=True", "agent": "security"}]}  # fmt: skip
    assert runs_view.finding_rows(report).values.tolist() == [
        ["high", "bandit/B602", "CWE-78", "x.py", "3", "shell =True", "security"]
    ]
    assert runs_view.finding_rows(None).empty


def test_the_detail_escapes_run_text_and_shows_voice_timings_and_engines():
    hostile = _run(input="<img src=x onerror=alert(1)>", error="**boom** <script>", metadata={"note": "a | b"})
    text = runs_view.detail_markdown(hostile)
    assert "<img" not in text and "<script>" not in text and "&lt;script&gt;" in text and "\\*\\*boom" in text
    assert "| note | a \\| b |" in text
    metadata = {"stt_s": 0.42, "total_s": 1.5, "transcript": "hello there", "stt_model": "faster-whisper/tiny.en",
                "tts_voice": "piper/joe-us"}  # fmt: skip
    voice = _run(graph="voice", metadata=metadata)
    text = runs_view.detail_markdown(voice)
    assert "audio itself is not kept" in text and "hello there" in text and "**voice** piper/joe-us" in text
    assert "| Speech to text | 0.42 |" in text and "| Total | 1.50 |" in text
    assert "| stt\\_s |" not in text and "| tts\\_voice |" not in text  # shown above, not repeated as metadata


def test_variant_inputs_become_choices_like_the_cli():
    choices = plan.variant_choices(["extractive, fake/echo", "extractive"], ["v1", "v2"], "top_k=3,5\n# no\n\n")
    assert choices == {"top_k": ["3", "5"], "model": ["extractive", "fake/echo"], "prompt_version": ["v1", "v2"]}
    assert plan.variant_choices(None, [], "") == {}
    with pytest.raises(VariantError):
        plan.variant_choices([], [], "top_k")
    variants = build_variants({"model": "auto", "prompt_version": "v1"}, plan.variant_choices([], ["v1", "v2"], ""))
    assert [v.name for v in variants] == ["prompt_version=v1", "prompt_version=v2"]


def test_a_case_limit_keeps_every_promoted_case():
    cases = [Case(f"c{i}", {}) for i in range(5)] + [Case("run-abc", {}, source="promoted")]
    assert [c.id for c in plan.limit_cases(cases, 2)] == ["c0", "c1", "run-abc"]
    assert len(plan.limit_cases(cases, None)) == len(plan.limit_cases(cases, 0)) == 6


def _comparison() -> Comparison:
    cases = [
        CaseDiff("same", "pass", "pass", {"f1": 0.5, "latency_s": 1.0}, {"f1": 0.5, "latency_s": 3.0}),
        CaseDiff("up", "fail", "pass", {"f1": 0.1}, {"f1": 0.9}, run_id_a="run-a1", run_id_b="run-b1"),
        CaseDiff("gone", "pass", None, {"f1": 1.0}, {}),
        CaseDiff("slow", "pass", "pass", {"latency_s": 1.0}, {"latency_s": 3.0}),
    ]
    params_a, params_b = {"prompt_version": "v1", "model": "x"}, {"prompt_version": "v2", "model": "x"}
    return Comparison("aaaaaaaa1", "bbbbbbbb2", params_a, params_b, {"pass_rate": 0.5}, {"pass_rate": 0.75}, cases)


def test_comparison_tables_put_changed_cases_first_with_the_quality_metric_that_moved_most():
    comparison = _comparison()
    rows = evals_view.case_rows(comparison.cases).values.tolist()
    assert [row[:7] for row in rows] == [
        ["up", "fail", "pass", "better", "f1", "0.1", "0.9"],
        ["gone", "pass", "–", "missing", "f1", "1", ""],
        ["same", "pass", "pass", "same", "f1", "0.5", "0.5"],
        ["slow", "pass", "pass", "same", "latency_s", "1", "3"],
    ]
    assert [row[7:9] for row in rows] == [[trace_link("run-a1"), trace_link("run-b1")], *[["", ""]] * 3]
    assert 'href="/runs/run-b1/trace"' in rows[0][8]
    assert [row[9] for row in rows] == [""] * 4  # no divergence looked for yet
    assert evals_view.param_table(comparison).values.tolist() == [["prompt_version", "v1", "v2"]]
    assert evals_view.metric_table(comparison).values.tolist() == [["pass_rate", "0.5", "0.75", "+0.25"]]
    summary = evals_view.comparison_summary(comparison, {"aaaaaaaa1": "prompt_version=v1 (aaaaaaaa)"})
    assert summary.startswith("**2 of 4 cases changed outcome**") and "prompt\\_version=v1" in summary


def _stats_comparison() -> Comparison:
    """48 cases: run b fixes 10 of run a's failures and breaks 2 of its passes; f1 moves by noise only."""
    outcomes = [(0.0, 1.0)] * 10 + [(1.0, 0.0)] * 2 + [(1.0, 1.0)] * 30 + [(0.0, 0.0)] * 6
    cases = [
        CaseDiff(f"c{i}", "pass" if a else "fail", "pass" if b else "fail", {"f1": 0.5 + (i % 5) * 0.01},
                 {"f1": 0.5 + ((i + 2) % 5) * 0.01}, pass_a=a, pass_b=b)
        for i, (a, b) in enumerate(outcomes)
    ]  # fmt: skip
    return Comparison("aaaaaaaa1", "bbbbbbbb2", {}, {}, {}, {}, cases, paired_statistics(cases, resamples=2000))


def test_the_statistics_table_puts_the_pass_rate_first_with_its_interval_p_value_test_and_marked_verdict():
    comparison = _stats_comparison()
    table = evals_view.statistics_table(comparison)
    assert list(table.columns) == evals_view.STAT_COLUMNS
    passes, f1 = (dict(zip(table.columns, row, strict=True)) for row in table.values.tolist())
    stat = comparison.statistics[0]
    assert stat.verdict == "better" and stat.ci_low > 0 and stat.p_value < 0.05
    assert passes == {
        "metric": "pass_rate", "a": "0.6667", "b": "0.8333", "Δ (b−a)": "+0.167",
        "95 % CI": f"[{stat.ci_low:+.3g}, {stat.ci_high:+.3g}]", "p": f"{stat.p_value:.2g}",
        "test": "McNemar exact", "verdict": "▲ better", "note": "",
    }  # fmt: skip
    assert f1["metric"] == "f1" and f1["test"] == "sign-flip permutation" and f1["verdict"] == "≈ inconclusive"
    noise = comparison.statistic("f1")
    assert noise is not None and noise.cases_needed and noise.verdict == "inconclusive"
    assert (
        f1["note"]
        == f"detectable ±{noise.mde:.2g} with 48 cases; ~{noise.cases_needed} cases to see {noise.delta:+.3g}"
    )


def test_the_statistics_table_marks_a_worse_metric_and_says_what_an_inconclusive_one_lacks():
    slower = compare_metric("latency_s", [1.0, 2.0, 3.0, 1.5] * 6, [1.5, 2.6, 3.5, 1.9] * 6, higher_is_better=False)
    same = compare_metric("recall_at_k", [1.0, 0.5, None], [1.0, 0.5, 0.7])
    unscored = compare_metric("wer", [None, None], [0.1, 0.2], higher_is_better=False)
    rows = evals_view.statistics_table(Comparison("a", "b", {}, {}, {}, {}, [], [slower, same, unscored]))
    slow, tie, none = (dict(zip(rows.columns, row, strict=True)) for row in rows.values.tolist())
    assert (slow["Δ (b−a)"], slow["p"], slow["verdict"]) == ("+0.5", "< 0.001", "▼ worse")
    assert tie["verdict"] == "≈ inconclusive"
    assert tie["note"] == "the runs scored all 2 cases the same; 1 case(s) left out: scored by one run only"
    assert none == {"metric": "wer", "a": "", "b": "", "Δ (b−a)": "", "95 % CI": "", "p": "",
                    "test": "McNemar exact", "verdict": "≈ inconclusive",
                    "note": "no case scored by both runs; 2 case(s) left out: scored by one run only"}  # fmt: skip


def test_the_summary_states_the_pass_rates_verdict_in_plain_words():
    better = evals_view.comparison_summary(_stats_comparison())
    stat = _stats_comparison().statistics[0]
    assert better.startswith("**12 of 48 cases changed outcome**")
    ci = f"[{stat.ci_low:+.3f}, {stat.ci_high:+.3f}]"
    assert f"pass rate 0.667 → 0.833 (+0.167, 95 % CI {ci}, p = {stat.p_value:.2g}): **▲ better**" in better
    few = [CaseDiff(f"c{i}", "pass" if a else "fail", "pass" if b else "fail", pass_a=a, pass_b=b)
           for i, (a, b) in enumerate([(1.0, 1.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0)])]  # fmt: skip
    comparison = Comparison("a", "b", {}, {}, {}, {}, few, paired_statistics(few, resamples=2000))
    inconclusive = evals_view.comparison_summary(comparison).split("\n\n")[1]
    mde = comparison.statistics[0].mde
    assert inconclusive.startswith("pass rate 0.750 → 0.750 (+0.000, 95 % CI [")
    assert inconclusive.endswith(
        f"p = 1): **≈ inconclusive**: a difference under ±{mde:.2f} cannot be told from noise with 4 cases"
    )
    assert "\n" not in evals_view.comparison_summary(_comparison())  # no statistics: the counts alone


def test_a_changed_case_says_where_its_two_runs_part_ways_on_one_line_without_passwords():
    where = {"description": "step 3 (retrieve > retrieval docs): retrieval differs — a: c1, c2\n· b: c3",
             "kind": "retrieval", "index": 2}  # fmt: skip
    cases = [
        CaseDiff("same", "pass", "pass"),
        CaseDiff("up", "fail", "pass", divergence=where),
        CaseDiff("down", "pass", "fail", divergence="run b's trace is not in this run log"),
        CaseDiff("tool", "pass", "fail", divergence={"description": "tool call differs — a: https://u:pw@h/x · b: y"}),
    ]
    parts = dict(zip(*(evals_view.case_rows(cases)[c].tolist() for c in ("case", "parts ways at")), strict=True))
    assert parts == {
        "up": "step 3 (retrieve > retrieval docs): retrieval differs — a: c1, c2 · b: c3",
        "down": "run b's trace is not in this run log",
        "tool": "tool call differs — a: https://u:***@h/x · b: y",
        "same": "",
    }


def test_a_comparison_mlflow_will_not_keep_is_logged_as_a_warning_and_the_view_goes_on(monkeypatch, caplog, tmp_path):
    from workbench.settings import Settings
    from workbench.ui import evals_tab

    kept: list[Comparison] = []

    def refuse(settings: Settings, comparison: Comparison) -> str:
        kept.append(comparison)
        raise OSError("MLflow at http://me:s3cret@mlflow.example.com/ refused the artifact")

    monkeypatch.setattr(evals_tab, "log_comparison", refuse)
    comparison = _comparison()
    evals_tab.keep_comparison(Settings(home=tmp_path), comparison)
    assert kept == [comparison]
    assert "could not keep the comparison of aaaaaaaa1 and bbbbbbbb2" in caplog.text
    assert "me:***@mlflow" in caplog.text and "s3cret" not in caplog.text


def test_metrics_table_has_one_column_per_variant():
    runs = [
        SuiteRun("s", Variant("v1"), "1111111122", "e", {}, {"pass_rate": 0.5, "cases": 4.0}),
        SuiteRun("s", Variant("v2"), "3333333344", "e", {}, {"pass_rate": 0.25, "mrr": 0.123456}),
    ]
    table = evals_view.metrics_table(runs)
    assert list(table.columns) == ["metric", "v1 (11111111)", "v2 (33333333)"]
    assert table.values.tolist() == [["cases", "4", ""], ["mrr", "", "0.1235"], ["pass_rate", "0.5", "0.25"]]


def test_run_labels_and_progress_escape_and_clamp():
    assert (
        console.run_label("chat-rag:v1", 1746100800000, "0123456789") == "chat-rag:v1 · 2025-05-01 12:00:00 · 01234567"
    )
    bar = evals_view.progress_html(1.7, "<b>case</b>")
    assert 'value="100"' in bar and "&lt;b&gt;case" in bar


def test_the_tracking_uri_is_shown_without_its_password():
    assert (
        evals_view.shown_uri("https://me:s3cret@mlflow.example.com:5000/x")
        == "https://me:***@mlflow.example.com:5000/x"
    )
    assert evals_view.shown_uri("sqlite:////tmp/a_b/mlflow.db") == "sqlite:////tmp/a_b/mlflow.db"
    error = "MLflow tracking at http://u:p@w@host/ is not usable: refused; see https://x.org/a"
    assert (
        evals_view.redact(error) == "MLflow tracking at http://u:***@host/ is not usable: refused; see https://x.org/a"
    )


def test_the_runs_graph_filter_offers_the_agents_by_name(tmp_path, monkeypatch):
    from workbench.ui.runs_tab import graph_choices, query_args

    (tmp_path / "calc.yaml").write_text((ROOT_AGENTS / "calculator.yaml").read_text())
    monkeypatch.setenv("WORKBENCH_AGENTS_DIR", str(tmp_path))
    assert graph_choices() == ["all", "chat", "voice", "repo_audit", "calculator"]
    assert query_args("calculator", None, None, None, None, 10)["graph"] == "calculator"
    monkeypatch.setenv("WORKBENCH_AGENTS_DIR", str(tmp_path / "missing"))
    assert graph_choices() == ["all", "chat", "voice", "repo_audit"]


def test_gradios_idle_queue_sleeps_longer_and_keeps_working():
    import gradio as gr

    from workbench.ui.app import PROGRESS_IDLE_SLEEP_S, QUEUE_IDLE_SLEEP_S, quiet_queue

    with gr.Blocks() as demo:
        gr.Markdown("x")
    assert demo._queue.sleep_when_free == 0.001  # Gradio's own value off Windows: 1,000 wake-ups a second
    quiet_queue(demo)
    assert (demo._queue.sleep_when_free, demo._queue.progress_update_sleep_when_free) == (
        QUEUE_IDLE_SLEEP_S,
        PROGRESS_IDLE_SLEEP_S,
    )


def test_mlflow_is_warmed_once_in_the_background_and_a_failure_is_tried_again(tmp_path, monkeypatch):
    from workbench.errors import ConfigurationError
    from workbench.evals import tracking
    from workbench.settings import Settings

    calls: list[str] = []

    def configure(settings):
        calls.append("configure")
        if len(calls) == 1:
            raise ConfigurationError("MLflow tracking at x is not usable")
        return "sqlite:///ok"

    monkeypatch.setattr(tracking, "configure", configure)
    monkeypatch.setattr(tracking, "_warming", {})
    settings = Settings(home=tmp_path)
    first = tracking.warm_in_background(settings)
    with pytest.raises(ConfigurationError):
        first.result(timeout=10)
    second = tracking.warm_in_background(settings)
    assert second is not first and second.result(timeout=10) == "sqlite:///ok"
    assert tracking.warm_in_background(settings) is second and calls == ["configure", "configure"]


def test_an_ended_audit_links_its_runs_trace():
    from workbench.ui.audit_view import status_line

    ended = {"task_id": "t" * 32, "status": "cancelled", "run_id": "0f1e2d3c-aaaa-bbbb-cccc-111122223333"}
    assert 'href="/runs/0f1e2d3c-aaaa-bbbb-cccc-111122223333/trace"' in status_line(ended, None)
    assert "href" not in status_line({**ended, "run_id": None}, None)

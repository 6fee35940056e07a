"""A real browser compares two eval runs in the Evals tab whose cases part ways: ``chat-rag`` on the extractive
baseline at top_k 1 and 5, where the first question only passes with more passages. The comparison must show per
metric the difference with its interval, p-value, test and a marked verdict, state the pass rate's verdict in the
summary, and say for the changed case that its runs part ways at the retrieval, with links to both traces.
"""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import column, extractive_server, pick

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.timeout(300)]

EVAL_TIMEOUT_MS = 150_000
VERDICT = re.compile(r"▲ better|▼ worse|≈ inconclusive")
SAID = re.compile(rf"pass rate ([\d.]+) → ([\d.]+) \([+-][\d.]+, 95 % CI \[.+\], p [=<] .+\): ({VERDICT.pattern})")
"""The summary's line on the pass rate: run a's, run b's and the verdict."""


def cells(page, elem_id: str, columns: int) -> list[list[str]]:
    """A Gradio Dataframe's body rows, each as its cells' text."""
    by_column = [column(page, elem_id, i) for i in range(columns)]
    return [list(row) for row in zip(*by_column, strict=True)]


def test_the_evals_tab_shows_each_metrics_interval_and_verdict_and_where_a_changed_case_parts_ways(browser, tmp_path):
    from playwright.sync_api import expect

    server = extractive_server(tmp_path / "home")
    try:
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")
        page.get_by_role("tab", name="Evals").click()
        expect(page.locator("#evals-description")).to_contain_text("recall@k", timeout=30_000)
        expect(page.locator("#evals-mlflow")).to_contain_text("http://127.0.0.1:5000", timeout=60_000)
        pick(page, "evals-models", "extractive")
        page.locator("#evals-settings textarea").fill("top_k=1,5")
        page.locator("#evals-limit input").fill("3")
        page.locator("#evals-run").click()
        expect(page.locator("#evals-status")).to_contain_text("2 run(s) of chat-rag", timeout=EVAL_TIMEOUT_MS)

        summary = page.locator("#evals-compare-summary")
        expect(summary).to_contain_text(re.compile(r"\d+ of 3 cases changed outcome"), timeout=30_000)
        expect(summary).to_contain_text("pass rate")
        stats = cells(page, "evals-compare-stats", 9)
        assert stats[0][0] == "pass_rate", stats
        metric, a, b, delta, ci, p, test, verdict, note = stats[0]
        assert re.fullmatch(r"\[[+-][\d.e+-]+, [+-][\d.e+-]+\]", ci) and re.fullmatch(r"< 0\.001|[\d.e-]+", p)
        assert test == "McNemar exact" and VERDICT.fullmatch(verdict), stats[0]
        assert float(delta) == pytest.approx(float(b) - float(a), abs=1e-3)
        if verdict == "≈ inconclusive":
            assert note.startswith("detectable ±") or note.startswith("the runs scored all"), note
        shown = summary.inner_text()
        said = SAID.search(shown)
        assert said and said.group(3) == verdict, shown
        assert [float(said.group(1)), float(said.group(2))] == pytest.approx([float(a), float(b)], abs=1e-3)
        by_metric = {row[0]: row for row in stats}
        assert {"recall_at_k", "token_f1", "latency_s"} <= set(by_metric)
        assert by_metric["latency_s"][6] == "sign-flip permutation"
        assert all(VERDICT.fullmatch(row[7]) for row in stats), stats

        rows = cells(page, "evals-cases", 10)
        changed = [row for row in rows if row[1] != row[2]]
        assert [row[0] for row in changed] == ["q01"], rows  # top_k 1 misses the passage q01 needs
        assert re.match(r"step \d+ \(retrieve > .*retrieval.*\): retrieval differs — a: .+ · b: .+", changed[0][9])
        assert all(row[9] == "" for row in rows if row not in changed)
        traces = page.locator("#evals-cases a[href^='/runs/']")
        expect(traces.first).to_have_attribute("href", re.compile(r"^/runs/[\w.:-]+/trace$"))
        page.screenshot(path=str(tmp_path / "eval-stats.png"), full_page=True)
        page.close()
    finally:
        server.stop()

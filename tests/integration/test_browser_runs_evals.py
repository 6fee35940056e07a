"""A real browser (Debian's Chromium driven by Playwright) reads the run log in the Runs tab, promotes a chat run
to an eval case, then compares two prompt versions on ``chat-rag`` in the Evals tab.

The chat run is made by a real WebSocket client over ``/ws/chat``; the server answers with the extractive
baseline (no model), so the eval is quick and deterministic. The promoted case must be in the file the suite
reads and in the next eval run; both variants must be logged to MLflow and compared per metric (interval,
p-value, verdict) and case by case, the cases whose outcome changed first with where their runs part ways, the
comparison kept with run b in MLflow; two runs picked in the compare pickers must compare too.
"""

from __future__ import annotations

import json
import re

import pytest
from websockets.sync.client import connect

from tests.integration.conftest import Server, column, extractive_server, pick

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.timeout(300)]

QUESTION = "How do I configure the data folder?"
EVAL_TIMEOUT_MS = 150_000
VERDICT = re.compile(r"(▲ better|▼ worse|≈ inconclusive)")
INTERVAL = re.compile(r"\[[+-]\d[\d.e+-]*, [+-]\d[\d.e+-]*\]")


def chat_turn(server: Server, content: str, session: str) -> dict:
    """One turn over /ws/chat; the ``done`` message (with the run id)."""
    with connect(f"{server.ws_url}/ws/chat") as ws:
        ws.send(json.dumps({"type": "user_message", "content": content, "session_id": session}))
        while True:
            message = json.loads(ws.recv(timeout=60))
            if message.get("type") in ("done", "error"):
                assert message["type"] == "done", message
                return message


def test_runs_tab_promotes_a_chat_run_and_evals_tab_compares_two_prompt_versions(browser, tmp_path):
    from playwright.sync_api import expect

    home = tmp_path / "home"
    server = extractive_server(home)
    try:
        done = chat_turn(server, QUESTION, "browser-runs")
        run_id = done["run_id"]
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")

        # 1. The Runs tab lists the chat run; filtering by graph keeps it; its detail has the timeline and docs.
        page.get_by_role("tab", name="Runs").click()
        table = page.locator("#runs-table")
        expect(table).to_contain_text(run_id[:8], timeout=30_000)
        pick(page, "runs-graph", "chat")
        expect(page.locator("#runs-list-status")).to_contain_text("1 run(s)")
        assert set(column(page, "runs-table", 2)) == {"chat"}
        table.locator("[role=gridcell]", has_text=run_id[:8]).first.click()
        detail = page.locator("#runs-detail")
        expect(detail).to_contain_text(run_id, timeout=15_000)
        expect(detail).to_contain_text("extractive")
        expect(page.locator("#runs-id input, #runs-id textarea").first).to_have_value(run_id)
        expect(page.locator("#runs-input textarea")).to_have_value(QUESTION)
        output = page.locator("#runs-output textarea").input_value()
        assert output.strip()
        nodes = column(page, "runs-timeline", 1)
        assert len(nodes) >= 2 and "retrieve" in " ".join(nodes), nodes
        assert all(re.fullmatch(r"\d+", offset) for offset in column(page, "runs-timeline", 5) if offset)
        docs = page.locator("#runs-docs")
        expect(docs).to_be_visible()
        assert any(source.endswith(".md") for source in column(page, "runs-docs", 0))
        expect(page.locator("#runs-findings")).to_be_hidden()
        pick(page, "runs-graph", "voice")
        expect(page.locator("#runs-list-status")).to_contain_text("No runs match")

        # 2. Promote it, with its output as the reference: the suite's promoted-cases file holds it.
        page.locator("#runs-promote-output input").check()
        page.locator("#runs-promote").click()
        case_id = f"run-{run_id[:8]}"
        expect(page.locator("#runs-promote-status")).to_contain_text(
            f"Added case {case_id} to suite chat-rag (1 promoted cases)", timeout=15_000
        )
        promoted = [json.loads(line) for line in (home / "evals" / "chat-rag.jsonl").read_text().splitlines()]
        assert [(c["id"], c["input"], c["origin"]) for c in promoted] == [(case_id, {"question": QUESTION}, run_id)]
        assert promoted[0]["expected"]["answer"] == output

        # 3. The Evals tab: chat-rag, v1 vs v2 on the extractive baseline, 3 bundled cases plus the promoted one.
        page.get_by_role("tab", name="Evals").click()
        expect(page.locator("#evals-suite input")).to_have_value("chat-rag")
        expect(page.locator("#evals-description")).to_contain_text("recall@k", timeout=30_000)
        expect(page.locator("#evals-mlflow")).to_contain_text("http://127.0.0.1:5000", timeout=60_000)
        expect(page.locator("#evals-mlflow")).to_contain_text(str(home.resolve() / "mlflow.db"))
        pick(page, "evals-models", "extractive")
        versions = page.locator("#evals-prompt-versions")
        versions.get_by_label("v1", exact=True).check()
        versions.get_by_label("v2", exact=True).check()
        page.locator("#evals-limit input").fill("3")
        page.locator("#evals-run").click()
        expect(page.locator("#evals-progress")).to_contain_text("variant", timeout=60_000)
        status = page.locator("#evals-status")
        expect(status).to_contain_text("2 run(s) of chat-rag", timeout=EVAL_TIMEOUT_MS)
        expect(status).to_contain_text("4 cases (1 promoted)")
        expect(page.locator("#evals-description")).to_contain_text("(1 promoted from runs)")
        headers = page.locator("#evals-metrics thead").inner_text()
        ids = dict(re.findall(r"prompt_version=(v[12]) \((\w{8})\)", headers))
        assert set(ids) == {"v1", "v2"}, headers
        assert "pass_rate" in column(page, "evals-metrics", 0) and "recall_at_k" in column(page, "evals-metrics", 0)

        # 4. The first two variants are compared case by case, changed outcomes first; the promoted case is in.
        summary = page.locator("#evals-compare-summary")
        expect(summary).to_contain_text(re.compile(r"\d+ of 4 cases changed outcome"), timeout=30_000)
        changed = int(re.search(r"(\d+) of 4", summary.inner_text()).group(1))  # type: ignore[union-attr]
        assert case_id in column(page, "evals-cases", 0)
        moved = [a != b for a, b in zip(column(page, "evals-cases", 1), column(page, "evals-cases", 2), strict=True)]
        assert moved == [True] * changed + [False] * (4 - changed)
        assert "prompt_version" in column(page, "evals-params", 0)

        # 5. Per metric, b against a with its interval, p-value, test and verdict; the summary says the pass rate's.
        assert column(page, "evals-compare-stats", 0)[0] == "pass_rate"
        pass_rate = [column(page, "evals-compare-stats", i)[0] for i in range(9)]
        assert INTERVAL.fullmatch(pass_rate[4]) and re.fullmatch(r"< 0\.001|[\d.e-]+", pass_rate[5]), pass_rate
        assert pass_rate[6] == "McNemar exact" and VERDICT.fullmatch(pass_rate[7]), pass_rate
        assert "recall_at_k" in column(page, "evals-compare-stats", 0)
        verdict = re.search(r"pass rate [\d.]+ → [\d.]+ \([+-][\d.]+, 95 % CI \[[^]]+\], p [=<] [^)]+\): (.+)",
                            summary.inner_text())  # fmt: skip
        assert verdict and VERDICT.match(verdict.group(1)), summary.inner_text()
        assert pass_rate[7] in verdict.group(1)
        parts = column(page, "evals-cases", 9)
        assert all(parts[:changed]) and not any(parts[changed:]), parts
        kept = list(home.glob(f"mlartifacts/*/*/artifacts/comparisons/{ids['v1']}*.json"))
        assert len(kept) == 1 and kept[0].parent.parent.parent.name.startswith(ids["v2"]), kept
        record = json.loads(kept[0].read_text())
        assert record["metrics"]["pass_rate"]["verdict"] in pass_rate[7] and record["changed"] == changed

        # 6. Two runs picked in the compare pickers (b against a, swapped) compare too.
        expect(page.locator("#evals-run-a input")).to_have_value(re.compile(ids["v1"]))
        pick(page, "evals-run-a", ids["v2"])
        pick(page, "evals-run-b", ids["v1"])
        expect(page.locator("#evals-run-b input")).to_have_value(re.compile(ids["v1"]))
        page.locator("#evals-compare").click()
        expect(summary).to_contain_text(f"a: {ids['v2']} → b: {ids['v1']}", timeout=30_000)
        params = dict(zip(column(page, "evals-params", 0), column(page, "evals-params", 1), strict=True))
        assert params["prompt_version"] == "v2"
        swapped = [column(page, "evals-compare-stats", i)[0] for i in (1, 2)]
        assert swapped == pass_rate[2:0:-1]  # run a's and run b's pass rates trade places
        page.screenshot(path=str(tmp_path / "evals.png"), full_page=True)
        page.close()
    finally:
        server.stop()


def test_the_evals_pickers_are_ready_while_mlflow_loads_then_its_runs_follow(browser, tmp_path):
    """The suite's pickers come at once; the MLflow run pickers when MLflow has loaded (in the background after
    start). The seconds each takes are measured by bench/startup.py, not asserted here."""
    from playwright.sync_api import expect

    server = extractive_server(tmp_path / "home")
    try:
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")
        page.get_by_role("tab", name="Evals").click()
        expect(page.locator("#evals-description")).to_contain_text("recall@k", timeout=30_000)
        expect(page.locator("#evals-prompt-versions")).to_contain_text("v2")
        mlflow_line = page.locator("#evals-mlflow")
        expect(mlflow_line).to_contain_text(re.compile(r"Loading MLflow|127\.0\.0\.1:5000"))
        expect(mlflow_line).to_contain_text("http://127.0.0.1:5000", timeout=60_000)
        page.close()
    finally:
        server.stop()

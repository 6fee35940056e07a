"""A real browser (Debian's Chromium driven by Playwright) opens runs' traces: a synthetic run written to the
server's run log, the run of a chat turn asked in the Chat tab (through the answer's "trace" link), and a run opened
in the Runs tab, whose list shows the roll-ups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import Server, column, pick, running_server
from workbench.runlog import RunLog, RunRecord
from workbench.runlog.schema import SpanRecord
from workbench.ui.runs_view import RUN_COLUMNS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

RUN = "trace-demo-1"
TRACE = "cd" * 16
ROOT, NODE, LLM, SEARCH, TOOL = (f"{i:016x}" for i in range(1, 6))
HOSTILE = "<img src=x onerror=\"document.title='owned'\">"


def _span(span_id: str, parent: str | None, name: str, kind: str, start: float, end: float, **attributes):
    t0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    return SpanRecord(
        RUN, span_id, TRACE, parent, name, kind, t0 + timedelta(milliseconds=start),
        t0 + timedelta(milliseconds=end), end - start, "ok", None, attributes or None,
    )  # fmt: skip


def write_demo_run(path) -> None:
    """A chat run: a node that retrieves, then calls the model, while a tool runs beside the model call."""
    started = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    documents = [{"id": "d1", "source": "docs/ports.md", "score": 0.8123, "dense_score": 0.7, "sparse_score": 0.4,
                  "text": "The server listens on port 8000."}]  # fmt: skip
    with RunLog(path, journal=False) as runlog:
        runlog.log_run(RunRecord(RUN, "chat", status="ok", started_at=started,
                                 ended_at=started + timedelta(seconds=1), model="fake/demo"))  # fmt: skip
        runlog.log_records([
            _span(ROOT, None, "chat", "run", 0, 1000),
            _span(NODE, ROOT, "generate", "node", 5, 995),
            _span(SEARCH, NODE, "retrieve", "retrieval", 10, 200, **{
                "gen_ai.retrieval.query.text": "which port?", "gen_ai.retrieval.documents": json.dumps(documents),
            }),
            _span(LLM, NODE, "chat fake/demo", "llm", 210, 990, **{
                "gen_ai.request.model": "fake/demo",
                "gen_ai.system_instructions": "Answer from the passages.",
                "gen_ai.input.messages": json.dumps([{"role": "user", "content": f"Which port? {HOSTILE}"}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "Port 8000 [1]."}]),
                "gen_ai.usage.input_tokens": 42, "gen_ai.usage.output_tokens": 5,
                "gen_ai.response.time_to_first_chunk": 0.125, "gen_ai.response.finish_reasons": ["stop"],
                "workbench.custom.note": HOSTILE,
            }),
            _span(TOOL, NODE, "lookup", "tool", 220, 400, **{
                "gen_ai.tool.name": "lookup", "gen_ai.tool.call.arguments": '{"q": "port"}',
            }),
        ])  # fmt: skip
        runlog.flush()


@pytest.fixture(scope="module")
def trace_server(tmp_path_factory) -> Iterator[Server]:
    """A server whose run log holds the demo run, answering chat turns with a fast streaming fake model."""
    home = tmp_path_factory.mktemp("home")
    write_demo_run(home / "runs.duckdb")
    with running_server(home, WORKBENCH_LLM="fake/stream") as server:
        yield server


def rows(page) -> list[str]:
    return page.locator("#trace-rows .span-row").evaluate_all("rows => rows.map(r => r.dataset.spanId)")


def test_the_trace_page_draws_the_tree_marks_the_critical_path_and_shows_the_llm_calls_prompt(browser, trace_server):
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(f"{trace_server.url}/runs/{RUN}/trace", wait_until="load")
    page.wait_for_selector("html[data-trace-state=ready]", timeout=20_000)
    assert rows(page) == [ROOT, NODE, SEARCH, LLM, TOOL]  # depth first, each level by start
    critical = page.locator(".span-row.critical").evaluate_all("rows => rows.map(r => r.dataset.spanId)")
    assert critical == [ROOT, NODE, SEARCH, LLM]  # the tool ran while the model did
    assert page.locator(".span-bar.critical").count() == 4 and page.locator(".legend-critical").is_visible()
    summary = page.locator("#trace-summary").inner_text()
    assert "chat" in summary and "42 / 5" in summary
    expect(page.locator("#span-detail h2")).to_have_text("chat")  # the root is selected first

    page.locator(f".span-row[data-span-id='{LLM}']").click()
    expect(page.locator("#span-prompt")).to_contain_text(f"Which port? {HOSTILE}")  # the markup shown as text
    expect(page.locator("#span-prompt")).to_contain_text("Answer from the passages.")
    expect(page.locator("#span-completion")).to_contain_text("Port 8000 [1].")
    llm = page.locator("#span-llm").inner_text()
    assert "fake/demo" in llm and "125 ms" in llm and "stop" in llm
    expect(page.locator("#span-attributes")).to_contain_text("workbench.custom.note")
    assert page.locator("#span-detail img").count() == 0 and page.title() != "owned"
    assert f"span={LLM}" in page.url

    page.locator(f".span-row[data-span-id='{SEARCH}']").click()
    expect(page.locator("#span-documents")).to_contain_text("docs/ports.md")
    expect(page.locator("#span-documents")).to_contain_text("score 0.812")

    page.locator(f".span-row[data-span-id='{ROOT}'] .span-toggle").click()
    assert rows(page) == [ROOT]  # collapsed
    page.goto(f"{trace_server.url}/runs/{RUN}/trace?span={TOOL}", wait_until="load")
    page.wait_for_selector("html[data-trace-state=ready]", timeout=20_000)
    expect(page.locator("#span-tool")).to_contain_text("lookup")
    page.close()


def test_a_chat_answers_trace_link_opens_its_trace_with_the_llm_calls_prompt_and_completion(browser, trace_server):
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(trace_server.url + "/", wait_until="load")
    expect(page.locator("#chat-model input")).to_have_value("fake/stream", timeout=30_000)  # not auto's local model
    page.locator("#chat-input textarea").fill("Which port does the workbench server listen on by default?")
    page.locator("#chat-send").click()
    page.locator("#chat-status").get_by_text("Answered by").wait_for(timeout=120_000)
    link = page.locator("#chat-status a", has_text="trace")
    assert (link.get_attribute("href") or "").endswith("/trace")
    with page.context.expect_page() as opened:
        link.click()
    trace = opened.value
    trace.wait_for_selector("html[data-trace-state=ready]", timeout=20_000)
    assert trace.locator(".span-row.critical").count() >= 2  # the run and what it waited for
    trace.locator(".span-row[data-kind=llm]").first.click()
    expect(trace.locator("#span-prompt")).to_contain_text("Which port does the workbench server listen on")
    answer = page.locator("#chatbot .message-row").last.inner_text()
    completion = trace.locator("#span-completion .message-content").first.inner_text()
    assert completion.strip() and completion.strip() in answer
    trace.close()
    page.close()


def test_the_runs_tab_lists_roll_ups_sorts_by_them_and_links_an_opened_run_to_its_trace(browser, trace_server):
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(trace_server.url + "/", wait_until="load")
    page.get_by_role("tab", name="Runs").click()
    expect(page.locator("#runs-table")).to_contain_text(RUN[:8], timeout=30_000)
    pick(page, "runs-sort", "LLM time")
    expect(page.locator("#runs-list-status")).to_contain_text("run(s)")
    ids = column(page, "runs-table", RUN_COLUMNS.index("run id"))
    demo = ids.index(RUN[:8])
    assert column(page, "runs-table", RUN_COLUMNS.index("LLM (ms)"))[demo] == "780"
    assert column(page, "runs-table", RUN_COLUMNS.index("retrieval (ms)"))[demo] == "190"
    assert column(page, "runs-table", RUN_COLUMNS.index("spans"))[demo] == "5"
    page.locator("#runs-least-ms input").fill("100000")
    page.locator("#runs-least-ms input").press("Enter")
    expect(page.locator("#runs-list-status")).to_contain_text("No runs match")

    page.locator("#runs-id textarea, #runs-id input").first.fill(RUN)
    page.locator("#runs-open").click()
    link = page.locator("#runs-detail a", has_text="Open trace")
    expect(link).to_have_attribute("href", f"/runs/{RUN}/trace", timeout=15_000)
    with page.context.expect_page() as opened:
        link.click()
    trace = opened.value
    trace.wait_for_selector("html[data-trace-state=ready]", timeout=20_000)
    assert trace.locator(".span-row.critical").count() == 4
    trace.close()
    page.close()

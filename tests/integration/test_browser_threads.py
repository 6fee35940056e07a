"""A real browser (Debian's Chromium driven by Playwright) in the Threads tab of a real server on the extractive
baseline: a session asked over /ws/chat shows its checkpoints; forked before its retrieval with another question,
it runs on to another answer shown beside the original's. An agent turn that stops on an ``interrupt`` is in the
inbox with its question, and approving it there finishes the turn."""

from __future__ import annotations

import json
import re

import pytest
from websockets.sync.client import connect

from tests.integration.conftest import column, pick, running_server
from tests.unit.test_ui_threads import APPROVAL

pytestmark = [pytest.mark.integration, pytest.mark.browser]

QUESTION = "Which port does the workbench server listen on by default?"
OTHER = "Which voices can the voice assistant speak with?"


def until(ws, kind: str) -> list[dict]:
    """Messages of the socket up to (and with) the first of type ``kind``."""
    messages = []
    while True:
        message = json.loads(ws.recv(timeout=120))
        messages.append(message)
        if message.get("type") == kind:
            return messages
        assert message.get("type") != "error", message


def test_a_session_forked_before_its_retrieval_with_another_question_answers_otherwise(browser, tmp_path):
    from playwright.sync_api import expect

    with running_server(tmp_path, WORKBENCH_LLM="extractive") as server:
        with connect(f"{server.ws_url}/ws/chat") as ws:
            ws.send(json.dumps({"type": "user_message", "content": QUESTION, "session_id": "thread-a"}))
            until(ws, "done")
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")
        page.get_by_role("tab", name="Threads", exact=True).click()
        expect(page.locator("#threads-list")).to_contain_text("thread-a", timeout=30_000)
        expect(page.locator("#threads-list")).to_contain_text("Which port")
        pick(page, "threads-session", "thread-a")
        timeline = page.locator("#threads-timeline")
        expect(timeline).to_contain_text("retrieve", timeout=30_000)
        assert column(page, "threads-timeline", 1)[:3] == ["generate", "retrieve", "__start__"]
        expect(timeline.locator("a[href*='/runs/']").first).to_have_attribute("href", re.compile(r"^/runs/.+/trace$"))

        pick(page, "threads-checkpoint", "step 0 · __start__ → retrieve")
        expect(page.locator("#threads-diff")).to_contain_text("Messages added", timeout=15_000)
        expect(page.locator("#threads-diagram svg").first).to_be_visible(timeout=15_000)  # Mermaid, drawn
        values = page.locator("#threads-fork-values textarea")
        expect(values).to_have_value(re.compile(re.escape(QUESTION)))
        edit = json.loads(values.input_value())
        edit["messages"][0]["content"] = OTHER
        values.fill(json.dumps(edit))
        page.locator("#threads-fork").click()

        status = page.locator("#threads-fork-status")
        expect(status).to_contain_text("Forked as thread-a.fork-", timeout=120_000)
        original = page.locator("#threads-original-answer textarea").input_value()
        forked = page.locator("#threads-fork-answer textarea").input_value()
        assert "8000" in original and forked and "8000" not in forked and forked != original, (original, forked)
        assert status.locator("a[href*='/runs/']").count() == 2, "both runs' traces are linked"
        expect(page.locator("#threads-list")).to_contain_text("thread-a.fork-", timeout=30_000)
        page.screenshot(path=str(tmp_path / "threads.png"), full_page=True)
        assert str(tmp_path) not in page.content()
        page.close()


def test_a_turn_waiting_on_a_human_is_approved_from_the_inbox_and_finishes(browser, tmp_path):
    from playwright.sync_api import expect

    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "approval.yaml").write_text(APPROVAL)
    home = tmp_path / "home"
    home.mkdir()
    env = {"WORKBENCH_LLM": "extractive", "WORKBENCH_MODEL_SMART": "extractive", "WORKBENCH_AGENTS_DIR": str(folder)}
    with running_server(home, **env) as server:
        with connect(f"{server.ws_url}/ws/chat") as ws:
            message = {"type": "user_message", "content": "Release 1.2?", "session_id": "wait-1", "agent": "approval"}
            ws.send(json.dumps(message))
            (stopped,) = [m for m in until(ws, "interrupt") if m["type"] == "interrupt"]
            assert stopped["interrupts"][0]["value"] == {"question": "Ship the release?"}
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")
        page.get_by_role("tab", name="Threads", exact=True).click()
        page.get_by_role("tab", name="Inbox", exact=True).click()
        inbox = page.locator("#threads-inbox")
        expect(inbox).to_contain_text("wait-1", timeout=30_000)
        expect(inbox).to_contain_text("Ship the release?")
        expect(page.locator("#threads-inbox-status")).to_contain_text("1 session(s) waiting")
        expect(page.locator("#threads-inbox-pick input")).to_have_value("approval/wait-1")
        page.locator("#threads-approve").click()

        result = page.locator("#threads-inbox-result")
        expect(result).to_contain_text("Session wait-1 answered", timeout=120_000)
        expect(result.locator("a[href*='/runs/']")).to_have_count(1)
        expect(page.locator("#threads-inbox-status")).to_contain_text("No session waits on a human", timeout=30_000)
        expect(inbox).not_to_contain_text("wait-1")

        page.get_by_role("tab", name="Thread history", exact=True).click()
        pick(page, "threads-graph", "approval")
        expect(page.locator("#threads-list")).to_contain_text("wait-1", timeout=30_000)
        assert column(page, "threads-list", 2) == ["idle"], "the thread no longer waits"
        page.close()

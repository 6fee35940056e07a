"""A real browser (Debian's Chromium driven by Playwright) lists the agent specs in the Agents tab, draws one and
chats with it on the extractive baseline; a broken spec shows its problems by file name and line, never a path of
the server, and cannot be chatted with until it is fixed and reloaded; Stop ends a turn, logged as aborted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import column, running_server

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Which port does the workbench server listen on by default?"


def pick(page, agent: str) -> None:
    """Choose `agent` in the tab's agent picker."""
    field = page.locator("#agents-select input")
    field.click()
    page.locator("#agents-select").get_by_role("option", name=agent, exact=True).click()
    page.keyboard.press("Escape")


def test_agents_tab_lists_the_specs_draws_rag_chat_and_chats_with_it(browser, tmp_path):
    from playwright.sync_api import expect

    with running_server(tmp_path, WORKBENCH_LLM="extractive") as server:
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")
        page.get_by_role("tab", name="Agents").click()
        listing = page.locator("#agents-list")
        for name in ("rag_chat", "research_loop", "calculator"):
            expect(listing).to_contain_text(name, timeout=30_000)
        expect(listing).to_contain_text("rag-chat.yaml")

        pick(page, "rag_chat")
        drawing = page.locator("#agents-drawing")
        expect(drawing).to_contain_text("retrieve", timeout=30_000)
        expect(drawing).to_contain_text("decide")
        expect(page.locator("#agents-diagram svg").first).to_be_visible(timeout=15_000)  # Mermaid, drawn
        expect(page.locator("#agents-problems")).to_contain_text("validates")
        expect(page.locator("#agents-status")).to_contain_text("New conversation with rag_chat")

        page.locator("#agents-input textarea").fill(QUESTION)
        page.locator("#agents-send").click()
        status = page.locator("#agents-status")
        status.get_by_text("Answered by").wait_for(timeout=120_000)
        answer = page.locator("#agents-chatbot .message-row").last.inner_text()
        assert "8000" in answer, answer
        assert "extractive" in status.inner_text()
        expect(page.locator("#agents-sources")).to_contain_text(".md")

        # Another agent is another conversation.
        pick(page, "calculator")
        expect(page.locator("#agents-chatbot .message-row")).to_have_count(0, timeout=15_000)
        expect(drawing).to_contain_text("solve", timeout=15_000)
        expect(status).to_contain_text("New conversation with calculator")
        page.screenshot(path=str(tmp_path / "agents.png"), full_page=True)
        page.close()


def test_a_broken_spec_shows_its_problems_by_line_without_server_paths_and_cannot_chat(browser, tmp_path):
    from playwright.sync_api import expect

    folder = tmp_path / "specs"
    folder.mkdir()
    calculator = (ROOT / "agents" / "calculator.yaml").read_text()
    broken = calculator.replace("name: calculator", "name: broken").replace("model: smart", "model: nope")
    line = next(i for i, text in enumerate(broken.splitlines(), start=1) if "model: nope" in text)
    (folder / "broken.yaml").write_text(broken)
    home = tmp_path / "home"
    home.mkdir()
    with running_server(home, WORKBENCH_LLM="fake/slow", WORKBENCH_AGENTS_DIR=str(folder)) as server:
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")
        page.get_by_role("tab", name="Agents").click()
        expect(page.locator("#agents-list")).to_contain_text("1 problem(s)", timeout=30_000)
        expect(page.locator("#agents-select input")).to_have_value("broken")
        problems = page.locator("#agents-problems")
        expect(problems).to_contain_text(f"broken.yaml:{line}: node solve: unknown model 'nope'", timeout=15_000)
        expect(page.locator("#agents-drawing")).to_be_hidden()

        page.locator("#agents-input textarea").fill(QUESTION)
        page.locator("#agents-send").click()
        expect(page.locator("#agents-status")).to_contain_text("cannot be chatted with", timeout=15_000)
        assert page.locator("#agents-chatbot .message-row").count() == 0
        assert str(tmp_path) not in page.content(), "a spec's file is named by its file name, never its path"

        # Fixed while the server runs: Reload reads it again, and the agent draws.
        (folder / "broken.yaml").write_text(broken.replace("model: nope", "model: smart"))
        page.locator("#agents-reload").click()
        expect(page.locator("#agents-drawing")).to_contain_text("solve", timeout=30_000)
        expect(page.locator("#agents-list")).to_contain_text("ok")

        # Stop ends a streaming answer; the run log has the agent's run, aborted.
        page.locator("#agents-input textarea").fill(QUESTION)
        page.locator("#agents-send").click()
        expect(page.locator("#agents-chatbot .message-row").last).to_contain_text("word3", timeout=60_000)
        page.locator("#agents-stop").click()
        expect(page.locator("#agents-status")).to_have_text("Stopped.", timeout=15_000)
        page.get_by_role("tab", name="Runs").click()
        page.locator("#runs-refresh").click()
        expect(page.locator("#runs-table")).to_contain_text("aborted", timeout=30_000)
        rows = list(zip(column(page, "runs-table", 2), column(page, "runs-table", 4), strict=True))
        assert ("broken", "aborted") in rows, rows

        content = page.content()
        assert str(tmp_path) not in content and str(ROOT) not in content
        page.close()

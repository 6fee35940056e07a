"""A real browser (Debian's Chromium driven by Playwright) asks the sample corpus a question in the Chat tab."""

from __future__ import annotations

import pytest

from tests.integration.conftest import running_server
from workbench.providers.llm import local_runtime_available

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_chat_tab_streams_a_correct_cited_answer_with_sources_from_the_offline_default(browser, tmp_path):
    """The offline default is the bundled Qwen2.5-Coder-1.5B (setup installs it); it must get the port right. The
    server warms it at start, as it does by default, while the question comes in (both need the model joined)."""
    if not local_runtime_available("qwen2.5-coder-1.5b"):
        pytest.skip("the bundled local/qwen2.5-coder-1.5b is not installed (WORKBENCH_BUNDLED_MODELS=none)")
    with running_server(tmp_path, WORKBENCH_WARM_CHAT="true") as server:
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")
        page.locator("#chat-input textarea").fill("Which port does the workbench server listen on by default?")
        page.locator("#chat-send").click()
        status = page.locator("#chat-status")
        status.get_by_text("Answered by").wait_for(timeout=120_000)
        answer = page.locator("#chatbot .message-row").last.inner_text()
        sources = page.locator("#chat-sources").inner_text()
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
        assert "8000" in answer and not any(port in answer for port in ("9001", "9002", "2124")), answer
        assert "fused" in sources and ".md" in sources
        assert "✅" in sources, "the sources panel marks which chunks the answer cited"
        served_by = status.inner_text()
        assert "local/qwen2.5-coder-1.5b" in served_by

        page.locator("#chat-new-session").click()
        page.get_by_text("New session.").wait_for(timeout=10_000)
        assert page.locator("#chatbot .message-row").count() == 0
        page.close()


def test_with_a_token_the_browser_logs_in_and_the_chat_tab_answers(browser, tmp_path):
    token = "browser-login-token-0123456789"
    with running_server(tmp_path, WORKBENCH_API_TOKEN=token, WORKBENCH_LLM="extractive") as server:
        page = browser.new_page()
        page.goto(server.url + "/", wait_until="load")
        assert "/login" in page.url and token not in page.content()
        page.locator("#token").fill(token)
        page.get_by_role("button", name="Log in").click()
        page.locator("#chat-input textarea").fill("Which port does the workbench server listen on by default?")
        page.locator("#chat-send").click()
        page.locator("#chat-status").get_by_text("Answered by").wait_for(timeout=120_000)
        assert "8000" in page.locator("#chatbot .message-row").last.inner_text(), "the logged-in tab answers"
        page.close()

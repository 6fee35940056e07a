"""A bundled model reads its fixed instructions once: over /ws/chat on a real server, the second turn of a session
finds the system message in llama.cpp's cache (the run's trace says how many prompt tokens were read from it), and
a model warmed at start finds it there on its first turn. Run on the smallest bundled model, which answers fast."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from websockets.sync.client import connect

from graphs.chat_prompts import ANSWER_PROMPTS, DEFAULT_VERSION, prompt_messages
from tests.integration.conftest import running_server, validate_chat_message
from tests.servers import wait_for_run
from workbench.citations import format_passages
from workbench.providers.llm import local_runtime_available
from workbench.resources import Resources
from workbench.runlog.queries import get_trace
from workbench.settings import Settings
from workbench.turns.chat import warm_chat_model

pytestmark = pytest.mark.integration

MODEL = "local/smollm2-135m"
CACHED = "gen_ai.usage.cache_read.input_tokens"


@pytest.fixture(autouse=True)
def bundled_model() -> None:
    if not local_runtime_available("smollm2-135m"):
        pytest.skip("the bundled local/smollm2-135m is not installed")


def system_tokens() -> int:
    """Tokens of the default prompt's fixed system message, by the model's own tokenizer."""
    model = Resources(Settings(_env_file=None)).models.choose(MODEL).model
    return int(model.count_tokens(ANSWER_PROMPTS[DEFAULT_VERSION].template))  # type: ignore[attr-defined]


def turn(ws_url: str, session: str, question: str) -> dict[str, Any]:
    with connect(f"{ws_url}/ws/chat", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "user_message", "content": question, "session_id": session, "model": MODEL}))
        while True:
            message = json.loads(ws.recv(timeout=180))
            validate_chat_message(message)
            if message.get("type") == "done":
                return message


def llm_usage(home: Path, run_id: str, timeout: float = 30) -> dict[str, int]:
    """Prompt tokens and cached prompt tokens of the run's answering model call, from its trace."""
    deadline = time.monotonic() + timeout
    while True:
        trace = get_trace(home / "runs.duckdb", run_id) or {"spans": []}
        calls = [s for s in trace["spans"] if s["kind"] == "llm" and s["status"] != "running"]
        if calls:
            attributes = calls[-1]["attributes"]
            return {"input": attributes["gen_ai.usage.input_tokens"], "cached": attributes[CACHED]}
        assert time.monotonic() < deadline, f"run {run_id} has no finished model call in its trace"
        time.sleep(0.3)


def test_the_second_turn_of_a_session_reads_the_fixed_instructions_from_the_cache(tmp_path):
    fixed = system_tokens()
    with running_server(tmp_path, WORKBENCH_LLM=MODEL, WORKBENCH_WARM_CHAT="false") as server:
        first = turn(server.ws_url, "cache-1", "Which port does the workbench server listen on by default?")
        second = turn(server.ws_url, "cache-1", "Which folder holds the run log?")
        assert first["status"] == second["status"] == "ok"
        one = llm_usage(server.home, first["run_id"])
        two = llm_usage(server.home, second["run_id"])
        assert wait_for_run(server.home, second["run_id"])["status"] == "ok"
    assert one["cached"] < fixed, f"a cold model reads its instructions on the first turn: {one}"
    assert two["cached"] >= fixed, f"the second turn finds its {fixed} instruction tokens in the cache: {two}"
    assert two["input"] - two["cached"] < two["input"] - fixed + 1, "and reads only the rest"


def test_a_warmed_model_finds_its_instructions_cached_on_its_first_turn(tmp_path):
    resources = Resources(Settings(_env_file=None, home=tmp_path, llm=MODEL, warm_chat=False))
    model = resources.models.choose(MODEL).model
    prompt = ANSWER_PROMPTS[DEFAULT_VERSION]
    context = format_passages([(1, "The server listens on port 8000 by default.")])
    asked = prompt_messages(prompt, prompt.render(context=context), [HumanMessage("Which port?")], context)

    model.invoke([HumanMessage("Say hello.")])  # the cache now holds another prompt
    cold = model.invoke(asked).usage_metadata
    model.invoke([HumanMessage("Say hello.")])
    assert warm_chat_model(resources) is not None
    warmed = model.invoke(asked).usage_metadata
    assert cold is not None and warmed is not None
    fixed = system_tokens()
    assert cold["input_token_details"]["cache_read"] < fixed, cold
    assert warmed["input_token_details"]["cache_read"] >= fixed, warmed
    assert warmed["input_tokens"] == cold["input_tokens"], "the same prompt, only less of it read"


def test_a_warmed_model_finds_its_instructions_again_after_another_prompt_replaced_them(tmp_path):
    """A query rewrite (or any other prompt) between two turns evaluates its own tokens over the instructions; the
    state saved at warm-up is put back, so the next turn still reads only its passages and question."""
    resources = Resources(Settings(_env_file=None, home=tmp_path, llm=MODEL, warm_chat=False))
    model = resources.models.choose(MODEL).model
    prompt = ANSWER_PROMPTS[DEFAULT_VERSION]
    context = format_passages([(1, "The server listens on port 8000 by default.")])
    asked = prompt_messages(prompt, prompt.render(context=context), [HumanMessage("Which port?")], context)
    assert warm_chat_model(resources) is not None

    other = model.invoke([HumanMessage("Rewrite as a search query: which port?")]).usage_metadata
    after = model.invoke(asked).usage_metadata
    assert other is not None and after is not None
    fixed = system_tokens()
    assert other["input_token_details"]["cache_read"] < fixed, "the other prompt shares none of the instructions"
    assert after["input_token_details"]["cache_read"] >= fixed, after
    answer = model.invoke(asked)
    assert str(answer.content).strip(), "the restored state answers like a freshly read one"

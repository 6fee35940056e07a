"""A streamed voice turn's reply is begun at the user's pause, before the silence has ended the turn. On a bundled
model: the call that asks for the reply goes on from what was generated ahead (the text greedy decoding gives
without it), a call on other words does not use it, a halted one keeps nothing; over a real socket, a streamed
question's ``done`` reports the seconds the model spent on its reply ahead of the end of the turn."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from websockets.sync.client import connect

from tests.integration.conftest import running_server, validate_assistant_message
from tests.microphone import Microphone, final, is_done, silence
from workbench.providers.llm import local_runtime_available
from workbench.resources import Resources
from workbench.settings import Settings
from workbench.voice.audio import decode_audio
from workbench.voice.tts import build_tts, synthesize

pytestmark = pytest.mark.integration

MODEL = "local/smollm2-135m"
SYSTEM = SystemMessage("You are a friendly voice assistant. Answer in one or two short sentences.")
CAPITAL = [SYSTEM, HumanMessage("What is the capital of France?")]
EGG = [SYSTEM, HumanMessage("How long should I boil an egg?")]


@pytest.fixture(autouse=True)
def bundled_model() -> None:
    if not local_runtime_available("smollm2-135m"):
        pytest.skip("the bundled local/smollm2-135m is not installed")


@pytest.fixture(scope="module")
def greedy():
    chosen = Resources(Settings(_env_file=None)).models.choose(MODEL).model
    return chosen.model_copy(update={"temperature": 0.0, "max_tokens": 60})


def test_the_reply_goes_on_from_what_was_begun_ahead(greedy):
    fresh = greedy.invoke(CAPITAL)
    greedy.invoke(EGG)  # the context now holds another prompt
    begun = greedy.think_ahead(CAPITAL, threading.Event())
    assert begun > 0

    reply = greedy.invoke(CAPITAL)

    assert reply.content == fresh.content
    assert reply.response_metadata["ahead_tokens"] == begun and reply.response_metadata["ahead_s"] > 0
    usage = reply.usage_metadata
    assert usage is not None and usage["input_token_details"]["cache_read"] == usage["input_tokens"]


def test_a_call_on_other_words_does_not_use_it(greedy):
    fresh = greedy.invoke(EGG)
    assert greedy.think_ahead(CAPITAL, threading.Event()) > 0

    other = greedy.invoke(EGG)

    assert other.content == fresh.content and "ahead_tokens" not in other.response_metadata
    assert "ahead_tokens" not in greedy.invoke(CAPITAL).response_metadata, "the call on other words dropped it"


def test_a_reply_begun_ahead_keeps_to_the_reply_length(greedy):
    short = greedy.model_copy(update={"max_tokens": 3})
    assert 0 < short.think_ahead(CAPITAL, threading.Event()) <= 3
    reply = short.invoke(CAPITAL)
    assert reply.response_metadata["ahead_tokens"] <= 3 and reply.usage_metadata["output_tokens"] <= 3


def test_a_halted_reply_is_not_kept(greedy):
    halt = threading.Event()
    halt.set()
    assert greedy.think_ahead(CAPITAL, halt) == 0
    assert "ahead_tokens" not in greedy.invoke(CAPITAL).response_metadata


def test_a_streamed_question_is_answered_from_a_reply_begun_at_its_pause(tmp_path):
    spoken = synthesize(build_tts("piper/joe-us", Settings()), "What is the capital of France?").audio
    question = decode_audio(spoken, "wav", max_bytes=len(spoken), max_seconds=30).samples
    with (
        running_server(tmp_path, WORKBENCH_LLM=MODEL) as server,
        connect(f"{server.ws_url}/ws/assistant?session_id=ahead", max_size=None) as ws,
    ):
        mic = Microphone(ws, validate_assistant_message)
        # A second of silence ends the turn: time for the pause's transcript on a busy machine, so that the reply
        # is always begun before the turn ends (by default 0.5 s, which a loaded test run can overrun).
        mic.start(turn_end_silence_ms=1000)
        mic.play(np.concatenate([silence(0.5), question, silence(2.5)]))
        messages = [m for _, m in mic.until(is_done)]
        mic.wait()
    assert [m["text"] for m in messages if final(m)] == ["What is the capital of France?"]
    done = messages[-1]
    assert done["status"] == "ok" and done["reply"]
    assert done["timings"]["llm_ahead_s"] > 0, done["timings"]
    assert any(m.get("type") == "audio_chunk" for m in messages)

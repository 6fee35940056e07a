"""Turns of a streamed microphone through VoiceService: a transcript made while the user spoke is reported as the
turn's transcription, and a reply the user spoke over stays in the history as far as it was heard, logged as
interrupted."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from workbench.events import TokenEvent, TranscriptionEvent, VoiceDoneEvent
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog, RunLogCallback, get_run
from workbench.runtime import LocalRuntime
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, flushed
from workbench.testing_speech import FakeSpeech, FakeTTS
from workbench.turns.voice import VoiceService, VoiceTurn
from workbench.voice.streaming import Utterance

REPLY = "Once upon a time. There was a fox. The end."
HEARD = Utterance("Tell me a story.", "local/tiny.en", "en", audio_s=1.5, stt_s=0.4, transcript_s=0.2)


@pytest.fixture
def service(tmp_path) -> Any:
    from langgraph.checkpoint.memory import InMemorySaver

    settings = Settings(home=tmp_path, llm="fake")
    model = ScriptedChatModel(default=REPLY, token_delay_s=0.02)
    resources = Resources(
        settings, speech=FakeSpeech(settings, tts=FakeTTS()), models=ModelRegistry(settings, {"fake": model})
    )
    runlog = RunLog(tmp_path / "runs.duckdb")
    yield VoiceService(resources, LocalRuntime(InMemorySaver(), resources=resources), RunLogCallback(runlog)), runlog
    runlog.close()


def row(runlog: RunLog, run_id: str) -> dict[str, Any]:
    assert flushed(runlog)
    found = get_run(runlog, run_id)
    assert found is not None
    return found


async def test_a_streamed_turn_reports_its_transcript_as_heard(service):
    voice, runlog = service
    run_id = str(uuid.uuid4())
    events = [e async for e in voice.stream(VoiceTurn("s", text=HEARD.text, heard=HEARD, speak=False), run_id)]
    transcription = [e for e in events if isinstance(e, TranscriptionEvent)]
    assert [(t.text, t.model, t.duration_s) for t in transcription] == [("Tell me a story.", "local/tiny.en", 1.5)]
    assert events.index(transcription[0]) < next(i for i, e in enumerate(events) if isinstance(e, TokenEvent))
    done = events[-1]
    assert isinstance(done, VoiceDoneEvent) and done.models["stt"] == "local/tiny.en"
    assert (done.timings["audio_s"], done.timings["stt_s"], done.timings["transcript_s"]) == (1.5, 0.4, 0.2)
    logged = row(runlog, run_id)
    assert logged["input"] == "Tell me a story." and logged["metadata"]["stt_model"] == "local/tiny.en"


async def test_the_next_turn_keeps_only_what_was_heard_of_an_interrupted_reply(service):
    voice, runlog = service
    stopped_id = str(uuid.uuid4())
    first_token = asyncio.Event()

    async def consume() -> None:
        async for event in voice.stream(VoiceTurn("s", text=HEARD.text, heard=HEARD, speak=False), stopped_id):
            if isinstance(event, TokenEvent):
                first_token.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_token.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await voice.settle(VoiceTurn("s", text=HEARD.text), stopped_id, "interrupted")
    assert row(runlog, stopped_id)["status"] == "interrupted"

    interrupted = {"transcript": HEARD.text, "spoken": "Once upon a time."}
    events = [
        e async for e in voice.stream(VoiceTurn("s", text="A shorter one?", interrupted=interrupted, speak=False))
    ]
    assert events[-1].status == "ok"
    history = await voice.history("s")
    assert [(type(m), m.content) for m in history] == [
        (HumanMessage, "Tell me a story."),
        (AIMessage, "Once upon a time."),
        (HumanMessage, "A shorter one?"),
        (AIMessage, REPLY),
    ]
    assert history[1].response_metadata == {"interrupted": True}


async def test_an_interrupted_turn_that_was_never_saved_is_kept_whole(service):
    voice, _ = service
    interrupted = {"transcript": "What time is it?", "spoken": ""}
    turn = VoiceTurn("t", text="Hello.", interrupted=interrupted, speak=False)
    assert [e async for e in voice.stream(turn)][-1].status == "ok"
    history = await voice.history("t")
    assert [m.content for m in history][:2] == ["What time is it?", "Hello."], "nothing of its reply was heard"

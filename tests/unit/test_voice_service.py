"""VoiceService over an in-memory checkpointer with fake engines: the event stream, busy sessions, bad audio."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from workbench.events import Event, PublicDocument, TokenEvent, VoiceDoneEvent
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog, RunLogCallback, get_run
from workbench.runtime import LocalRuntime, SessionBusy
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, flushed
from workbench.testing_speech import FakeSpeech, FakeSTT, FakeTTS
from workbench.turns.voice import VoiceService, VoiceTurn
from workbench.voice.audio import AudioError, decode_audio, wav_bytes

REPLY = "It is sunny. Take a hat."


class Setup:
    def __init__(self, tmp_path: Any, token_delay_s: float = 0.0) -> None:
        self.settings = Settings(home=tmp_path, llm="fake")
        self.model = ScriptedChatModel(default=REPLY, token_delay_s=token_delay_s)
        self.speech = FakeSpeech(self.settings, stt=FakeSTT("Will it rain?"), tts=FakeTTS())
        self.resources = Resources(
            self.settings, speech=self.speech, models=ModelRegistry(self.settings, {"fake": self.model})
        )
        self.runlog = RunLog(tmp_path / "runs.duckdb")
        runtime = LocalRuntime(InMemorySaver(), resources=self.resources)
        self.service = VoiceService(self.resources, runtime, RunLogCallback(self.runlog))

    async def events(self, turn: VoiceTurn, run_id: str | None = None) -> list[Any]:
        return [event async for event in self.service.stream(turn, run_id)]

    def row(self, run_id: str) -> dict[str, Any]:
        assert flushed(self.runlog)
        row = get_run(self.runlog, run_id)
        assert row is not None
        return row


@pytest.fixture
def setup(tmp_path) -> Iterator[Setup]:
    ready = Setup(tmp_path)
    yield ready
    ready.runlog.close()


def recording(seconds: float = 0.5) -> bytes:
    t = np.arange(int(16_000 * seconds)) / 16_000
    return wav_bytes(0.2 * np.sin(2 * np.pi * 220 * t), 16_000)


def kind(event: Event) -> str:
    """The event's protocol type (a token's is ``token``; it goes out without one)."""
    return "token" if isinstance(event, TokenEvent) else str(event.type)  # type: ignore[attr-defined]


def kinds(events: list[Any]) -> list[str]:
    out: list[str] = []
    for event in events:
        if not out or out[-1] != kind(event):
            out.append(kind(event))
    return out


async def test_an_audio_turn_ends_with_the_whole_audio_then_done(setup):
    run_id = str(uuid.uuid4())
    turn = VoiceTurn("s1", audio=recording(), audio_format="wav", entry_point="ws", pipeline=False)
    events = await setup.events(turn, run_id)

    assert kinds(events) == ["transcription", "token", "response", "audio_chunk", "audio", "done"]
    assert "".join(e.content for e in events if kind(e) == "token") == REPLY
    chunks = [e for e in events if kind(e) == "audio_chunk"]
    assert [c.text for c in chunks] == ["It is sunny.", "Take a hat."]
    audio, done = events[-2:]
    assert audio.format == "wav"
    speech = decode_audio(base64.b64decode(audio.data), "wav", max_bytes=10**8, max_seconds=60)
    assert speech.duration_s == pytest.approx(0.05 * len(REPLY.split()), abs=1e-3)
    assert (done.run_id, done.status, done.session_id) == (run_id, "ok", "s1")
    assert (done.transcript, done.reply) == ("Will it rain?", REPLY)
    assert {"stt_s", "llm_s", "tts_s", "first_audio_s", "total_s"} <= set(done.timings)
    assert done.models == {"stt": "fake/stt", "llm": "fake", "tts": "fake/tts", "persona": "assistant"}
    assert done.notes == []

    row = setup.row(run_id)
    assert (row["graph"], row["entry_point"], row["session_id"], row["status"]) == ("voice", "ws", "s1", "ok")
    history = await setup.service.history("s1")
    assert [(type(m), m.content) for m in history] == [(HumanMessage, "Will it rain?"), (AIMessage, REPLY)]


async def test_a_pipelined_turn_may_speak_before_the_response_but_still_ends_with_audio_then_done(setup):
    setup.model.token_delay_s = 0.05
    events = await setup.events(VoiceTurn("s1", audio=recording()))  # pipelined by default

    types = [kind(e) for e in events]
    assert types[0] == "transcription" and types[-2:] == ["audio", "done"]
    assert types.index("audio_chunk") < len(types) - 1 - types[::-1].index("token")  # spoken while writing
    assert [e.index for e in events if kind(e) == "audio_chunk"] == [0, 1]
    assert events[-1].timings["first_audio_s"] < events[-1].timings["total_s"]


async def test_a_text_turn_without_speech_ends_with_done_and_no_audio(setup):
    events = await setup.events(VoiceTurn("s1", text="Hello", speak=False))
    assert kinds(events) == ["token", "response", "done"]
    assert setup.speech.fake_stt.calls == [] and setup.speech.fake_tts.spoken == []
    done = events[-1]
    assert (done.transcript, done.reply) == ("Hello", REPLY)
    uuid.UUID(done.run_id)  # a run id is made up when none is given


async def test_a_grounded_turn_sends_public_documents_with_the_run_id(setup):
    docs = [
        {"chunk_id": "c1", "source": "/d/a.md", "title": "A", "section": None, "page": None, "text": "Port 8000.",
         "score": 0.9, "dense_score": 0.8, "sparse_score": 1.0, "internal": "dropped"},
    ]  # fmt: skip

    class Store:
        def search(self, collection: str, query: str, k: int = 5, **kw: Any) -> list[dict[str, Any]]:
            return docs

    setup.resources._store = Store()
    run_id = str(uuid.uuid4())
    events = await setup.events(VoiceTurn("s1", text="Which port?", persona="docs-guide", speak=False), run_id)
    (retrieval,) = [e for e in events if kind(e) == "retrieval"]
    assert retrieval.run_id == run_id and retrieval.query == "Which port?"
    assert retrieval.documents == [PublicDocument.of(docs[0])]  # type: ignore[arg-type]
    assert retrieval.documents[0].source == "a.md" and "internal" not in retrieval.documents[0].model_dump()


async def test_a_second_turn_on_a_busy_session_is_refused(tmp_path):
    setup = Setup(tmp_path, token_delay_s=0.05)
    try:
        first = setup.service.stream(VoiceTurn("s1", text="first", speak=False))
        assert kind(await anext(first)) == "token"  # the first turn is running

        with pytest.raises(SessionBusy):
            await anext(setup.service.stream(VoiceTurn("s1", text="second", speak=False)))
        other = await setup.events(VoiceTurn("s2", text="elsewhere", speak=False))  # other sessions run meanwhile
        assert kind(other[-1]) == "done"

        rest = [event async for event in first]
        assert isinstance(rest[-1], VoiceDoneEvent) and rest[-1].reply == REPLY
        again = await setup.events(VoiceTurn("s1", text="second", speak=False))  # free again once it finished
        assert again[-1].reply == REPLY
        assert [m.content for m in await setup.service.history("s1")] == ["first", REPLY, "second", REPLY]
    finally:
        setup.runlog.close()


async def test_concurrent_turns_on_one_session_run_one_at_a_time(setup):
    async def turn(text: str) -> str:
        try:
            events = await setup.events(VoiceTurn("s1", text=text, speak=False))
        except SessionBusy:
            return "busy"
        return kind(events[-1])

    results = await asyncio.gather(turn("a"), turn("b"))
    assert sorted(results) == ["busy", "done"]
    assert len(await setup.service.history("s1")) == 2


@pytest.mark.parametrize(
    ("audio", "declared", "code"),
    [
        (b"this is not audio", None, "invalid_audio"),
        (b"", None, "empty_audio"),
        (recording(), "mp3", "audio_format_mismatch"),
    ],
)
async def test_bad_audio_raises_its_code_and_the_session_works_after(setup, audio, declared, code):
    run_id = str(uuid.uuid4())
    with pytest.raises(AudioError) as caught:
        await setup.events(VoiceTurn("s1", audio=audio, audio_format=declared), run_id)
    assert caught.value.code == code
    assert setup.row(run_id)["status"] == "error"

    events = await setup.events(VoiceTurn("s1", text="Are you there?"))
    assert kind(events[-1]) == "done" and events[-1].transcript == "Are you there?"
    assert [m.content for m in await setup.service.history("s1")] == ["Are you there?", REPLY]

    events = await setup.events(VoiceTurn("s1", audio=recording()))
    assert events[-1].transcript == "Will it rain?"


async def test_no_speech_is_an_audio_error(setup):
    setup.speech.fake_stt.text = ""
    with pytest.raises(AudioError) as caught:
        await setup.events(VoiceTurn("s1", audio=recording()))
    assert caught.value.code == "no_speech"
    assert await setup.service.history("s1") == []


async def test_a_turn_past_max_generation_s_times_out_and_is_logged(tmp_path):
    setup = Setup(tmp_path, token_delay_s=0.1)
    setup.service.settings = setup.settings.model_copy(update={"max_generation_s": 0.3})
    run_id = str(uuid.uuid4())
    try:
        with pytest.raises(TimeoutError):
            await setup.events(VoiceTurn("s1", text="slow", speak=False), run_id)
        row = setup.row(run_id)
        assert (row["status"], row["error"]) == ("error", "timed out")
    finally:
        setup.runlog.close()


async def test_a_turn_cancelled_after_the_reply_leaves_no_speaker_behind(tmp_path, monkeypatch):
    """Cancelled between respond (which starts the speaker) and synthesize (which takes it): nothing keeps talking."""
    from graphs.voice import SPEAKERS

    monkeypatch.setattr(SPEAKERS, "take", lambda turn_id: None)  # hold respond's speaker as if not yet taken
    setup = Setup(tmp_path)
    setup.speech.fake_tts = FakeTTS(delay_s=0.3)
    replied = asyncio.Event()

    async def consume() -> None:
        async for event in setup.service.stream(VoiceTurn("s1", text="hi", pipeline=True)):
            if kind(event) == "response":  # then it waits on speech that takes 0.3 s a sentence
                replied.set()

    try:
        task = asyncio.create_task(consume())
        await asyncio.wait_for(replied.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert SPEAKERS._open == {}
    finally:
        setup.runlog.close()


async def test_an_aborted_turn_names_the_model_a_finished_turn_names(tmp_path):
    setup = Setup(tmp_path, token_delay_s=0.05)
    ok_id, aborted_id = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        await setup.events(VoiceTurn("s1", text="hi", speak=False), ok_id)
        first_token = asyncio.Event()

        async def consume() -> None:
            async for event in setup.service.stream(VoiceTurn("s2", text="hi", speak=False), aborted_id):
                if kind(event) == "token":
                    first_token.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first_token.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await setup.service.settle(VoiceTurn("s2", text="hi"), aborted_id)
        ok, aborted = setup.row(ok_id), setup.row(aborted_id)
        assert (ok["status"], aborted["status"]) == ("ok", "aborted")
        assert ok["model"] == aborted["model"] == "fake"
        assert aborted["output"] and REPLY.startswith(aborted["output"].strip())
    finally:
        setup.runlog.close()


async def test_a_turn_stopped_before_its_graph_started_still_gets_its_row(setup):
    run_id = str(uuid.uuid4())
    stream = setup.service.stream(VoiceTurn("s1", text="never heard", speak=False), run_id)
    await stream.aclose()  # cancelled before its first step: the graph never saw it
    await setup.service.settle(VoiceTurn("s1", text="never heard", entry_point="ws"), run_id)
    row = setup.row(run_id)
    assert (row["graph"], row["status"], row["entry_point"], row["model"]) == ("voice", "aborted", "ws", "fake")
    assert row["input"] == "never heard" and row["session_id"] == "s1"


async def test_done_comes_once_the_turns_row_is_in_the_journal(setup, monkeypatch):
    journaled: list[str] = []
    durable = setup.runlog.durable

    async def spy() -> bool:
        result = await durable()
        journaled.append("durable")
        return result

    monkeypatch.setattr(setup.runlog, "durable", spy)
    seen: list[str] = []
    async for event in setup.service.stream(VoiceTurn("s1", text="hi", speak=False)):
        seen.append(f"{kind(event)}{len(journaled)}")
    assert seen[-1] == "done1" and all(not s.endswith("1") for s in seen[:-1])

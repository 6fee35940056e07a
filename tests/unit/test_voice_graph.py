"""The voice graph with fake speech engines, a scripted model and a fake store: the events of a turn, history,
session expiry, speech fallbacks, grounding, cancellation and the run log."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from graphs.voice import builder
from graphs.voice_state import VoiceContext
from workbench.errors import ProviderUnavailable
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog, RunLogCallback, get_run, set_runlog
from workbench.runlog.queries import get_trace
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, flushed
from workbench.testing_speech import FakeSpeech, FakeSTT, FakeTTS
from workbench.voice.audio import AudioError, decode_audio, wav_bytes
from workbench.voice.tts import FallbackTTS, TextToSpeech

SNAPSHOT = Path(__file__).parent / "snapshots" / "voice_graph.mmd"
REPLY = "It is sunny. Take a hat. Enjoy the day!"
SENTENCES = ["It is sunny.", "Take a hat.", "Enjoy the day!"]


def doc(i: int, text: str) -> dict:
    return {
        "chunk_id": f"c{i}", "source": f"/docs/f{i}.md", "title": f"F{i}", "section": None, "page": None,
        "text": text, "score": 1.0 / i, "dense_score": 0.8, "sparse_score": 2.0,
    }  # fmt: skip


class FakeStore:
    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs
        self.queries: list[tuple] = []

    def search(self, collection, query, k=5, filters=None, mode="hybrid"):
        self.queries.append((collection, query, k))
        return self.docs[:k]


class Speech(FakeSpeech):
    """Fake engines, but any text-to-speech (e.g. a FallbackTTS around fakes)."""

    def __init__(self, settings: Settings, tts: TextToSpeech) -> None:
        super().__init__(settings)
        self.any_tts = tts

    def tts(self, spec: str | None = None) -> Any:
        return self.any_tts


class App:
    def __init__(self, tmp_path: Path, speech: FakeSpeech, **settings: Any) -> None:
        (tmp_path / "personas").mkdir(exist_ok=True)
        (tmp_path / "personas" / "brief.yaml").write_text("name: brief\nsystem_prompt: Be brief.\nmax_history: 4\n")
        self.settings = Settings(home=tmp_path, llm="fake", personas_dir=tmp_path / "personas", **settings)
        self.model = ScriptedChatModel(default=REPLY)
        self.store = FakeStore([doc(1, "The server listens on port 8000."), doc(2, "Data lives in .workbench.")])
        self.speech = speech
        self.resources = Resources(
            self.settings,
            speech=speech,
            store=self.store,  # type: ignore[arg-type]
            models=ModelRegistry(self.settings, {"fake": self.model}),
        )
        self.runlog = RunLog(tmp_path / "runs.duckdb")
        self.graph = builder.compile(checkpointer=InMemorySaver(), name="voice").with_config(
            callbacks=[RunLogCallback(self.runlog)]
        )

    @property
    def stt(self) -> FakeSTT:
        return self.speech.fake_stt

    @property
    def tts(self) -> FakeTTS:
        return self.speech.fake_tts

    def row(self, run_id: uuid.UUID) -> dict[str, Any]:
        assert flushed(self.runlog)
        row = get_run(self.runlog, str(run_id))
        assert row is not None
        return row

    async def turn(
        self, inputs: Any, thread: str = "s1", run_id: uuid.UUID | None = None, **context: Any
    ) -> tuple[list[dict], dict]:
        """Run one turn; returns (events, final state). Token events are ``{"type": "token", ...}``."""
        config: Any = {"configurable": {"thread_id": thread}, "run_id": run_id or uuid.uuid4()}
        events: list[dict] = []
        final: dict = {}
        stream = self.graph.astream(
            inputs,
            config,
            context=VoiceContext(resources=self.resources, **context),
            stream_mode=["custom", "messages", "values"],
        )
        async for mode, chunk in cast(AsyncIterator[tuple[str, Any]], stream):
            if mode == "custom":
                events.append(chunk)
            elif mode == "messages":
                message, meta = chunk
                # the streamed chunks; the whole reply also comes once as the AIMessage the node writes
                if meta["langgraph_node"] == "respond" and isinstance(message, AIMessageChunk) and message.content:
                    events.append({"type": "token", "content": message.content})
            else:
                final = chunk
        return events, final


@pytest.fixture
def make_app(tmp_path) -> Iterator[Any]:
    apps: list[App] = []

    def make(speech: FakeSpeech | None = None, **settings: Any) -> App:
        app = App(tmp_path, speech or FakeSpeech(), **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.runlog.close()


@pytest.fixture
def app(make_app) -> App:
    return make_app()


def recording(seconds: float = 0.5) -> str:
    t = np.arange(int(16_000 * seconds)) / 16_000
    return base64.b64encode(wav_bytes(0.2 * np.sin(2 * np.pi * 220 * t), 16_000)).decode()


def kinds(events: list[dict]) -> list[str]:
    """Event types with consecutive repeats collapsed."""
    out: list[str] = []
    for event in events:
        if not out or out[-1] != event["type"]:
            out.append(event["type"])
    return out


def spoken_in_order(events: list[dict]) -> list[str]:
    """The event types without audio chunks, after checking the chunks' place in a pipelined stream: in index
    order, none before the first token (a sentence must be finished first), any notice before them."""
    chunks = [i for i, e in enumerate(events) if e["type"] == "audio_chunk"]
    tokens = [i for i, e in enumerate(events) if e["type"] == "token"]
    assert [events[i]["index"] for i in chunks] == list(range(len(chunks)))
    if chunks:
        assert tokens and tokens[0] < chunks[0]
        assert all(i < chunks[0] for i, e in enumerate(events) if e["type"] in ("notice", "transcription"))
    return kinds([e for e in events if e["type"] != "audio_chunk"])


def decoded_wav(data: str) -> Any:
    return decode_audio(base64.b64decode(data), "wav", max_bytes=10**8, max_seconds=600)


def test_graph_shape_matches_snapshot():
    drawing = builder.compile().get_graph().draw_mermaid()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(drawing)
    assert drawing == SNAPSHOT.read_text(), "graph shape changed; review it, then rerun with UPDATE_SNAPSHOTS=1"


async def test_an_audio_turn_streams_transcription_tokens_response_then_audio_per_sentence(app):
    events, final = await app.turn({"audio": recording(0.5), "audio_format": "wav"}, pipeline=False)

    assert kinds(events) == ["transcription", "token", "response", "audio_chunk"]
    transcription = events[0]
    assert transcription == {
        "type": "transcription", "text": "What is the weather like today?", "language": "en",
        "duration_s": 0.5, "model": "fake/stt",
    }  # fmt: skip
    assert app.stt.calls == [0.5]  # the wav was decoded at 16 kHz before speech to text
    assert "".join(e["content"] for e in events if e["type"] == "token") == REPLY
    assert [e["text"] for e in events if e["type"] == "response"] == [REPLY]
    chunks = [e for e in events if e["type"] == "audio_chunk"]
    assert [(c["index"], c["text"], c["format"]) for c in chunks] == [(i, s, "wav") for i, s in enumerate(SENTENCES)]
    assert app.tts.spoken == SENTENCES
    durations = [decoded_wav(c["data"]).duration_s for c in chunks]
    assert durations == pytest.approx([0.05 * len(s.split()) for s in SENTENCES])

    assert final["transcript"] == "What is the weather like today?"
    assert final["reply"] == REPLY
    assert not final.get("audio") and not final.get("text")  # the recording is not kept in the session
    assert final["speech_format"] == "wav"
    assert decoded_wav(final["speech"]).duration_s == pytest.approx(sum(durations))
    assert set(final["timings"]) == {
        "audio_s", "stt_s", "llm_ttft_s", "llm_s", "first_audio_s", "tts_s", "speech_s", "total_s",
    }  # fmt: skip
    assert final["timings"]["audio_s"] == 0.5
    assert final["timings"]["speech_s"] == pytest.approx(sum(durations), abs=1e-3)
    assert final["models"] == {"stt": "fake/stt", "llm": "fake", "tts": "fake/tts", "persona": "assistant"}
    assert [type(m) for m in final["messages"]] == [HumanMessage, AIMessage]
    assert final["messages"][-1].response_metadata["persona"] == "assistant"
    system = app.model.calls[0][0]
    assert isinstance(system, SystemMessage) and "voice assistant" in system.content


async def test_pipelined_speech_starts_while_the_model_is_still_writing(app):
    app.model.token_delay_s = 0.05
    events, final = await app.turn({"text": "weather?"})  # pipelined is the default

    assert spoken_in_order(events) == ["token", "response"]
    chunks = [i for i, e in enumerate(events) if e["type"] == "audio_chunk"]
    last_token = max(i for i, e in enumerate(events) if e["type"] == "token")
    assert chunks[0] < last_token, "the first sentence is spoken before the reply is complete"
    assert [events[i]["text"] for i in chunks] == SENTENCES == app.tts.spoken
    assert final["timings"]["first_audio_s"] < final["timings"]["llm_s"]
    assert decoded_wav(final["speech"]).duration_s == pytest.approx(final["timings"]["speech_s"], abs=1e-3)


async def test_pipelined_and_sequential_turns_speak_the_same_sentences(app):
    app.model.default = "Version 3.5 is out. Really? Yes! A last line without a mark"
    expected = ["Version 3.5 is out.", "Really?", "Yes!", "A last line without a mark"]
    for thread, pipeline in (("a", True), ("b", False)):
        app.tts.spoken.clear()
        events, final = await app.turn({"text": "news?"}, thread=thread, pipeline=pipeline)
        assert [e["text"] for e in events if e["type"] == "audio_chunk"] == expected == app.tts.spoken
        assert decoded_wav(final["speech"]).duration_s == pytest.approx(0.05 * 12)


async def test_a_text_turn_skips_speech_to_text(app):
    events, final = await app.turn({"text": "  Hello there  "})

    assert app.stt.calls == []
    assert spoken_in_order(events) == ["token", "response"]
    assert [e["text"] for e in events if e["type"] == "audio_chunk"] == SENTENCES
    assert final["transcript"] == "Hello there"
    assert [m.content for m in app.model.calls[0][1:]] == ["Hello there"]
    assert "stt" not in final["models"] and "stt_s" not in final["timings"]
    assert final["speech"]


async def test_a_turn_with_neither_audio_nor_text_is_empty_audio(app):
    for inputs in ({}, {"text": "   "}, {"audio": "", "text": ""}):
        with pytest.raises(AudioError) as caught:
            await app.turn(inputs)
        assert caught.value.code == "empty_audio"
    assert app.model.calls == []


async def test_unusable_audio_raises_its_code_before_any_model_runs(app):
    cases = {
        "invalid_audio": {"audio": "%%% not base64 %%%"},
        "audio_format_mismatch": {"audio": recording(), "audio_format": "mp3"},
        "unsupported_format": {"audio": recording(), "audio_format": "aac"},
    }
    for code, inputs in cases.items():
        with pytest.raises(AudioError) as caught:
            await app.turn(inputs)
        assert caught.value.code == code
    assert app.stt.calls == [] and app.model.calls == [] and app.tts.spoken == []


async def test_a_failed_turns_recording_is_not_kept_for_the_next_turn(app):
    """A recording lives only in the run that reads it: a turn that failed on it does not hand it to the next."""
    with pytest.raises(AudioError):
        await app.turn({"audio": "bm90IGF1ZGlv"})  # base64 of "not audio"
    _, final = await app.turn({"text": "hello"})  # the failed recording is gone: the typed turn runs
    assert final["transcript"] == "hello" and final["reply"] == REPLY
    _, final = await app.turn({"audio": recording(), "text": None})
    assert final["transcript"] == "What is the weather like today?"
    assert [m.content for m in final["messages"]] == ["hello", REPLY, "What is the weather like today?", REPLY]


async def test_recording_longer_than_the_setting_is_too_long(make_app):
    app = make_app(max_audio_s=1.0)
    with pytest.raises(AudioError) as caught:
        await app.turn({"audio": recording(1.5)})
    assert caught.value.code == "audio_too_long"
    assert app.stt.calls == []


async def test_history_is_capped_to_the_personas_max_history_starting_on_a_human_turn(app):
    app.model.default = lambda messages: f"answer to {messages[-1].content}"
    for i in range(7):
        _, final = await app.turn({"text": f"q{i}"}, persona="brief", speak=False)
        messages = final["messages"]
        assert len(messages) <= 4
        assert isinstance(messages[0], HumanMessage)
        assert [m.content for m in messages[-2:]] == [f"q{i}", f"answer to q{i}"]
    assert [m.content for m in final["messages"]] == ["q5", "answer to q5", "q6", "answer to q6"]
    seen = [m.content for m in app.model.calls[-1] if not isinstance(m, SystemMessage)]
    assert seen == ["q5", "answer to q5", "q6"]  # the model sees max_history - 1 messages and the system prompt
    assert all(len(call) <= 4 and isinstance(call[1], HumanMessage) for call in app.model.calls)
    assert [m.content for m in app.model.calls[1][1:]] == ["q0", "answer to q0", "q1"]  # history is used


async def test_the_settings_max_history_applies_when_the_persona_sets_none(tmp_path, make_app):
    app = make_app(voice_max_history=2)
    (tmp_path / "personas" / "plain.yaml").write_text("name: plain\nsystem_prompt: Plain.\n")
    for i in range(3):
        _, final = await app.turn({"text": f"q{i}"}, persona="plain", speak=False)
    assert [type(m) for m in final["messages"]] == [HumanMessage, AIMessage]
    assert [m.content for m in app.model.calls[-1][1:]] == ["q2"]


async def test_a_session_idle_past_its_ttl_starts_afresh(make_app):
    app = make_app(voice_session_ttl_s=60)
    config: Any = {"configurable": {"thread_id": "s1"}}
    await app.turn({"text": "first"})
    await app.turn({"text": "second"})  # within the TTL: history kept
    assert [m.content for m in app.model.calls[1][1:]] == ["first", REPLY, "second"]
    assert (await app.graph.aget_state(config)).values["last_active"] == pytest.approx(time.time(), abs=5)

    await app.graph.aupdate_state(config, {"last_active": time.time() - 61})
    run_id = uuid.uuid4()
    _, final = await app.turn({"text": "third"}, run_id=run_id)

    assert [m.content for m in app.model.calls[2][1:]] == ["third"]
    assert [m.content for m in final["messages"]] == ["third", REPLY]
    assert app.row(run_id)["metadata"]["session_expired"] is True


async def test_empty_transcript_is_no_speech(make_app):
    app = make_app(FakeSpeech(stt=FakeSTT(text="")))
    with pytest.raises(AudioError, match=r"no speech was recognised in 0\.5 s") as caught:
        await app.turn({"audio": recording(0.5)})
    assert caught.value.code == "no_speech"
    assert app.stt.calls == [0.5] and app.model.calls == []


@pytest.mark.parametrize("pipeline", [True, False])
async def test_a_failing_voice_falls_back_with_a_notice_and_still_speaks(make_app, tmp_path, pipeline):
    primary, fallback = FakeTTS(fail=True, name="cloud/tts"), FakeTTS(name="offline/tts")
    app = make_app(Speech(Settings(home=tmp_path), FallbackTTS(primary, fallback)))
    events, final = await app.turn({"text": "weather?"}, pipeline=pipeline)

    assert set(spoken_in_order(events)) == {"token", "response", "notice"}  # the notice precedes the audio
    if not pipeline:
        assert kinds(events) == ["token", "response", "notice", "audio_chunk"]
    (notice,) = [e for e in events if e["type"] == "notice"]
    assert notice["code"] == "tts_fallback"
    assert "cloud/tts unavailable" in notice["message"] and "offline/tts" in notice["message"]
    assert primary.spoken == [] and fallback.spoken == SENTENCES
    assert final["notes"] == [notice["message"]]
    assert final["models"]["tts"] == "offline/tts"
    assert decoded_wav(final["speech"]).duration_s > 0


def test_a_failed_voice_is_benched_so_later_sentences_skip_its_timeout():
    class Unreachable(FakeTTS):
        tries = 0

        def stream(self, text):  # type: ignore[no-untyped-def]
            Unreachable.tries += 1
            raise ProviderUnavailable("timed out after 5 s")

    fallback = FakeTTS(name="offline/tts")
    tts = FallbackTTS(Unreachable(name="cloud/tts"), fallback, retry_after_s=60)
    clips = [clip for sentence in ("One.", "Two.", "Three.") for clip in tts.stream(sentence)]
    assert Unreachable.tries == 1  # one timeout for the whole reply, not one per sentence
    assert fallback.spoken == ["One.", "Two.", "Three."]
    assert all("cloud/tts unavailable (timed out after 5 s)" in (clip.note or "") for clip in clips)

    tts.retry_after_s = 0  # once the bench time is over, the primary is tried again
    tts._benched_until = 0.0
    list(tts.stream("Four."))
    assert Unreachable.tries == 2


async def test_speak_false_returns_text_only(app):
    events, final = await app.turn({"audio": recording()}, speak=False)
    assert kinds(events) == ["transcription", "token", "response"]
    assert (final["speech"], final["speech_format"], final["reply"]) == ("", "", REPLY)
    assert app.tts.spoken == []
    assert not {"tts_s", "first_audio_s", "speech_s"} & set(final["timings"])
    assert "total_s" in final["timings"] and "tts" not in final["models"]


async def test_a_grounded_persona_searches_the_store_and_emits_retrieval(app):
    events, final = await app.turn({"text": "Which port?"}, persona="docs-guide")

    assert spoken_in_order(events) == ["retrieval", "token", "response"]
    retrieval = events[0]
    assert retrieval["query"] == "Which port?"
    assert [d["chunk_id"] for d in retrieval["documents"]] == ["c1", "c2"]
    assert app.store.queries == [("docs", "Which port?", 3)]  # the settings' collection, the persona's top_k
    system = app.model.calls[0][0].content
    assert "voice guide" in system and "The server listens on port 8000." in system
    assert final["models"]["persona"] == "docs-guide"


async def test_grounding_follows_the_context_over_the_persona(app):
    events, _ = await app.turn({"text": "q"}, persona="docs-guide", grounded=False)
    assert "retrieval" not in kinds(events) and app.store.queries == []
    events, _ = await app.turn({"text": "q"}, thread="s2", grounded=True, collection="manuals")
    assert "retrieval" in kinds(events)
    assert app.store.queries == [("manuals", "q", 3)]


@pytest.mark.parametrize(
    ("pipeline", "token_delay_s", "cancelled_in"),
    [(False, 0.0, "synthesize"), (True, 0.0, "synthesize"), (True, 0.12, "respond")],
    ids=["sequential", "pipelined-reply-complete", "pipelined-model-still-writing"],
)
async def test_cancelling_the_consumer_mid_speech_stops_speaking_and_logs_aborted(
    make_app, pipeline, token_delay_s, cancelled_in
):
    tts = FakeTTS(delay_s=0.15)
    app = make_app(FakeSpeech(tts=tts))
    app.model.default = "One. Two. Three. Four. Five. Six."
    app.model.token_delay_s = token_delay_s
    run_id = uuid.uuid4()
    first_chunk = asyncio.Event()
    chunks: list[dict] = []

    async def consume() -> None:
        config: Any = {"run_id": run_id, "configurable": {"thread_id": "t"}}
        stream = app.graph.astream(
            {"text": "count"},
            config,
            context=VoiceContext(pipeline=pipeline, resources=app.resources),
            stream_mode="custom",
        )
        async for chunk in cast(AsyncIterator[dict], stream):
            if chunk["type"] == "audio_chunk":
                chunks.append(chunk)
                first_chunk.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_chunk.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    spoken_at_cancel = len(tts.spoken)
    await asyncio.sleep(0.6)  # time for four more sentences, were speech still going
    assert len(tts.spoken) <= spoken_at_cancel + 1  # at most the sentence already in its worker thread
    assert len(tts.spoken) < 6 and len(chunks) == 1
    settled = len(tts.spoken)
    await asyncio.sleep(0.3)
    assert len(tts.spoken) == settled

    row = app.row(run_id)
    assert (row["graph"], row["status"], row["error"]) == ("voice", "aborted", "CancelledError")
    assert row["input"] == "count"
    nodes = [(e["node"], e["status"]) for e in row["events"] if e["kind"] == "node"]
    assert nodes[-1] == (cancelled_in, "aborted")


async def test_the_served_graph_logs_to_the_process_run_log(make_app, tmp_path):
    """``graphs.builtin:voice`` (what langgraph dev serves) carries its own RunLogCallback."""
    from graphs.builtin import voice as served_voice
    from graphs.serving import served

    app = make_app()
    graph = served(builder.compile(name="voice"))
    runlog = RunLog(tmp_path / "process-runs.duckdb")
    set_runlog(runlog)
    try:
        run_id = uuid.uuid4()
        await graph.ainvoke({"text": "hi"}, {"run_id": run_id}, context=VoiceContext(resources=app.resources))
        assert flushed(runlog)
        row = get_run(runlog, str(run_id))
        assert row is not None and (row["graph"], row["status"], row["output"]) == ("voice", "ok", REPLY)
    finally:
        set_runlog(None)
        runlog.close()
    callbacks = (served_voice.config or {}).get("callbacks")
    assert isinstance(callbacks, list) and [type(c) for c in callbacks] == [RunLogCallback]


async def test_an_ok_turn_is_one_run_log_row_with_transcript_reply_model_and_stage_timings(app):
    run_id = uuid.uuid4()
    _, final = await app.turn({"audio": recording(0.5)}, thread="abc", run_id=run_id)

    row = app.row(run_id)
    assert (row["graph"], row["status"], row["session_id"]) == ("voice", "ok", "abc")
    assert row["entry_point"] == "langgraph"
    assert row["input"] == "What is the weather like today?"  # the transcript, not the base64 recording
    assert row["output"] == REPLY
    assert row["model"] == "fake"  # the registry spec, not the provider's model name
    metadata = row["metadata"]
    for key in ("stt_s", "tts_s", "first_audio_s", "llm_s", "total_s", "audio_s"):
        assert metadata[key] == final["timings"][key]
    assert (metadata["stt_model"], metadata["tts_voice"], metadata["persona"]) == ("fake/stt", "fake/tts", "assistant")
    assert metadata["session_expired"] is False and metadata["pipelined"] is True
    assert [e["node"] for e in row["events"] if e["kind"] == "node"] == ["transcribe", "respond", "synthesize"]


async def test_a_failed_turn_is_logged_as_an_error_with_its_message(make_app):
    app = make_app(FakeSpeech(stt=FakeSTT(text="")))
    run_id = uuid.uuid4()
    with pytest.raises(AudioError):
        await app.turn({"audio": recording()}, run_id=run_id)
    row = app.row(run_id)
    assert row["status"] == "error" and row["error"].startswith("AudioError: no speech")


async def test_a_voice_turn_traces_speech_to_text_the_llm_and_each_spoken_sentence(app):
    run_id = uuid.uuid4()
    await app.turn({"audio": recording(0.5), "audio_format": "wav"}, run_id=run_id, pipeline=False)
    app.row(run_id)
    trace = get_trace(app.runlog, str(run_id))
    assert trace is not None
    spans = trace["spans"]
    by_id = {s["span_id"]: s for s in spans}
    stt = [s for s in spans if s["name"] == "speech_to_text"]
    assert len(stt) == 1 and stt[0]["kind"] == "speech" and by_id[stt[0]["parent_id"]]["name"] == "transcribe"
    assert stt[0]["attributes"] == {
        "workbench.speech.direction": "stt",
        "workbench.speech.audio_ms": 500,
        "workbench.speech.model": "fake/stt",
        "workbench.speech.characters": len("What is the weather like today?"),
    }
    spoken = [s for s in spans if s["name"] == "text_to_speech"]
    assert [s["attributes"]["workbench.speech.characters"] for s in spoken] == [len(s) for s in SENTENCES]
    assert all(s["attributes"]["workbench.speech.audio_ms"] > 0 and s["duration_ms"] >= 0 for s in spoken)
    assert any(s["kind"] == "llm" for s in spans)
    stored = json.dumps([s["attributes"] for s in spans])
    assert "UklGR" not in stored and "data:audio" not in stored, stored  # no WAV (base64) in any span

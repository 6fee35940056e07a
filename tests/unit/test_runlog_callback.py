"""RunLogCallback on real compiled LangGraph graphs with a streaming fake chat model, logging to tmp_path DuckDB."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypedDict
from uuid import uuid4

import numpy as np
import pytest
from langchain_core.callbacks import adispatch_custom_event
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph

from tests.voice_traces import leaks, runlog_files
from workbench.runlog import (
    RUNLOG_EVENT,
    RunLog,
    RunLogCallback,
    RunRecord,
    get_run,
    in_flight,
    recent_runs,
    set_runlog,
)
from workbench.testing import flushed
from workbench.voice.audio import wav_bytes

ANSWER = "Paris is the capital of France and its largest city by far ."


class StreamingFake(BaseChatModel):
    """Streams ``text`` word by word every ``delay_s``; reports token usage unless ``usage`` is False."""

    text: str = ANSWER
    delay_s: float = 0.0
    usage: bool = True

    @property
    def _llm_type(self) -> str:
        return "streaming-fake"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "fake", "ls_model_name": "streamer", "ls_model_type": "chat"}

    def _usage(self) -> Any:
        words = len(self.text.split())
        return {"input_tokens": 7, "output_tokens": words, "total_tokens": 7 + words} if self.usage else None

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.text, usage_metadata=self._usage()))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Iterator:
        for word in self.text.split():
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                run_manager.on_llm_new_token(word + " ", chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=self._usage()))

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for word in self.text.split():
            await asyncio.sleep(self.delay_s)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                await run_manager.on_llm_new_token(word + " ", chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=self._usage()))


class State(MessagesState):
    retrieved_docs: list[dict[str, Any]]


@tool
def lookup(query: str) -> str:
    """Look a term up."""
    return f"found {query}"


def build(model: BaseChatModel, *, fail: BaseException | None = None, timeout_s: float | None = None) -> Any:
    """retrieve -> respond, like the chat graph; ``respond`` may raise ``fail`` or time out after ``timeout_s``."""

    async def retrieve(state: State) -> dict[str, Any]:
        await asyncio.sleep(0.03)
        await lookup.ainvoke({"query": "capital"})
        await adispatch_custom_event(RUNLOG_EVENT, {"prompt_version": "v2", "rerank_ms": 3})
        doc = {"chunk_id": "c1", "source": "geo.md", "score": 0.8, "dense_score": 0.7, "sparse_score": 2.0, "text": "x"}
        return {"retrieved_docs": [doc]}

    async def respond(state: State) -> dict[str, Any]:
        if fail is not None:
            raise fail
        if timeout_s is not None:
            async with asyncio.timeout(timeout_s):
                return {"messages": [await model.ainvoke(state["messages"])]}
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(State)
    builder.add_node("retrieve", retrieve)
    builder.add_node("respond", respond)
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "respond")
    builder.add_edge("respond", END)
    return builder.compile(name="chat")


def noise_wav(seconds: float, seed: int) -> bytes:
    """A wav of seeded noise (1,324 bytes for 0.04 s): every slice of it is unique to it."""
    return wav_bytes(np.random.default_rng(seed).uniform(-0.5, 0.5, int(16_000 * seconds)), 16_000)


QUESTION = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}


@pytest.fixture
def runlog(tmp_path: Path) -> Iterator[RunLog]:
    log = RunLog(tmp_path / "runs.duckdb")
    yield log
    log.close()


def logged(runlog: RunLog, run_id: Any) -> dict[str, Any]:
    assert flushed(runlog)
    row = get_run(runlog, str(run_id))
    assert row is not None
    return row


async def test_a_streamed_chat_run_is_one_row_with_node_llm_and_tool_events(runlog: RunLog) -> None:
    handler = RunLogCallback(runlog)
    graph = build(StreamingFake(delay_s=0.005)).with_config(callbacks=[handler])
    run_id = uuid4()
    config = {"run_id": run_id, "configurable": {"thread_id": "t-42"}, "metadata": {"entry_point": "ws"}}

    async for _ in graph.astream(QUESTION, config, stream_mode="messages"):
        pass

    row = logged(runlog, run_id)  # the config's run_id is the row's run_id
    assert (row["graph"], row["entry_point"], row["session_id"], row["status"]) == ("chat", "ws", "t-42", "ok")
    assert row["input"] == "What is the capital of France?"
    assert row["output"].strip() == ANSWER
    assert row["model"] == "fake/streamer"
    assert row["prompt_version"] == "v2" and row["metadata"] == {"rerank_ms": 3}
    assert (row["tokens_in"], row["tokens_out"]) == (7, len(ANSWER.split()))
    assert row["retrieved"] == [
        {"chunk_id": "c1", "source": "geo.md", "score": 0.8, "dense_score": 0.7, "sparse_score": 2.0}
    ]
    total_ms = (row["ended_at"] - row["started_at"]).total_seconds() * 1000
    assert 30 <= row["ttft_ms"] <= total_ms
    events = [(e["seq"], e["kind"], e["node"], e["status"]) for e in row["events"]]
    assert events == [
        (0, "node", "retrieve", "ok"),
        (1, "tool", "lookup", "ok"),
        (2, "node", "respond", "ok"),
        (3, "llm", "respond", "ok"),
    ]
    assert all(e["duration_ms"] > 0 and e["ended_at"] >= e["started_at"] for e in row["events"])
    assert row["events"][0]["duration_ms"] >= 30
    assert row["events"][3]["detail"] == {"model": "fake/streamer", "tokens_in": 7, "tokens_out": len(ANSWER.split())}


async def test_session_id_from_metadata_wins_over_thread_id_and_messages_may_be_objects(runlog: RunLog) -> None:
    handler = RunLogCallback(runlog)
    graph = build(StreamingFake()).with_config(callbacks=[handler])
    run_id = uuid4()
    config = {"run_id": run_id, "configurable": {"thread_id": "t"}, "metadata": {"session_id": "abc123"}}

    await graph.ainvoke({"messages": [HumanMessage("Hi there")]}, config)

    row = logged(runlog, run_id)
    assert (row["session_id"], row["input"], row["entry_point"]) == ("abc123", "Hi there", "langgraph")


async def test_other_scalar_metadata_is_kept_in_the_row_metadata(runlog: RunLog) -> None:
    graph = build(StreamingFake()).with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()
    metadata = {"entry_point": "eval", "example_id": "q-17", "suite": "rag", "nested": {"dropped": True}}

    await graph.ainvoke(QUESTION, {"run_id": run_id, "metadata": metadata})

    row = logged(runlog, run_id)
    assert row["entry_point"] == "eval"
    assert row["metadata"] == {"example_id": "q-17", "suite": "rag", "rerank_ms": 3}


async def test_tokens_are_estimated_from_streamed_chunks_when_the_provider_reports_none(runlog: RunLog) -> None:
    graph = build(StreamingFake(usage=False)).with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()

    async for _ in graph.astream(QUESTION, {"run_id": run_id}, stream_mode="messages"):
        pass

    row = logged(runlog, run_id)
    assert (row["tokens_in"], row["tokens_out"]) == (None, len(ANSWER.split()))
    assert row["metadata"]["tokens_estimated"] is True


async def test_a_failing_node_logs_the_run_as_error_with_its_message(runlog: RunLog) -> None:
    graph = build(StreamingFake(), fail=ValueError("index is empty")).with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()

    with pytest.raises(ValueError):
        await graph.ainvoke(QUESTION, {"run_id": run_id})

    row = logged(runlog, run_id)
    assert (row["status"], row["error"]) == ("error", "ValueError: index is empty")
    respond = row["events"][-1]
    assert (respond["node"], respond["status"], respond["detail"]["error"]) == ("respond", "error", row["error"])


async def test_a_timeout_inside_the_graph_logs_error_timed_out_with_the_partial_output(runlog: RunLog) -> None:
    model = StreamingFake(delay_s=0.02)
    graph = build(model, timeout_s=0.15).with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()

    with pytest.raises(TimeoutError):
        async for _ in graph.astream(QUESTION, {"run_id": run_id}, stream_mode="messages"):
            pass

    row = logged(runlog, run_id)
    assert (row["status"], row["error"]) == ("error", "timed out")
    assert row["output"] and ANSWER.startswith(row["output"].strip())


async def test_cancelled_stream_is_logged_as_aborted(runlog: RunLog) -> None:
    """The mechanism: cancelling the task that consumes ``astream`` makes LangGraph report the root run's
    ``CancelledError`` before ``await task`` returns, so the run is already logged 'aborted' with the text
    streamed so far; ``finish_open_runs()`` in the caller's ``finally`` is then a no-op (never a second row)."""
    handler = RunLogCallback(runlog)
    graph = build(StreamingFake(delay_s=0.02)).with_config(callbacks=[handler])
    run_id = uuid4()
    received: list[str] = []
    three_tokens = asyncio.Event()

    async def consume() -> None:
        async for chunk, _meta in graph.astream(QUESTION, {"run_id": run_id}, stream_mode="messages"):
            received.append(str(chunk.content))
            if len(received) == 3:
                three_tokens.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three_tokens.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert handler.open_run_ids() == []  # on_chain_error(CancelledError) has fired already
    assert handler.finish_open_runs() == []  # the belt-and-braces calls log nothing twice
    assert not handler.abort(run_id)
    row = logged(runlog, run_id)
    assert (row["status"], row["error"]) == ("aborted", "CancelledError")
    assert row["output"].startswith("".join(received)) and len(row["output"]) < len(ANSWER)
    assert [(e["node"], e["kind"], e["status"]) for e in row["events"][-2:]] == [
        ("respond", "node", "aborted"),
        ("respond", "llm", "aborted"),
    ]


async def test_an_outer_timeout_is_recorded_as_timed_out_through_abort(runlog: RunLog) -> None:
    handler = RunLogCallback(runlog)
    graph = build(StreamingFake(delay_s=0.02)).with_config(callbacks=[handler])
    run_id = uuid4()

    try:
        async with asyncio.timeout(0.15):
            async for _ in graph.astream(QUESTION, {"run_id": run_id}, stream_mode="messages"):
                pass
    except TimeoutError:
        assert handler.abort(run_id, status="error", error="timed out")
    assert not handler.abort(run_id, status="error", error="timed out")

    row = logged(runlog, run_id)
    assert (row["status"], row["error"]) == ("error", "timed out")
    assert row["output"] and ANSWER.startswith(row["output"].strip())


async def test_leaving_the_stream_early_is_logged_as_aborted(runlog: RunLog) -> None:
    graph = build(StreamingFake(delay_s=0.005)).with_config(callbacks=[RunLogCallback(runlog)])
    run_id = uuid4()

    stream = graph.astream(QUESTION, {"run_id": run_id}, stream_mode="messages")
    async for _ in stream:
        break
    await stream.aclose()

    row = logged(runlog, run_id)
    assert (row["status"], row["error"]) == ("aborted", "GeneratorExit")


async def test_abort_logs_an_open_run_once_and_ignores_the_late_end(runlog: RunLog, monkeypatch: Any) -> None:
    finished: list[str] = []
    log_records = runlog.log_records

    def log(records: Any) -> None:
        records = list(records)
        finished.extend(r.status for r in records if isinstance(r, RunRecord) and r.status != "running")
        log_records(records)

    monkeypatch.setattr(runlog, "log_records", log)
    handler = RunLogCallback(runlog)
    graph = build(StreamingFake(delay_s=0.01)).with_config(callbacks=[handler])
    run_id = uuid4()

    async for _ in graph.astream(QUESTION, {"run_id": run_id}, stream_mode="messages"):
        if not finished:
            assert handler.abort(run_id, status="aborted", error="client disconnected")
            assert not handler.abort(run_id)

    assert finished == ["aborted"]
    row = logged(runlog, run_id)
    assert (row["status"], row["error"]) == ("aborted", "client disconnected")


async def test_concurrent_runs_on_one_handler_are_separate_rows(runlog: RunLog) -> None:
    handler = RunLogCallback(runlog)
    texts = {"a": "alpha answer one", "b": "beta answer two three"}
    graphs = {k: build(StreamingFake(text=t, delay_s=0.01)).with_config(callbacks=[handler]) for k, t in texts.items()}
    ids = {k: uuid4() for k in texts}

    async def one(key: str) -> None:
        config = {"run_id": ids[key], "configurable": {"thread_id": f"thread-{key}"}}
        async for _ in graphs[key].astream(QUESTION, config, stream_mode="messages"):
            pass

    await asyncio.gather(*(one(k) for k in texts))

    for key, text in texts.items():
        row = logged(runlog, ids[key])
        assert (row["session_id"], row["output"].strip(), row["tokens_out"]) == (
            f"thread-{key}",
            text,
            len(text.split()),
        )
        assert [e["node"] for e in row["events"] if e["kind"] == "node"] == ["retrieve", "respond"]
    assert len(recent_runs(runlog)) == 2


def test_concurrent_sync_invocations_from_threads_are_separate_rows(runlog: RunLog) -> None:
    model = StreamingFake()
    builder = StateGraph(State)
    builder.add_node("respond", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_edge(START, "respond")
    handler = RunLogCallback(runlog)
    graph = builder.compile(name="sync_chat").with_config(callbacks=[handler])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: graph.invoke(QUESTION, {"configurable": {"thread_id": f"s{i}"}}), range(8)))

    assert flushed(runlog)
    rows = recent_runs(runlog, limit=100)
    assert sorted(r["session_id"] for r in rows) == sorted(f"s{i}" for i in range(8))
    assert {(r["graph"], r["status"], r["output"]) for r in rows} == {("sync_chat", "ok", ANSWER)}
    assert handler.open_run_ids() == []


async def test_the_handler_is_cheap_to_build_and_uses_the_process_run_log_lazily(
    runlog: RunLog, monkeypatch: Any
) -> None:
    def no_runlog_yet() -> RunLog:
        raise AssertionError("built at import/compile time")

    monkeypatch.setattr(in_flight, "get_runlog", no_runlog_yet)
    handler = RunLogCallback()
    graph = build(StreamingFake()).with_config(callbacks=[handler])
    monkeypatch.undo()
    set_runlog(runlog)
    try:
        run_id = uuid4()
        await graph.ainvoke(QUESTION, {"run_id": run_id})
    finally:
        set_runlog(None)

    assert logged(runlog, run_id)["status"] == "ok"


async def test_an_aborted_run_names_its_model_as_a_finished_one_does(runlog: RunLog) -> None:
    """The caller's metadata (the concrete spec it runs) beats the LLM's own provider/name, for ok and aborted
    runs alike; a node's RUNLOG_EVENT beats both."""
    handler = RunLogCallback(runlog)
    graph = build(StreamingFake(delay_s=0.02)).with_config(callbacks=[handler])
    ok_id, aborted_id = uuid4(), uuid4()
    metadata = {"model": "local/streamer-1b"}

    await graph.ainvoke(QUESTION, {"run_id": ok_id, "metadata": metadata})
    stream = graph.astream(QUESTION, {"run_id": aborted_id, "metadata": metadata}, stream_mode="messages")
    async for _ in stream:
        break
    await stream.aclose()

    ok, aborted = logged(runlog, ok_id), logged(runlog, aborted_id)
    assert (ok["status"], aborted["status"]) == ("ok", "aborted")
    assert ok["model"] == aborted["model"] == "local/streamer-1b"
    assert ok["metadata"] is None or "models" not in ok["metadata"]


async def test_a_streaming_run_is_checkpointed_with_its_text_so_far(runlog: RunLog, monkeypatch: Any) -> None:
    rows: list[Any] = []
    log_records = runlog.log_records

    def log(records: Any) -> None:
        records = list(records)
        rows.extend((r.status, r.output) for r in records if isinstance(r, RunRecord))
        log_records(records)

    monkeypatch.setattr(runlog, "log_records", log)
    handler = RunLogCallback(runlog, checkpoint_interval=0.05)
    graph = build(StreamingFake(delay_s=0.02)).with_config(callbacks=[handler])

    async for _ in graph.astream(QUESTION, {"run_id": uuid4()}, stream_mode="messages"):
        pass

    partial = [output for status, output in rows if status == "running" and output]
    assert len(partial) >= 2, rows
    assert all(ANSWER.startswith(text.strip()) for text in partial)
    assert [len(text) for text in partial] == sorted(len(text) for text in partial)
    assert rows[-1][0] == "ok", "the final row is logged after every checkpoint"


async def test_the_handler_knows_the_runs_it_saw(runlog: RunLog) -> None:
    handler = RunLogCallback(runlog)
    graph = build(StreamingFake()).with_config(callbacks=[handler])
    run_id = uuid4()
    assert not handler.knows(run_id)
    await graph.ainvoke(QUESTION, {"run_id": run_id})
    assert handler.knows(run_id) and handler.knows(str(run_id))


class AudioState(TypedDict, total=False):
    audio: str
    clip: str
    blob: bytes
    note: str
    speech: str


async def test_audio_in_any_field_of_a_run_is_logged_as_its_size_and_hash_only(tmp_path: Path) -> None:
    """Recordings under an audio key, under any other key, as bytes, inside a text, in a node's event, in run
    metadata, in an error and in the output: no row or journal entry keeps them, and the row says what they were."""
    recording, other, reply, pcm = (noise_wav(0.04, seed) for seed in range(4))
    clips = {"recording": recording, "other": other, "reply": reply, "pcm": pcm[44:]}
    b64 = {name: base64.b64encode(clip).decode() for name, clip in clips.items()}

    async def speak(state: AudioState) -> dict[str, Any]:
        chunk = {"type": "audio_chunk", "data": b64["pcm"]}
        await adispatch_custom_event(RUNLOG_EVENT, {"attachment": b64["other"], "chunk": chunk})
        if state.get("note") == "fail":
            raise ValueError(f"cannot read {b64['recording']}")
        return {"speech": b64["reply"]}

    builder = StateGraph(AudioState)
    builder.add_node("speak", speak)
    builder.add_edge(START, "speak")
    builder.add_edge("speak", END)
    runlog = RunLog(tmp_path / "runs.duckdb")
    graph = builder.compile(name="voice").with_config(callbacks=[RunLogCallback(runlog)])
    inputs: AudioState = {"audio": b64["recording"], "clip": b64["other"], "blob": other, "note": f"see {b64['other']}"}
    ok, failed = uuid4(), uuid4()
    await graph.ainvoke(inputs, {"run_id": ok, "metadata": {"upload": b64["other"]}})
    with pytest.raises(ValueError):
        await graph.ainvoke({**inputs, "note": "fail"}, {"run_id": failed})
    rows = [logged(runlog, ok), logged(runlog, failed)]
    runlog.close()

    recording_hash = hashlib.sha256(recording).hexdigest()
    assert f'"audio": {{"audio": {{"bytes": {len(recording)}, "sha256": "{recording_hash}"}}}}' in rows[0]["input"]
    assert f"<audio: {len(recording)} bytes, sha256 {recording_hash}>" in rows[1]["error"]
    pcm_marker = {"audio": {"bytes": len(pcm) - 44, "sha256": hashlib.sha256(pcm[44:]).hexdigest()}}
    assert rows[0]["metadata"]["chunk"] == {"type": "audio_chunk", "data": pcm_marker}
    assert leaks(runlog_files(tmp_path / "runs.duckdb"), list(clips.values())) == []

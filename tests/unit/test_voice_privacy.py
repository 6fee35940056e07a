"""Recordings and spoken replies are never stored: a run of failing (no speech, too long, invalid), aborted and
answered audio turns through VoiceService on a real SQLite checkpoint file, or a real Postgres database, leaves no
trace of the audio in any row of any table, read raw or through the checkpointer, nor in the run log (its DuckDB
tables and its crash journal, each read raw and row by row): a failed recording is logged as its size and hash."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from tests.voice_traces import leaks, raw_files, runlog_files, sent_audio, sqlite_rows
from workbench.events import TokenEvent, wire
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog, RunLogCallback, recent_runs
from workbench.runtime import LocalRuntime
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel
from workbench.testing_speech import FakeSpeech, FakeSTT, FakeTTS
from workbench.turns.voice import VoiceService, VoiceTurn
from workbench.voice.audio import AudioError, wav_bytes

MAX_AUDIO_S = 2.0


def noise(seconds: float, seed: int) -> bytes:
    """A wav of seeded noise: every slice of it (raw or base64) is unique to it."""
    samples = np.random.default_rng(seed).uniform(-0.5, 0.5, int(16_000 * seconds))
    return wav_bytes(samples, 16_000)


def postgres_rows(url: str) -> dict[str, bytes]:
    """Every row of every table of a Postgres database, blobs also decoded with the checkpointer's serializer."""
    import psycopg

    serde = JsonPlusSerializer()
    found: dict[str, bytes] = {}
    with psycopg.connect(url) as db:
        tables = [name for (name,) in db.execute("select tablename from pg_tables where schemaname = 'public'")]
        for table in tables:
            cursor = db.execute(f'select * from "{table}"')  # the names come from the database itself
            columns = [c.name for c in cursor.description or []]
            for i, row in enumerate(cursor):
                values: list[Any] = [bytes(v) if isinstance(v, memoryview) else v for v in row]
                record = dict(zip(columns, values, strict=True))
                if isinstance(record.get("blob"), bytes) and record.get("type") not in (None, "empty"):
                    values.append(serde.loads_typed((record["type"], record["blob"])))
                found[f"{table} row {i}"] = b"".join(v if isinstance(v, bytes) else repr(v).encode() for v in values)
    assert {"checkpoints", "checkpoint_blobs"} <= {key.rsplit(" row ", 1)[0] for key in found}
    return found


async def through_checkpointer(saver: BaseCheckpointSaver) -> dict[str, bytes]:
    """Every checkpoint (its channel values and pending writes) as the checkpointer reads it back."""
    return {
        f"checkpointer: {item.config['configurable']['thread_id']} {i}": repr(
            (item.checkpoint["channel_values"], item.pending_writes, item.metadata)
        ).encode()
        async for i, item in _numbered(saver.alist(None))
    }


async def _numbered(items: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
    i = 0
    async for item in items:
        yield i, item
        i += 1


class Turns:
    def __init__(self, tmp_path: Path, saver: BaseCheckpointSaver) -> None:
        self.settings = Settings(home=tmp_path, llm="fake", max_audio_s=MAX_AUDIO_S)
        self.model = ScriptedChatModel(default="It is sunny. Take a hat.")
        self.speech = FakeSpeech(self.settings, stt=FakeSTT("Will it rain?"), tts=FakeTTS())
        self.resources = Resources(
            self.settings, speech=self.speech, models=ModelRegistry(self.settings, {"fake": self.model})
        )
        self.runlog = RunLog(tmp_path / "runs.duckdb")
        runtime = LocalRuntime(saver, resources=self.resources)
        self.service = VoiceService(self.resources, runtime, RunLogCallback(self.runlog))

    async def events(self, turn: VoiceTurn) -> list[dict[str, Any]]:
        """The turn's events as its socket would send them."""
        return [wire(event) async for event in self.service.stream(turn)]

    async def aborted(self, turn: VoiceTurn) -> None:
        """The turn, cancelled once the model has started answering."""
        started = asyncio.Event()

        async def consume() -> None:
            async for event in self.service.stream(turn):
                if isinstance(event, TokenEvent):
                    started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def turn_recordings() -> tuple[dict[str, bytes], bytes]:
    recordings = {name: noise(seconds, seed) for seed, (name, seconds) in enumerate(
        [("silent", 0.5), ("too_long", MAX_AUDIO_S + 1), ("answered", 0.5), ("aborted", 0.5), ("again", 0.5),
         ("short", 0.04)]
    )}  # fmt: skip
    return recordings, b"RIFF\x00\x00\x00\x00WAVEjunk" + noise(0.5, 99)[44:]


async def play(tmp_path: Path, saver: BaseCheckpointSaver, recordings: dict[str, bytes], invalid: bytes) -> list[bytes]:
    """Turns that fail (no speech, twice; too long; invalid), one answered, one aborted mid-answer, one in a new
    session; the reply audio the answered turns sent."""
    turns = Turns(tmp_path, saver)
    try:
        turns.speech.fake_stt.text = ""  # nothing recognised
        with pytest.raises(AudioError, match="no speech"):
            await turns.events(VoiceTurn("s1", audio=recordings["silent"], audio_format="wav"))
        with pytest.raises(AudioError, match="no speech"):  # short enough to be logged whole before
            await turns.events(VoiceTurn("s1", audio=recordings["short"], audio_format="wav"))
        turns.speech.fake_stt.text = "Will it rain?"
        with pytest.raises(AudioError) as too_long:
            await turns.events(VoiceTurn("s1", audio=recordings["too_long"], audio_format="wav"))
        assert too_long.value.code == "audio_too_long"
        with pytest.raises(AudioError) as bad:
            await turns.events(VoiceTurn("s1", audio=invalid))
        assert bad.value.code == "invalid_audio"
        answered = await turns.events(VoiceTurn("s1", audio=recordings["answered"], audio_format="wav"))
        assert answered[-1]["transcript"] == "Will it rain?"
        turns.model.token_delay_s = 0.05
        await turns.aborted(VoiceTurn("s1", audio=recordings["aborted"], audio_format="wav"))
        turns.model.token_delay_s = 0.0
        again = await turns.events(VoiceTurn("s2", audio=recordings["again"], audio_format="wav"))
        assert again[-1]["type"] == "done"
        assert [m.content for m in await turns.service.history("s1")][:2] == [
            "Will it rain?",
            answered[-1]["reply"],
        ]
    finally:
        turns.runlog.close()
    replies = sent_audio(answered) + sent_audio(again)
    assert [e.get("type") for e in answered].count("audio") == 1 and len(replies) >= 4, "the replies were spoken"
    return replies


def assert_failed_recording_logged_as_size_and_hash(runlog: Path, recording: bytes) -> None:
    (row,) = [r for r in recent_runs(runlog, 20, graph="voice") if str(len(recording)) in (r["input"] or "")]
    assert row["status"] == "error" and "no speech" in row["error"]
    assert f'"bytes": {len(recording)}, "sha256": "{hashlib.sha256(recording).hexdigest()}"' in row["input"]


async def test_no_checkpoint_or_run_log_row_holds_a_recording_or_a_reply_after_failing_aborted_and_answered_turns(
    tmp_path,
):
    path = tmp_path / "checkpoints.sqlite"
    recordings, invalid = turn_recordings()
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        replies = await play(tmp_path, saver, recordings, invalid)
        read_back = await through_checkpointer(saver)
    stored = sqlite_rows(path)
    tables = [name.split(": ")[1].rsplit(" row ", 1)[0] for name in stored]
    # the answered turns' checkpoints, the cut-short aborted turn and the copy that rolled it back (a first turn
    # that failed is rolled back by clearing its session, writes and all: the saved writes of every durability
    # are scanned by the test below)
    assert tables.count("checkpoints") >= 4, "each kept turn left its checkpoint"
    assert any("Will it rain?" in repr(value) for value in read_back.values()), "the scan reads content"
    clips = [*recordings.values(), invalid, *replies]
    assert leaks(stored | raw_files(path) | read_back, clips) == []
    logged = runlog_files(tmp_path / "runs.duckdb")
    assert any(b"Will it rain?" in blob for blob in logged.values()), "the scan reads the run log's rows"
    assert leaks(logged, clips) == []
    assert_failed_recording_logged_as_size_and_hash(tmp_path / "runs.duckdb", recordings["short"])


async def test_no_postgres_or_run_log_row_holds_a_recording_or_a_reply_after_failing_aborted_and_answered_turns(
    tmp_path, postgres_url
):
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    recordings, invalid = turn_recordings()
    async with AsyncPostgresSaver.from_conn_string(postgres_url) as saver:
        await saver.setup()
        replies = await play(tmp_path, saver, recordings, invalid)
        read_back = await through_checkpointer(saver)
    found = postgres_rows(postgres_url)
    tables = [name.rsplit(" row ", 1)[0] for name in found]
    # the kept turns' checkpoints (failed first turns are rolled back with their writes: the saved writes of every
    # durability are scanned by the test below)
    assert tables.count("checkpoints") >= 4, "each kept turn checkpointed"
    assert any(b"Will it rain?" in blob for blob in found.values()), "the scan reads content"
    clips = [*recordings.values(), invalid, *replies]
    assert leaks(found | read_back, clips) == []
    assert leaks(runlog_files(tmp_path / "runs.duckdb"), clips) == []


@pytest.mark.parametrize("durability", ["async", "sync", "exit"])
async def test_no_checkpoint_or_run_log_row_holds_a_recording_or_a_reply_sent_through_the_graph(tmp_path, durability):
    """As under ``langgraph dev``: the module's graph with a server's checkpointer and the run-log callback, the
    recording in the input, the spoken reply in the run's last values."""
    from graphs.voice import builder
    from graphs.voice_state import VoiceContext

    path = tmp_path / "checkpoints.sqlite"
    recordings = [noise(0.5, 10), noise(0.04, 11), noise(MAX_AUDIO_S + 1, 12), noise(0.5, 13)]
    replies: list[bytes] = []
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        turns = Turns(tmp_path, saver)
        graph = builder.compile(checkpointer=saver, name="voice").with_config(callbacks=[RunLogCallback(turns.runlog)])
        try:
            for recording, text in zip(recordings, ["Will it rain?", "", "Will it rain?", "Or snow?"], strict=True):
                turns.speech.fake_stt.text = text
                inputs = {"audio": base64.b64encode(recording).decode(), "audio_format": "wav"}
                config: Any = {"configurable": {"thread_id": "t1"}}
                try:
                    final = await graph.ainvoke(
                        inputs, config, context=VoiceContext(resources=turns.resources), durability=durability
                    )
                except AudioError:
                    assert text == "" or recording is recordings[2]
                else:
                    replies.append(base64.b64decode(final["speech"]))
            history = [snapshot async for snapshot in graph.aget_state_history({"configurable": {"thread_id": "t1"}})]
            read_back = await through_checkpointer(saver)
        finally:
            turns.runlog.close()

    assert len(replies) == 2 and all(replies), "the run's values carried the spoken reply"
    assert history and all(not snapshot.values.get("audio") for snapshot in history)
    assert all(not snapshot.values.get("speech") for snapshot in history)
    clips = [*recordings, *replies]
    assert leaks(sqlite_rows(path) | raw_files(path) | read_back, clips) == []
    assert leaks(runlog_files(tmp_path / "runs.duckdb"), clips) == []
    assert_failed_recording_logged_as_size_and_hash(tmp_path / "runs.duckdb", recordings[1])

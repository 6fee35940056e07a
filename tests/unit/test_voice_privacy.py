"""Recordings never reach the checkpointer: a run of failing, aborted and answered audio turns through
VoiceService on a real SQLite checkpoint file, or a real Postgres database, leaves no trace of the audio in any row
of any table."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources, set_resources
from workbench.runlog import RunLog, RunLogCallback
from workbench.runtime import LocalRuntime
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel
from workbench.testing_speech import FakeSpeech, FakeSTT, FakeTTS
from workbench.voice.audio import AudioError, wav_bytes
from workbench.voice.service import VoiceService, VoiceTurn

MAX_AUDIO_S = 2.0


def noise(seconds: float, seed: int) -> bytes:
    """A wav of seeded noise: every slice of it (raw or base64) is unique to it."""
    samples = np.random.default_rng(seed).uniform(-0.5, 0.5, int(16_000 * seconds))
    return wav_bytes(samples, 16_000)


def traces(recording: bytes) -> list[bytes]:
    """What would betray a recording: its bytes, its base64, and slices of both."""
    encoded = base64.b64encode(recording)
    return [recording, encoded, recording[1000:1048], encoded[2000:2064], encoded[-64:]]


def rows(path: Path) -> list[tuple[str, list[Any]]]:
    """Every row of every table of a SQLite file, blobs also decoded with the checkpointer's serializer."""
    serde = JsonPlusSerializer()
    found: list[tuple[str, list[Any]]] = []
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            cursor = db.execute(f'select * from "{table}"')  # the names come from the file itself
            columns = [c[0] for c in cursor.description]
            for row in cursor:
                values = list(row)
                record = dict(zip(columns, row, strict=True))
                for blob_column, type_column in (("checkpoint", "type"), ("value", "type")):
                    if isinstance(record.get(blob_column), bytes) and record.get(type_column):
                        values.append(serde.loads_typed((record[type_column], record[blob_column])))
                found.append((table, values))
    assert {"checkpoints", "writes"} <= set(tables)
    return found


def postgres_rows(url: str) -> list[tuple[str, list[Any]]]:
    """Every row of every table of a Postgres database, blobs also decoded with the checkpointer's serializer."""
    import psycopg

    serde = JsonPlusSerializer()
    found: list[tuple[str, list[Any]]] = []
    with psycopg.connect(url) as db:
        tables = [name for (name,) in db.execute("select tablename from pg_tables where schemaname = 'public'")]
        for table in tables:
            cursor = db.execute(f'select * from "{table}"')  # the names come from the database itself
            columns = [c.name for c in cursor.description or []]
            for row in cursor:
                values = [bytes(v) if isinstance(v, memoryview) else v for v in row]
                record = dict(zip(columns, values, strict=True))
                if isinstance(record.get("blob"), bytes) and record.get("type") not in (None, "empty"):
                    values.append(serde.loads_typed((record["type"], record["blob"])))
                found.append((table, values))
    assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes"} <= set(tables)
    return found


def leaks(path: Path | list[tuple[str, list[Any]]], recordings: list[bytes]) -> list[str]:
    """``table: trace`` for each row (of a SQLite file, or rows already read) holding a trace of a recording."""
    out = []
    for table, values in rows(path) if isinstance(path, Path) else path:
        for value in values:
            text = value if isinstance(value, bytes) else repr(value).encode()
            for recording in recordings:
                for trace in traces(recording):
                    if trace in text:
                        out.append(f"{table}: {len(trace)} bytes of a recording")
    return out


class Turns:
    def __init__(self, tmp_path: Path, saver: BaseCheckpointSaver) -> None:
        self.settings = Settings(home=tmp_path, llm="fake", max_audio_s=MAX_AUDIO_S)
        self.model = ScriptedChatModel(default="It is sunny. Take a hat.")
        self.speech = FakeSpeech(self.settings, stt=FakeSTT("Will it rain?"), tts=FakeTTS())
        self.resources = Resources(
            self.settings, speech=self.speech, models=ModelRegistry(self.settings, {"fake": self.model})
        )
        self.runlog = RunLog(tmp_path / "runs.duckdb")
        self.service = VoiceService(self.settings, LocalRuntime(saver), RunLogCallback(self.runlog))

    async def events(self, turn: VoiceTurn) -> list[dict[str, Any]]:
        return [event async for event in self.service.stream(turn)]

    async def aborted(self, turn: VoiceTurn) -> None:
        """The turn, cancelled once the model has started answering."""
        started = asyncio.Event()

        async def consume() -> None:
            stream: AsyncIterator[dict[str, Any]] = self.service.stream(turn)
            async for event in stream:
                if event["type"] == "token":
                    started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def turn_recordings() -> tuple[dict[str, bytes], bytes]:
    recordings = {name: noise(seconds, seed) for seed, (name, seconds) in enumerate(
        [("silent", 0.5), ("too_long", MAX_AUDIO_S + 1), ("answered", 0.5), ("aborted", 0.5), ("again", 0.5)]
    )}  # fmt: skip
    return recordings, b"RIFF\x00\x00\x00\x00WAVEjunk" + noise(0.5, 99)[44:]


async def play(tmp_path: Path, saver: BaseCheckpointSaver, recordings: dict[str, bytes], invalid: bytes) -> None:
    """Turns that fail (no speech, too long, invalid), one answered, one aborted mid-answer, one in a new session."""
    turns = Turns(tmp_path, saver)
    previous = set_resources(turns.resources)
    try:
        turns.speech.fake_stt.text = ""  # nothing recognised
        with pytest.raises(AudioError, match="no speech"):
            await turns.events(VoiceTurn("s1", audio=recordings["silent"], audio_format="wav"))
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
        set_resources(previous)
        turns.runlog.close()


async def test_no_checkpoint_row_holds_a_recording_after_failing_aborted_and_answered_turns(tmp_path):
    path = tmp_path / "checkpoints.sqlite"
    recordings, invalid = turn_recordings()
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await play(tmp_path, saver, recordings, invalid)
    tables = [table for table, _ in rows(path)]
    assert tables.count("checkpoints") >= 6 and tables.count("writes") >= 3, "each turn left its checkpoint"
    assert leaks(path, [*recordings.values(), invalid]) == []


async def test_no_postgres_row_holds_a_recording_after_failing_aborted_and_answered_turns(tmp_path, postgres_url):
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    recordings, invalid = turn_recordings()
    async with AsyncPostgresSaver.from_conn_string(postgres_url) as saver:
        await saver.setup()
        await play(tmp_path, saver, recordings, invalid)
    found = postgres_rows(postgres_url)
    tables = [table for table, _ in found]
    assert tables.count("checkpoints") >= 6 and tables.count("checkpoint_writes") >= 3, "each turn checkpointed"
    assert any("Will it rain?" in repr(value) for _, values in found for value in values), "the scan reads content"
    assert leaks(found, [*recordings.values(), invalid]) == []


@pytest.mark.parametrize("durability", ["async", "sync", "exit"])
async def test_no_checkpoint_row_holds_a_recording_sent_as_graph_input(tmp_path, durability):
    """As under ``langgraph dev``: the module's graph with a server's checkpointer, the recording in the input."""
    from graphs.voice import builder
    from graphs.voice_state import VoiceContext

    path = tmp_path / "checkpoints.sqlite"
    recordings = [noise(0.5, 10), noise(0.5, 11), noise(MAX_AUDIO_S + 1, 12)]
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        turns = Turns(tmp_path, saver)
        graph = builder.compile(checkpointer=saver, name="voice")
        previous = set_resources(turns.resources)
        try:
            for recording, text in zip(recordings, ["Will it rain?", "", "Will it rain?"], strict=True):
                turns.speech.fake_stt.text = text
                inputs = {"audio": base64.b64encode(recording).decode(), "audio_format": "wav"}
                config: Any = {"configurable": {"thread_id": "t1"}}
                try:
                    await graph.ainvoke(inputs, config, context=VoiceContext(), durability=durability)
                except AudioError:
                    assert text == "" or recording is recordings[2]
            history = [snapshot async for snapshot in graph.aget_state_history({"configurable": {"thread_id": "t1"}})]
        finally:
            set_resources(previous)
            turns.runlog.close()

    assert history and all(not snapshot.values.get("audio") for snapshot in history)
    assert leaks(path, recordings) == []

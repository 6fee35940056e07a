"""The Voice tab's live conversation with fake engines: a browser's 48 kHz chunks become turns with partial and final
transcripts, a reply, its audio for the player and a waterfall; speech over a reply interrupts it."""

from __future__ import annotations

import asyncio
import wave
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog, RunLogCallback, get_run
from workbench.runtime import LocalRuntime
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, flushed
from workbench.testing_speech import FakeSpeech, FakeSTT, FakeTTS
from workbench.turns.voice import VoiceService
from workbench.ui.voice_live import Conversation, to_stream_rate, waterfall_markdown
from workbench.voice.audio import decode_audio

SPEECH = Path(__file__).resolve().parents[2] / "datasets" / "speech"
REPLY = "It will rain. Take an umbrella. And a coat."


@pytest.fixture(scope="module")
def hotwords_48k() -> np.ndarray:
    data = (SPEECH / "hotwords.mp3").read_bytes()
    samples = decode_audio(data, "mp3", max_bytes=len(data), max_seconds=60).samples
    return (np.interp(np.arange(len(samples) * 3) / 3, np.arange(len(samples)), samples) * 32767).astype(np.int16)


def make(tmp_path, token_delay_s: float = 0.0) -> tuple[Conversation, RunLog]:
    from langgraph.checkpoint.memory import InMemorySaver

    settings = Settings(home=tmp_path, llm="fake", partial_interval_s=0.5)
    models = ModelRegistry(settings, {"fake": ScriptedChatModel(default=REPLY, token_delay_s=token_delay_s)})
    speech = FakeSpeech(settings, stt=FakeSTT("Will it rain?"), tts=FakeTTS())
    resources = Resources(settings, speech=speech, models=models)
    runlog = RunLog(tmp_path / "runs.duckdb")
    service = VoiceService(resources, LocalRuntime(InMemorySaver(), resources=resources), RunLogCallback(runlog))
    return Conversation(service, speech.stt(), "live", {"model": "fake"}), runlog


async def speak(live: Conversation, samples: np.ndarray) -> None:
    for at in range(0, len(samples), 4800):  # 100 ms browser chunks
        await live.feed(48_000, samples[at : at + 4800])
        await asyncio.sleep(0.002)


def test_browser_chunks_become_16_khz_mono():
    stereo = np.stack([np.full(4800, 1000, np.int16), np.full(4800, 3000, np.int16)], axis=1)
    mono = to_stream_rate(48_000, stereo)
    assert len(mono) == 1600 and mono.dtype == np.int16 and abs(int(mono[10]) - 2000) <= 1


async def test_a_spoken_turn_shows_partials_its_transcript_the_reply_audio_and_the_waterfall(tmp_path, hotwords_48k):
    live, runlog = make(tmp_path)
    try:
        await speak(live, hotwords_48k[: 48_000 * 2])
        assert live.partial == "Will it rain?" and not live.transcript
        await speak(live, np.concatenate([hotwords_48k[48_000 * 2 :], np.zeros(48_000 * 2, np.int16)]))
        assert live._reply is not None
        await live._reply
        assert (live.transcript, live.reply, live.partial) == ("Will it rain?", REPLY, "")
        assert live.status.startswith("Answered")
        clip = live.next_audio()
        assert clip is not None and live.next_audio() is None, "the next sentences wait for the player"
        with wave.open(BytesIO(clip)) as played:
            assert played.getnframes() > 0
        assert set(live.marks) == {"end", "final", "token", "sentence", "audio"}
        assert live.marks["end"] <= live.marks["final"] <= live.marks["token"] <= live.marks["audio"]
        assert "–" not in waterfall_markdown(live.marks) and waterfall_markdown({}).count("–") == 4
    finally:
        await live.close()
        runlog.close()


async def test_speech_over_the_reply_interrupts_it(tmp_path, hotwords_48k):
    live, runlog = make(tmp_path, token_delay_s=0.2)
    try:
        await speak(live, np.concatenate([hotwords_48k, np.zeros(48_000, np.int16)]))
        reply = live._reply
        assert reply is not None and not reply.done()
        run_id = live._run_id
        await speak(live, hotwords_48k[:48_000])
        assert reply.cancelled() and live.status == "Interrupted." and live.silenced
        assert live.interrupted == {"transcript": "Will it rain?", "spoken": " ".join(live.spoken)}
        assert flushed(runlog)
        row: Any = get_run(runlog, run_id)
        assert row["status"] == "interrupted"
    finally:
        await live.close()
        runlog.close()

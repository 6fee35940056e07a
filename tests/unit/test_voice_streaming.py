"""SpeechStream on real speech with a fake transcriber: frames checked, turns found, partial and final transcripts,
the end of a turn decided by its transcript, the duration limit, and a turn ended by the client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.events import Event, PartialTranscriptionEvent, SpeechStartedEvent, SpeechStoppedEvent
from workbench.settings import Settings
from workbench.testing_speech import FakeSTT
from workbench.voice.audio import decode_audio
from workbench.voice.streaming import SpeechStream, StreamError, Utterance, check_stream, ends_sentence

SPEECH = Path(__file__).resolve().parents[2] / "datasets" / "speech"
FRAME = 320  # 20 ms


@pytest.fixture(scope="module")
def hotwords() -> np.ndarray:
    """4 s of speech with no pause in it."""
    data = (SPEECH / "hotwords.mp3").read_bytes()
    return decode_audio(data, "mp3", max_bytes=len(data), max_seconds=60).samples


def pcm(samples: np.ndarray) -> list[bytes]:
    whole = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return [whole[i : i + 2 * FRAME] for i in range(0, len(whole) - 2 * FRAME + 1, 2 * FRAME)]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(16000 * seconds), dtype=np.float32)


class Heard:
    """A listener that writes down what it is told, in order."""

    def __init__(self) -> None:
        self.told: list[Any] = []
        self.frames = 0

    async def hear(self, event: Event) -> None:
        self.told.append((self.frames, event))

    async def turn_heard(self, utterance: Utterance) -> None:
        self.told.append((self.frames, utterance))

    async def turn_refused(self, error: WorkbenchError) -> None:
        self.told.append((self.frames, error))

    async def pausing(self, text: str) -> None:
        self.told.append((self.frames, ("pausing", text)))

    async def resumed(self) -> None:
        self.told.append((self.frames, ("resumed",)))

    def said(self) -> list[Any]:
        return [item for _, item in self.told if isinstance(item, tuple)]

    def of(self, kind: type) -> list[Any]:
        return [item for _, item in self.told if isinstance(item, kind)]

    def frame_of(self, kind: type) -> int:
        return next(frame for frame, item in self.told if isinstance(item, kind))


async def stream_through(stream: SpeechStream, listener: Heard, samples: np.ndarray) -> None:
    for frame in pcm(samples):
        listener.frames += 1
        await stream.feed(frame)
        await asyncio.sleep(0.002)  # the transcriptions' threads report back between frames, as between real ones
    await asyncio.gather(*stream._tasks)


def make(tmp_path, text: str, **settings: Any) -> tuple[SpeechStream, Heard, FakeSTT]:
    stt, listener = FakeSTT(text), Heard()
    stream = SpeechStream(stt, Settings(home=tmp_path, llm="fake", **settings), listener)
    return stream, listener, stt


async def test_a_spoken_sentence_gives_started_partials_stopped_then_its_transcript(tmp_path, hotwords):
    stream, listener, stt = make(tmp_path, "Will it rain today?", partial_interval_s=1.0)
    await stream_through(stream, listener, np.concatenate([silence(0.5), hotwords, silence(2.0)]))
    told = [item for _, item in listener.told if not isinstance(item, PartialTranscriptionEvent | tuple)]
    kinds = [type(item).__name__ for item in told]
    assert kinds == ["SpeechStartedEvent", "SpeechStoppedEvent", "Utterance"], listener.told
    started = listener.of(SpeechStartedEvent)[0]
    assert 0.4 <= started.at_s <= 0.8
    partials = listener.of(PartialTranscriptionEvent)
    assert len(partials) >= 2 and all(p.text == "Will it rain today?" for p in partials)
    assert listener.frame_of(PartialTranscriptionEvent) < listener.frame_of(SpeechStoppedEvent)
    stopped = listener.of(SpeechStoppedEvent)[0]
    assert stopped.at_s == pytest.approx(4.5, abs=0.3)
    utterance = listener.of(Utterance)[0]
    assert utterance.text == "Will it rain today?" and utterance.model == "fake/stt"
    assert utterance.audio_s == pytest.approx(stt.calls[-1], abs=0.01) and utterance.audio_s > 3.5
    silent_frames = listener.frame_of(SpeechStoppedEvent) - int(stopped.at_s * 50)
    assert silent_frames < 1500 / 20, "a transcript that ends a sentence ends the turn before the longest silence"


async def test_a_pause_mid_sentence_waits_for_the_longest_silence(tmp_path, hotwords):
    stream, listener, _ = make(tmp_path, "And so my fellow Americans,")
    await stream_through(stream, listener, np.concatenate([hotwords, silence(2.0)]))
    stopped = listener.of(SpeechStoppedEvent)[0]
    waited_ms = (listener.frame_of(SpeechStoppedEvent) - stopped.at_s * 50) * 20
    assert 1400 <= waited_ms <= 1600
    assert [u.text for u in listener.of(Utterance)] == ["And so my fellow Americans,"]


async def test_two_utterances_a_second_apart_are_two_turns(tmp_path, hotwords):
    stream, listener, _ = make(tmp_path, "Hello there.")
    await stream_through(stream, listener, np.concatenate([hotwords, silence(1.0), hotwords, silence(1.0)]))
    assert len(listener.of(SpeechStartedEvent)) == 2 and len(listener.of(Utterance)) == 2
    assert stream.turns == 2


async def test_a_turn_with_no_words_is_refused_as_no_speech(tmp_path, hotwords):
    stream, listener, _ = make(tmp_path, "")
    await stream_through(stream, listener, np.concatenate([hotwords, silence(2.0)]))
    assert not listener.of(PartialTranscriptionEvent) and not listener.of(Utterance)
    assert [e.code for e in listener.of(StreamError)] == ["no_speech"]


async def test_a_turn_over_the_duration_limit_is_dropped_and_the_next_one_is_heard(tmp_path, hotwords):
    stream, listener, _ = make(tmp_path, "Hello there.", max_audio_s=2.0)
    errors = []
    for frame in pcm(np.concatenate([hotwords, silence(2.0), hotwords[: 16000 * 1], silence(1.0)])):
        try:
            await stream.feed(frame)
        except StreamError as exc:
            errors.append(exc.code)
        await asyncio.sleep(0.002)
    await asyncio.gather(*stream._tasks)
    assert errors == ["audio_too_long"]
    assert len(listener.of(SpeechStartedEvent)) == 2 and len(listener.of(Utterance)) == 1


async def test_finish_ends_the_turn_in_progress(tmp_path, hotwords):
    stream, listener, _ = make(tmp_path, "Stop right")
    await stream_through(stream, listener, hotwords[: 16000 * 2])
    assert stream.in_turn and not listener.of(Utterance)
    await stream.finish()
    await asyncio.gather(*stream._tasks)
    assert [u.text for u in listener.of(Utterance)] == ["Stop right"] and not stream.in_turn


@pytest.mark.parametrize(
    ("frame", "message"),
    [(b"\x00" * 641, "odd 641 bytes"), (b"\x00" * 100, "got 100 bytes"), (b"\x00" * 3202, "got 3202 bytes")],
)
async def test_bad_frames_are_refused_and_the_stream_goes_on(tmp_path, hotwords, frame, message):
    stream, listener, _ = make(tmp_path, "Hello there.")
    with pytest.raises(StreamError, match=message) as caught:
        await stream.feed(frame)
    assert caught.value.code == "invalid_frame" and stream.received == 0
    await stream_through(stream, listener, np.concatenate([hotwords, silence(1.0)]))
    assert len(listener.of(Utterance)) == 1


def test_only_16_khz_pcm_s16le_streams():
    check_stream(16000, "pcm_s16le")
    for rate, format in [(48000, "pcm_s16le"), (16000, "opus")]:
        with pytest.raises(StreamError, match="16000 Hz mono pcm_s16le") as caught:
            check_stream(rate, format)
        assert caught.value.code == "unsupported_format"


def test_sentence_ends():
    assert all(map(ends_sentence, ["Hello.", "Is it?", "Stop!", 'He said "go."']))
    assert not any(map(ends_sentence, ["And so,", "ask not what", "Well...", ""]))


async def test_close_cancels_pending_transcriptions(tmp_path, hotwords):
    stt, listener = FakeSTT("Slow.", delay_s=0.2), Heard()
    stream = SpeechStream(stt, Settings(home=tmp_path, llm="fake", partial_interval_s=0.5), listener)
    for frame in pcm(hotwords[:16000]):
        await stream.feed(frame)
    assert stream._tasks
    pending = list(stream._tasks)
    stream.close()
    await asyncio.gather(*pending, return_exceptions=True)
    assert all(task.cancelled() for task in pending) and not listener.of(PartialTranscriptionEvent)


async def test_a_pause_that_ended_a_sentence_ends_the_turn_even_when_its_transcript_comes_late(tmp_path, hotwords):
    stt, listener = FakeSTT("Hello there.", delay_s=1.5), Heard()
    stream = SpeechStream(stt, Settings(home=tmp_path, llm="fake"), listener)
    await stream_through(stream, listener, np.concatenate([hotwords, silence(1.0), hotwords, silence(2.5)]))
    assert len(listener.of(SpeechStartedEvent)) == 2 and len(listener.of(Utterance)) == 2
    first, second = listener.of(SpeechStoppedEvent)
    assert first.at_s == pytest.approx(4.0, abs=0.2) and second.at_s > 8.5


async def test_a_pause_whose_words_end_a_sentence_is_told_before_the_turn_ends(tmp_path, hotwords):
    stream, listener, _ = make(tmp_path, "Will it rain today?")
    await stream_through(stream, listener, np.concatenate([hotwords, silence(2.0)]))
    assert listener.said() == [("pausing", "Will it rain today?")]
    paused = next(frame for frame, item in listener.told if isinstance(item, tuple))
    assert paused < listener.frame_of(SpeechStoppedEvent) <= listener.frame_of(Utterance)


async def test_a_pause_mid_sentence_is_not_told(tmp_path, hotwords):
    stream, listener, _ = make(tmp_path, "And so my fellow Americans,")
    await stream_through(stream, listener, np.concatenate([hotwords, silence(2.0)]))
    assert listener.said() == [] and len(listener.of(Utterance)) == 1


async def test_speech_after_a_short_pause_says_the_turn_goes_on(tmp_path, hotwords):
    stream, listener, _ = make(tmp_path, "Hello there.")
    await stream_through(stream, listener, np.concatenate([hotwords, silence(0.25), hotwords, silence(2.0)]))
    assert listener.said() == [("pausing", "Hello there."), ("resumed",), ("pausing", "Hello there.")]
    assert len(listener.of(Utterance)) == 1 and len(listener.of(SpeechStartedEvent)) == 1

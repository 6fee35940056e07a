"""Silero VAD window by window on a stream, and the turns it marks: start, pause, resume, end, a dropped turn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.voice.audio import decode_audio
from workbench.voice.vad import WINDOW, StreamingVAD, TurnTracker

SPEECH = Path(__file__).resolve().parents[2] / "datasets" / "speech"


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    data = (SPEECH / "jfk.flac").read_bytes()
    return decode_audio(data, "flac", max_bytes=len(data), max_seconds=60).samples


def test_streamed_frames_score_as_faster_whispers_whole_recording_pass(jfk):
    from faster_whisper.vad import get_vad_model

    padded = np.pad(jfk, (0, WINDOW - len(jfk) % WINDOW))
    whole = np.asarray(get_vad_model()(padded)).reshape(-1)
    vad = StreamingVAD()
    sizes = [160, 320, 1600, 480, 800]  # 10 to 100 ms frames, none aligned on windows
    scores: list[float] = []
    at = 0
    while at < len(jfk):
        size = sizes[len(scores) % len(sizes)]
        scores.extend(vad(jfk[at : at + size]))
        at += size
    assert len(scores) == len(jfk) // WINDOW
    assert np.allclose(scores, whole[: len(scores)], atol=1e-5)
    assert sum(s >= 0.5 for s in scores) > len(scores) / 2, "most of the clip is speech"


def test_reset_starts_the_stream_from_silence(jfk):
    vad = StreamingVAD()
    first = vad(jfk[:16000])
    vad(jfk[16000:48000])
    vad.reset()
    assert vad(jfk[:16000]) == first


def tracked(tracker: TurnTracker, scores: list[float]) -> list[tuple[int, str]]:
    return [(i, change) for i, s in enumerate(scores) if (change := tracker.update(s))]


def test_a_turn_starts_after_enough_speech_pauses_resumes_and_ends_after_the_longest_silence():
    tracker = TurnTracker.of(0.5, start_ms=96, pause_ms=160, end_ms=640)
    assert (tracker.start_windows, tracker.pause_windows, tracker.end_windows) == (3, 5, 20)
    scores = [0.9, 0.1, 0.9, 0.9, 0.9] + [0.9] * 5 + [0.1] * 6 + [0.9] * 2 + [0.1] * 20
    assert tracked(tracker, scores) == [(4, "start"), (14, "pause"), (16, "resume"), (22, "pause"), (37, "end")]
    assert not tracker.in_turn


def test_scores_between_the_thresholds_continue_speech_but_not_silence():
    tracker = TurnTracker.of(0.5, start_ms=32, pause_ms=64, end_ms=320)
    assert tracked(tracker, [0.9, 0.4, 0.4, 0.4]) == [(0, "start")], "0.4 after speech is still speech"
    assert tracker.silence == 0
    assert tracked(tracker, [0.2, 0.4, 0.4]) == [(1, "pause")], "0.4 after silence is silence"
    assert tracker.silence == 3


def test_a_dropped_turn_starts_again_only_after_a_silence_long_enough_to_end_one():
    tracker = TurnTracker.of(0.5, start_ms=32, pause_ms=64, end_ms=128)
    tracker.update(0.9)
    tracker.drop()
    assert tracked(tracker, [0.9] * 10 + [0.1] * 3) == [], "speech going on, then too short a silence"
    assert tracked(tracker, [0.1, 0.9]) == [(1, "start")]

"""The bundled Whisper (tiny.en) reading a short encoder window: the same words as its full 30 s window, from an
encoder pass over the utterance and its silence floor only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.integration.conftest import ROOT
from tests.microphone import clip
from workbench.settings import Settings
from workbench.voice.audio import DecodedAudio
from workbench.voice.metrics import word_error_rate
from workbench.voice.stt import local_stt

pytestmark = pytest.mark.integration

SPEECH = ROOT / "datasets" / "speech"


def encoder_widths(stt) -> list[int]:
    """Spy on the CTranslate2 encoder under faster-whisper: the number of feature frames of every pass."""
    model = stt.load()
    widths: list[int] = []
    real = model.model

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def encode(self, features, *args, **kwargs):
            widths.append(features.shape[-1])
            return real.encode(features, *args, **kwargs)

    model.model = Spy()
    return widths


@pytest.mark.parametrize("name", ["jfk.flac", "hotwords.mp3"])
def test_a_short_window_hears_what_the_full_window_hears(name):
    samples = clip(SPEECH / name)
    audio = DecodedAudio(samples=samples, format="wav")
    full = local_stt(Settings(stt_window_s=30))
    short = local_stt(Settings())
    full_widths, short_widths = encoder_widths(full), encoder_widths(short)

    heard_full, heard_short = full.transcribe(audio), short.transcribe(audio)

    assert full_widths == [3000], "faster-whisper pads to Whisper's 30 s window"
    assert short_widths and max(short_widths) <= max(1000, len(samples) // 160 + 101) < 3000
    assert word_error_rate(heard_full.text, heard_short.text) <= 0.2, (heard_full.text, heard_short.text)
    references = {row["file"]: row["text"] for row in map(json.loads, (SPEECH / "transcripts.jsonl").open())}
    if name in references:
        assert word_error_rate(references[name], heard_short.text) <= 0.15, heard_short.text


def test_silence_in_a_short_window_is_no_words():
    stt = local_stt(Settings())
    quiet = DecodedAudio(samples=np.zeros(32_000, dtype=np.float32), format="wav")
    assert stt.transcribe(quiet).text == ""

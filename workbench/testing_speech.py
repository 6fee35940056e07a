"""Fake speech engines for tests and benchmarks of the voice protocols: no model, deterministic, fast."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from workbench.errors import ProviderUnavailable
from workbench.sentences import split_sentences
from workbench.settings import Settings
from workbench.voice.audio import DecodedAudio, wav_bytes
from workbench.voice.engines import SpeechEngines
from workbench.voice.stt import Transcript
from workbench.voice.tts import Speech


class FakeSTT:
    """Returns ``text`` for any audio (``""`` simulates silence)."""

    def __init__(self, text: str = "What is the weather like today?", delay_s: float = 0.0) -> None:
        self.text = text
        self.delay_s = delay_s
        self.name = "fake/stt"
        self.calls: list[float] = []

    def transcribe(self, audio: DecodedAudio) -> Transcript:
        time.sleep(self.delay_s)
        self.calls.append(audio.duration_s)
        return Transcript(self.text, self.name, "en", audio.duration_s, self.delay_s)


class FakeTTS:
    """One 440 Hz tone per sentence (0.05 s per word at 16 kHz), after ``delay_s`` per sentence."""

    def __init__(self, delay_s: float = 0.0, *, fail: bool = False, name: str = "fake/tts") -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.name = name
        self.spoken: list[str] = []

    def stream(self, text: str) -> Iterator[Speech]:
        if self.fail:
            raise ProviderUnavailable(f"{self.name} is unreachable")
        for sentence in split_sentences(text):
            time.sleep(self.delay_s)
            seconds = 0.05 * len(sentence.split())
            t = np.arange(int(16_000 * seconds)) / 16_000
            self.spoken.append(sentence)
            yield Speech(
                audio=wav_bytes(0.3 * np.sin(2 * np.pi * 440 * t), 16_000),
                format="wav",
                duration_s=seconds,
                elapsed_s=self.delay_s,
                voice=self.name,
                text=sentence,
            )


class FakeSpeech(SpeechEngines):
    """Fake engines for every spec (pass it as ``Resources(speech=...)``)."""

    def __init__(self, settings: Settings | None = None, stt: FakeSTT | None = None, tts: FakeTTS | None = None):
        super().__init__(settings or Settings())
        self.fake_stt = stt or FakeSTT()
        self.fake_tts = tts or FakeTTS()

    def stt(self, spec: str | None = None) -> FakeSTT:
        return self.fake_stt

    def tts(self, spec: str | None = None) -> FakeTTS:
        return self.fake_tts

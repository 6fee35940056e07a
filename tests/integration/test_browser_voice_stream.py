"""A real browser talks live to the Voice tab of a real server: Chromium's fake microphone plays the JFK sentence
(then silence) into the tab's streaming microphone; the page shows a partial transcript while it plays, then the
final transcript of the last turn (the orator's 1.1 s pauses after whole sentences end turns, by default), the
reply, its audio and the turn's waterfall. Real Silero VAD, faster-whisper tiny.en and Piper
joe-us; the scripted fake model answers, for speed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.integration.conftest import ROOT, Server, chromium, running_server
from workbench.voice.audio import decode_audio, wav_bytes

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.timeout(600)]

MEDIA_FLAGS = [
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
TURN_TIMEOUT_MS = 180_000  # the first turn loads Whisper and Piper on a busy two-core machine


@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory) -> Path:
    """Half a second of silence, the JFK sentence, then four seconds of silence (the fake microphone loops it), as
    the 16-bit PCM WAV Chromium's fake capture reads."""
    data = (ROOT / "datasets" / "speech" / "jfk.flac").read_bytes()
    speech = decode_audio(data, max_bytes=len(data), max_seconds=60).samples
    quiet = np.zeros(8000, dtype=np.float32)
    path = tmp_path_factory.mktemp("speech") / "jfk-then-silence.wav"
    path.write_bytes(wav_bytes(np.concatenate([quiet, speech, quiet.repeat(8)]), 16_000))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("home"), WORKBENCH_LLM="fake/scripted") as started:
        yield started


def test_the_voice_tab_hears_the_microphone_live_and_answers(spoken_wav, server, tmp_path):
    from playwright.sync_api import expect

    with chromium(*MEDIA_FLAGS, f"--use-file-for-fake-audio-capture={spoken_wav}") as browser:
        context = browser.new_context(permissions=["microphone"])
        page = context.new_page()
        page.goto(server.url + "/", wait_until="load")
        page.get_by_role("tab", name="Voice").click()
        expect(page.locator("#voice-persona input")).to_have_value("assistant", timeout=30_000)
        live = page.locator("#voice-live-input")
        live.scroll_into_view_if_needed()
        live.locator(".record-button").click()

        partial = page.locator("#voice-live-partial textarea")
        page.wait_for_function(
            "el => el.value.trim().length > 0", arg=partial.element_handle(), timeout=TURN_TIMEOUT_MS, polling=50
        )
        heard_early = partial.input_value()
        transcript = page.locator("#voice-live-transcript textarea")
        expect(transcript).to_have_value(re.compile("country", re.IGNORECASE), timeout=TURN_TIMEOUT_MS)
        expect(page.locator("#voice-live-reply textarea")).to_have_value(re.compile(r"\w+"), timeout=60_000)
        player = page.locator("#voice-live-output audio[src]").first
        expect(player).to_have_attribute("src", re.compile(r"^(blob|https?|data):"), timeout=60_000)
        waterfall = page.locator("#voice-live-waterfall")
        expect(waterfall).to_contain_text(re.compile(r"first audio\s+\d+\.\d\d"), timeout=60_000)
        page.screenshot(path=str(tmp_path / "voice-live.png"), full_page=True)
        print(f"\npartial {heard_early!r}; final {transcript.input_value()!r}; {waterfall.inner_text()!r}")
        context.close()

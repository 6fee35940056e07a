"""A real browser (Debian's Chromium driven by Playwright) talks to the Voice tab of a real server.

The first turn goes through the microphone: Chromium's fake capture device plays ``datasets/speech/jfk.flac``
(converted to the 16-bit PCM WAV it requires, written at run time) into the Voice tab's recorder, which is
started and stopped like a user would. Then a garbage ``bad.wav`` is uploaded and must give a clear message,
and an uploaded recording still works afterwards. Speech to text and text to speech are the real bundled
engines (faster-whisper tiny.en, Piper joe-us); the reply comes from the scripted fake model, for speed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Server, chromium, running_server
from workbench.voice.audio import decode_audio, wav_bytes

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.timeout(600)]

MEDIA_FLAGS = [
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
TURN_TIMEOUT_MS = 180_000  # a busy two-core machine loads Whisper and Piper on the first turn


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    """The JFK sentence as 16 kHz 16-bit mono PCM WAV (Chromium's fake microphone reads only WAV)."""
    data = (ROOT / "datasets" / "speech" / "jfk.flac").read_bytes()
    audio = decode_audio(data, max_bytes=len(data), max_seconds=60)
    path = tmp_path_factory.mktemp("speech") / "jfk.wav"
    path.write_bytes(wav_bytes(audio.samples, audio.sample_rate))
    return path


@pytest.fixture(scope="module")
def browser(speech_wav):
    with chromium(*MEDIA_FLAGS, f"--use-file-for-fake-audio-capture={speech_wav}") as launched:
        yield launched


@pytest.fixture(scope="module")
def voice_server(tmp_path_factory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("home"), WORKBENCH_LLM="fake/scripted") as server:
        yield server


def assert_spoken_turn(page, expect) -> None:
    """The transcript holds the JFK sentence, the reply and its audio arrived, and STT was timed."""
    expect(page.locator("#voice-status")).to_contain_text("Answered", timeout=TURN_TIMEOUT_MS)
    transcript = page.locator("#voice-transcript textarea").input_value().lower()
    assert "country" in transcript and "fellow" in transcript, transcript
    expect(page.locator("#voice-reply textarea")).to_have_value(re.compile(r"\w+"))
    expect(page.locator("#voice-output audio[src]").first).to_have_attribute("src", re.compile(r"^(blob|https?):"))
    expect(page.locator("#voice-latency")).to_contain_text(re.compile(r"Speech to text\s+\d+\.\d\d"))
    expect(page.locator("#voice-history")).to_contain_text("country")


def test_voice_tab_answers_the_microphone_reports_bad_audio_and_keeps_working(browser, voice_server, speech_wav,
                                                                              tmp_path):  # fmt: skip
    from playwright.sync_api import expect

    context = browser.new_context(permissions=["microphone"])
    page = context.new_page()
    page.goto(voice_server.url + "/", wait_until="load")
    page.get_by_role("tab", name="Voice").click()
    expect(page.locator("#voice-persona input")).to_have_value("assistant", timeout=30_000)
    expect(page.locator("#voice-persona-description")).not_to_be_empty()

    # 1. Speak: record from the fake microphone for the length of the sentence (it loops), stop, send.
    recorder = page.locator("#voice-input")
    recorder.locator(".record-button").click()
    time.sleep(11.5)
    recorder.locator(".stop-button").first.click()
    player = recorder.locator("[data-testid^='audio-player']")  # shown once the recording is on the server
    expect(player).to_be_attached(timeout=30_000)
    page.locator("#voice-send").click()
    assert_spoken_turn(page, expect)
    assert "stt local/tiny.en" in page.locator("#voice-status").inner_text()

    # 2. Garbage named like a WAV: a clear message in the status, not a traceback.
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio at all\x00\x01\x02" * 20)
    recorder.get_by_role("button", name="Upload file").click()
    recorder.locator("input[type=file]").set_input_files(bad)
    expect(player).to_be_attached(timeout=30_000)
    page.locator("#voice-send").click()
    status = page.locator("#voice-status")
    expect(status).to_contain_text("Could not use that audio", timeout=TURN_TIMEOUT_MS)
    assert "not wav audio" in status.inner_text() and "Traceback" not in status.inner_text()
    assert page.locator("#voice-transcript textarea").input_value() == ""

    # 3. The tab still works: an uploaded recording of the same sentence gets a spoken answer.
    recorder.locator("input[type=file]").set_input_files(speech_wav)
    expect(player).to_be_attached(timeout=30_000)
    page.locator("#voice-send").click()
    assert_spoken_turn(page, expect)
    assert page.locator("#voice-history .message-row").count() >= 4, "both spoken turns are in the session"

    page.locator("#voice-new-session").click()
    expect(status).to_have_text("New session.")
    expect(page.locator("#voice-history .message-row")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "voice.png"), full_page=True)
    context.close()

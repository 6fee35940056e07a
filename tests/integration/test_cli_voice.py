"""``workbench say`` and ``workbench transcribe`` on the bundled offline engines (Piper joe-us, Whisper tiny.en)."""

from __future__ import annotations

import json
import os
import subprocess
import wave
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, run_cli
from workbench.voice.metrics import word_error_rate

pytestmark = pytest.mark.integration

SPEECH = ROOT / "datasets" / "speech"
SENTENCE = "The quick brown fox jumps over the lazy dog. Please call me back tomorrow morning."


def workbench(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(home, *args, cwd=home, unset=("WORKBENCH_TTS_VOICE",), WORKBENCH_STT_MODEL="local/tiny.en")


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        assert audio.getnchannels() == 1 and audio.getsampwidth() == 2
        return audio.getnframes() / audio.getframerate()


def test_say_then_transcribe_round_trips_the_words(tmp_path):
    out = tmp_path / "spoken.wav"
    said = workbench(tmp_path, "say", SENTENCE, "-o", str(out))
    assert said.returncode == 0, said.stderr
    assert said.stdout.strip() == str(out)
    assert "piper/joe-us" in said.stderr and "RTF" in said.stderr
    assert 2.0 < wav_seconds(out) < 15.0

    heard = workbench(tmp_path, "transcribe", str(out), "--json")
    assert heard.returncode == 0, heard.stderr
    result = json.loads(heard.stdout)
    assert set(result) >= {"text", "language", "duration_s", "elapsed_s", "rtf", "model", "segments"}
    assert result["model"] == "local/tiny.en" and result["language"] == "en"
    assert result["duration_s"] == pytest.approx(wav_seconds(out), abs=0.05)
    assert result["rtf"] == pytest.approx(result["elapsed_s"] / result["duration_s"], rel=0.05)
    assert result["segments"] and all(s["end"] >= s["start"] for s in result["segments"])
    assert word_error_rate(SENTENCE, result["text"]) <= 0.2, result["text"]


def test_transcribe_real_speech_matches_the_reference(tmp_path):
    references = {row["file"]: row["text"] for row in map(json.loads, (SPEECH / "transcripts.jsonl").open())}
    heard = workbench(tmp_path, "transcribe", str(SPEECH / "jfk.flac"))
    assert heard.returncode == 0, heard.stderr
    assert "RTF" in heard.stderr, "timings go to stderr, the text alone to stdout"
    assert word_error_rate(references["jfk.flac"], heard.stdout) <= 0.15, heard.stdout


def test_garbage_audio_exits_2_with_a_clear_message(tmp_path):
    garbage = tmp_path / "noise.wav"
    garbage.write_bytes(os.urandom(4096))
    bad = workbench(tmp_path, "transcribe", str(garbage))
    assert bad.returncode == 2
    assert "is not audio" in bad.stderr and "noise.wav" in bad.stderr
    assert "Traceback" not in bad.stderr and bad.stdout == ""

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(64))
    bad = workbench(tmp_path, "transcribe", str(broken))
    assert bad.returncode == 2 and "could not be decoded" in bad.stderr and "Traceback" not in bad.stderr

    missing = workbench(tmp_path, "transcribe", str(tmp_path / "nope.flac"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr


def test_say_with_gtts_offline_falls_back_to_piper(tmp_path):
    out = tmp_path / "fallback.wav"
    said = workbench(tmp_path, "say", "Nobody can reach the internet from here.", "-o", str(out), "--voice", "gtts/en")
    assert said.returncode == 0, said.stderr
    assert "gtts/en unavailable" in said.stderr and "spoke with piper/joe-us" in said.stderr
    assert out.read_bytes()[:4] == b"RIFF" and wav_seconds(out) > 1.0


def test_a_steadied_piper_voice_renders_a_sentence_the_same_every_time():
    """The voice eval's round-trip clips come from it, so their WER compares across runs."""
    from workbench.voice.tts import PiperTTS, bundled_voice_paths, synthesize

    paths = bundled_voice_paths()
    assert paths is not None, "the bundled voice is a dependency"
    voice = PiperTTS(*paths, name="piper/joe-us")
    steady = voice.steadied()
    assert steady._voice is voice.load(), "one loaded model, shared"
    first, second = (synthesize(steady, SENTENCE).audio for _ in range(2))
    assert first == second
    assert not voice.steady and synthesize(voice, SENTENCE).audio != first, "the voice itself still samples"

"""What the run log's redaction replaces (audio and binary data, however it is held) and what it keeps (text)."""

from __future__ import annotations

import base64
import hashlib
import uuid

import numpy as np
import pytest

from workbench.runlog.redact import redact, redact_text
from workbench.voice.audio import wav_bytes

WAV = wav_bytes(np.random.default_rng(0).uniform(-0.5, 0.5, 640), 16_000)
FLAC_HEAD = b"fLaC\x00\x00\x00\x22" + bytes(range(40))
MP3_HEAD = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(60))


def facts(data: bytes) -> dict[str, object]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("clip", [WAV, FLAC_HEAD, MP3_HEAD], ids=["wav", "flac", "mp3"])
def test_base64_audio_is_replaced_by_its_size_and_hash_wherever_it_stands(clip: bytes) -> None:
    encoded = base64.b64encode(clip).decode()
    marker = f"<audio: {len(clip)} bytes, sha256 {hashlib.sha256(clip).hexdigest()}>"
    assert redact_text(encoded) == marker
    assert redact_text(f"could not read data:audio/x;base64,{encoded} (retry)") == (
        f"could not read data:audio/x;base64,{marker} (retry)"
    )
    assert redact({"payload": {"clips": [encoded]}}) == {"payload": {"clips": [marker]}}


def test_bytes_and_strings_under_audio_keys_are_replaced_whatever_they_hold() -> None:
    pcm = np.random.default_rng(1).integers(0, 255, 50, dtype=np.uint8).tobytes()  # no header, too short to tell
    encoded = base64.b64encode(pcm).decode()
    assert redact({"audio": encoded, "speech": encoded, "recording": pcm}) == {
        "audio": {"audio": facts(pcm)},
        "speech": {"audio": facts(pcm)},
        "recording": {"binary": facts(pcm)},
    }
    assert redact({"type": "audio_chunk", "index": 0, "data": encoded}) == {
        "type": "audio_chunk",
        "index": 0,
        "data": {"audio": facts(pcm)},
    }
    assert redact({"audio": None, "speech": "", "audio_format": "wav"}) == {
        "audio": None,
        "speech": "",
        "audio_format": "wav",
    }


def test_long_base64_of_binary_data_is_replaced_even_without_an_audio_header() -> None:
    blob = np.random.default_rng(2).integers(0, 255, 300, dtype=np.uint8).tobytes()
    assert redact_text(base64.b64encode(blob).decode()) == (
        f"<binary: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}>"
    )


def test_a_base64_run_cut_short_by_a_truncation_is_still_replaced() -> None:
    encoded = base64.b64encode(WAV).decode()
    for cut in (401, 402, 403, 404):
        assert "UklGR" not in redact_text(encoded[:cut]), cut


def test_text_ids_hashes_paths_and_base64_of_text_are_kept() -> None:
    kept = [
        "What is the default port of the server? It is 8000, see docs/guide.md.",
        hashlib.sha256(b"x").hexdigest(),
        "0123456789abcdef" * 4 + "01234567",  # a git commit id and more
        str(uuid.uuid4()),
        "/work/main/graphs/voice.py",
        "piper/joe-us",
        base64.b64encode(b"A plain sentence, encoded: still text. " * 8).decode(),
        "ArgumentParserConfigurationException",
    ]
    for text in kept:
        assert redact_text(text) == text
    assert redact({"input": kept, "n": 3, "ok": True}) == {"input": kept, "n": 3, "ok": True}


def test_redaction_is_idempotent() -> None:
    once = redact({"audio": base64.b64encode(WAV).decode(), "note": base64.b64encode(WAV).decode()})
    assert redact(once) == once
    assert redact_text(str(once)) == str(once)

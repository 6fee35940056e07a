"""The Voice tab reads a recording only from Gradio's upload folder, and deletes it once read."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.ui.voice_tab import read_recording
from workbench.voice.audio import AudioError


@pytest.fixture
def uploads(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def test_a_recording_in_the_upload_folder_is_read_then_deleted(uploads):
    (uploads / "abc").mkdir()
    recording = uploads / "abc" / "audio.wav"
    recording.write_bytes(b"RIFF recording")
    assert read_recording(str(recording), limit=1000) == b"RIFF recording"
    assert not recording.exists()


def test_a_recording_over_the_limit_is_refused_and_deleted(uploads):
    recording = uploads / "big.wav"
    recording.write_bytes(b"x" * 2000)
    with pytest.raises(AudioError) as caught:
        read_recording(str(recording), limit=1000)
    assert caught.value.code == "audio_too_large"
    assert not recording.exists()


@pytest.mark.parametrize("name", ["outside", "through ..", "symlink", "missing outside"])
def test_a_path_outside_the_upload_folder_is_refused_untouched_with_one_message(uploads, tmp_path, name):
    """The same answer for a file that exists and one that does not; nothing outside is read or deleted."""
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"not yours")
    path = {
        "outside": secret,
        "through ..": uploads / ".." / "secret.wav",
        "symlink": uploads / "link.wav",
        "missing outside": tmp_path / "missing.wav",
    }[name]
    (uploads / "link.wav").symlink_to(secret)
    with pytest.raises(AudioError) as caught:
        read_recording(str(path), limit=1000)
    assert caught.value.code == "invalid_audio"
    assert str(caught.value) == "record or upload the audio in this page; that file cannot be used"
    assert secret.read_bytes() == b"not yours" and (uploads / "link.wav").is_symlink()


def test_an_unreadable_recording_says_so_without_its_path(uploads):
    with pytest.raises(AudioError) as caught:
        read_recording(str(uploads / "gone.wav"), limit=1000)
    assert caught.value.code == "invalid_audio" and str(uploads) not in str(caught.value)

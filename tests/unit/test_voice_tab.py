"""The Voice tab reads a recording only when Gradio's upload route saved it, and deletes it once read; any other path
a client names (a folder, a file outside the upload folder, a file of the folder that no upload saved) is refused
untouched, with one message that names no path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.ui.voice_tab import read_recording
from workbench.voice.audio import AudioError

REFUSED = "record or upload the audio in this page; that file cannot be used"


@pytest.fixture
def uploads(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def saved(folder: Path, name: str, data: bytes) -> Path:
    """A file where Gradio's upload route puts one: a folder per upload, the file inside."""
    (folder / "c0ffee").mkdir(exist_ok=True)
    path = folder / "c0ffee" / name
    path.write_bytes(data)
    return path


def test_a_recording_the_upload_route_saved_is_read_then_deleted_and_forgotten(uploads):
    recording = saved(uploads, "audio.wav", b"RIFF recording")
    known = {str(recording)}
    assert read_recording(str(recording), 1000, known) == b"RIFF recording"
    assert not recording.exists() and known == set()


def test_a_recording_over_the_limit_is_refused_and_deleted(uploads):
    recording = saved(uploads, "big.wav", b"x" * 2000)
    with pytest.raises(AudioError) as caught:
        read_recording(str(recording), 1000, {str(recording)})
    assert caught.value.code == "audio_too_large"
    assert not recording.exists()


@pytest.mark.parametrize(
    "name",
    ["the upload folder", "a folder of an upload", "a file no upload saved", "outside", "through ..", "symlink",
     "missing outside", "a saved path turned into a link"],
)  # fmt: skip
def test_a_path_no_upload_saved_is_refused_untouched_with_one_message(uploads, tmp_path, name):
    """Folders, files outside, a file of the folder that is not an upload (another component's, another
    upload's), links: one answer whether or not the path exists, nothing read or deleted."""
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"not yours")
    other = saved(uploads, "other.wav", b"someone else's")
    (uploads / "link.wav").symlink_to(secret)
    turned = uploads / "c0ffee" / "turned.wav"
    turned.symlink_to(other)
    path = {
        "the upload folder": uploads,
        "a folder of an upload": uploads / "c0ffee",
        "a file no upload saved": other,
        "outside": secret,
        "through ..": uploads / ".." / "secret.wav",
        "symlink": uploads / "link.wav",
        "missing outside": tmp_path / "missing.wav",
        "a saved path turned into a link": turned,
    }[name]
    # what this client's page uploaded; the path it names is listed too where that could fool a weaker check
    known = {str(uploads / "c0ffee" / "mine.wav"), str(turned), str(uploads / "link.wav")}
    with pytest.raises(AudioError) as caught:
        read_recording(str(path), 1000, known)
    assert caught.value.code == "invalid_audio"
    assert str(caught.value) == REFUSED
    assert secret.read_bytes() == b"not yours" and other.read_bytes() == b"someone else's"
    assert (uploads / "link.wav").is_symlink() and turned.is_symlink() and uploads.is_dir()


def test_a_listed_upload_outside_the_upload_folder_is_refused_untouched(uploads, tmp_path):
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"not an upload")
    with pytest.raises(AudioError, match="that file cannot be used"):
        read_recording(str(outside), 1000, {str(outside)})
    assert outside.exists()


def test_a_vanished_upload_says_so_without_its_path(uploads):
    gone = uploads / "c0ffee" / "gone.wav"
    with pytest.raises(AudioError) as caught:
        read_recording(str(gone), 1000, {str(gone)})
    assert caught.value.code == "invalid_audio" and str(uploads) not in str(caught.value)


def test_an_unreadable_upload_says_what_to_do_without_its_path(uploads):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    recording = saved(uploads, "locked.wav", b"RIFF")
    recording.chmod(0)
    with pytest.raises(AudioError) as caught:
        read_recording(str(recording), 1000, {str(recording)})
    assert str(caught.value) == "the recording could not be read; record or upload it again"

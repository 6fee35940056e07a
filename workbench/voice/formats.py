"""Audio container formats and how to tell them from their first bytes (no decoder needed: the run log uses
this to recognise recordings it must not keep)."""

from __future__ import annotations

from typing import Literal

AudioFormat = Literal["wav", "mp3", "webm", "ogg", "flac"]
AUDIO_FORMATS: tuple[AudioFormat, ...] = ("wav", "mp3", "webm", "ogg", "flac")


def sniff_format(data: bytes) -> AudioFormat | None:
    """The container format from the first bytes, or None when it is none of :data:`AUDIO_FORMATS`."""
    head = data[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM / Matroska
        return "webm"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None

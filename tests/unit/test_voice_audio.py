"""Audio in (sniffing, bounded decoding to 16 kHz mono, every AudioError code), WER normalization, personas."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from workbench.errors import ConfigurationError
from workbench.voice import audio as audio_module
from workbench.voice.audio import (
    AUDIO_FORMATS,
    SAMPLE_RATE,
    AudioError,
    check_audio,
    decode_audio,
    decode_base64,
    join_clips,
    sniff_format,
    wav_bytes,
    wav_duration,
)
from workbench.voice.metrics import normalize, word_error_rate
from workbench.voice.personas import BUNDLED_DIR, get_persona, load_personas

SPEECH = Path(__file__).resolve().parents[2] / "datasets" / "speech"
BIG = 10 * 1024 * 1024
CODECS = {"flac": "flac", "mp3": "libmp3lame", "ogg": "libopus", "webm": "libopus"}


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(fmt: str, seconds: float = 0.5, rate: int = 48_000, channels: int = 1, freq: float = 440.0) -> bytes:
    """A real ``fmt`` clip of a tone, encoded with PyAV (FFmpeg)."""
    layout = "mono" if channels == 1 else "stereo"
    mono = (tone(seconds, rate, freq) * 32767).astype(np.int16)
    interleaved = np.repeat(mono, channels).reshape(1, -1)  # packed s16: one plane, channels interleaved
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as out:
        stream: Any = out.add_stream(CODECS[fmt], rate=rate)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


def dominant_hz(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def decode(data: bytes, declared: str | None = None, max_seconds: float = 60.0, max_bytes: int = BIG):
    return decode_audio(data, declared, max_bytes=max_bytes, max_seconds=max_seconds)


def code_of(data: bytes, declared: str | None = None, **limits: Any) -> str:
    with pytest.raises(AudioError) as caught:
        decode(data, declared, **limits)
    return caught.value.code


# -- sniffing and decoding ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    """Half a second of 440 Hz in every accepted format (wav at 22.05 kHz, the others at 48 kHz)."""
    return {"wav": wav_bytes(tone(0.5, 22_050), 22_050), **{fmt: encode(fmt) for fmt in CODECS}}


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_each_format_is_sniffed_from_its_first_bytes(clips, fmt):
    assert sniff_format(clips[fmt]) == fmt
    assert check_audio(clips[fmt], None, max_bytes=BIG) == fmt
    assert check_audio(clips[fmt], fmt, max_bytes=BIG) == fmt


def test_mp3_without_id3_tag_is_sniffed_from_its_frame_sync():
    assert sniff_format(b"\xff\xfb\x90\x64" + bytes(20)) == "mp3"
    assert sniff_format(b"ID3\x04" + bytes(20)) == "mp3"
    assert sniff_format(b"RIFF\x00\x00\x00\x00AVI ") is None  # RIFF, but not WAVE
    assert sniff_format(b"") is None


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_each_format_decodes_to_16khz_mono_float_keeping_pitch_and_length(clips, fmt):
    decoded = decode(clips[fmt], fmt)
    assert decoded.format == fmt
    assert decoded.sample_rate == SAMPLE_RATE
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert decoded.duration_s == pytest.approx(0.5, abs=0.06)  # codecs pad a few ms
    assert 0.2 < float(np.abs(decoded.samples).max()) <= 1.0  # scaled to [-1, 1], not int16 values
    assert dominant_hz(decoded.samples) == pytest.approx(440, abs=5)


def test_stereo_44k_is_downmixed_and_resampled():
    decoded = decode(encode("flac", seconds=1.0, rate=44_100, channels=2, freq=1000))
    assert len(decoded.samples) == pytest.approx(SAMPLE_RATE, abs=50)
    assert dominant_hz(decoded.samples) == pytest.approx(1000, abs=5)


def test_bundled_speech_clips_decode():
    jfk = decode((SPEECH / "jfk.flac").read_bytes(), "flac")
    assert (jfk.format, jfk.duration_s) == ("flac", pytest.approx(11.0, abs=0.1))
    hotwords = decode((SPEECH / "hotwords.mp3").read_bytes(), None)
    assert hotwords.format == "mp3" and 1.0 < hotwords.duration_s < 10.0


def test_the_duration_limit_is_inclusive():
    assert len(decode(wav_bytes(np.zeros(16_000, np.int16), 16_000), max_seconds=1).samples) == 16_000
    assert code_of(wav_bytes(np.zeros(16_001, np.int16), 16_000), max_seconds=1) == "audio_too_long"


# -- every error code --------------------------------------------------------------------------------------


def test_empty_data_is_empty_audio():
    assert code_of(b"") == "empty_audio"
    assert code_of(b"", "wav") == "empty_audio"


def test_a_wav_with_no_frames_is_empty_audio():
    assert code_of(wav_bytes(np.zeros(0, np.int16), 16_000), "wav") == "empty_audio"


@pytest.mark.parametrize("data", [b"hello, this is not audio at all", bytes(range(256)) * 8, b"\x00" * 100])
def test_garbage_is_invalid_audio(data):
    assert code_of(data) == "invalid_audio"


def test_garbage_declared_as_a_format_names_it():
    with pytest.raises(AudioError, match="not wav audio") as caught:
        decode(b"definitely not a recording", "wav")
    assert caught.value.code == "invalid_audio"


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda clips: clips["wav"][:20],  # truncated header
        lambda clips: clips["wav"][:12] + bytes(200),  # RIFF/WAVE magic, then zeros
        lambda clips: b"fLaC" + bytes(range(256)) * 4,  # flac magic, then garbage
        lambda clips: clips["flac"][:42],  # flac cut inside its STREAMINFO block
        lambda clips: b"OggS" + bytes(300),
        lambda clips: b"\x1a\x45\xdf\xa3" + bytes(300),
        lambda clips: b"ID3" + bytes(500),
    ],
    ids=["wav-truncated", "wav-zeros", "flac-garbage", "flac-truncated", "ogg-zeros", "webm-zeros", "mp3-zeros"],
)
def test_a_right_magic_with_a_corrupt_body_is_invalid_audio_not_a_crash(clips, corrupt):
    data = corrupt(clips)
    with pytest.raises(AudioError, match="could not be decoded") as caught:
        decode(data)
    assert caught.value.code == "invalid_audio"


@pytest.mark.parametrize(("declared", "actual"), [("mp3", "wav"), ("wav", "flac"), ("ogg", "webm"), ("webm", "ogg")])
def test_declared_format_differing_from_the_data_is_a_mismatch(clips, declared, actual):
    with pytest.raises(AudioError, match=f"declared '{declared}' but the data is '{actual}'") as caught:
        decode(clips[actual], declared)
    assert caught.value.code == "audio_format_mismatch"


@pytest.mark.parametrize("declared", ["aac", "m4a", "WAV", ""])
def test_a_declared_format_outside_the_list_is_unsupported(clips, declared):
    assert code_of(clips["wav"], declared) == "unsupported_format"


def test_audio_past_max_seconds_is_too_long(clips):
    assert code_of(clips["mp3"], "mp3", max_seconds=0.25) == "audio_too_long"
    assert code_of((SPEECH / "jfk.flac").read_bytes(), "flac", max_seconds=5) == "audio_too_long"


def test_decoding_stops_soon_after_max_seconds(monkeypatch):
    """A minute of highly compressible audio is not decoded in full when the limit is one second."""
    fed: list[float] = []
    real = av.AudioResampler

    class CountingResampler:
        def __init__(self, **kwargs: Any) -> None:
            self.inner = real(**kwargs)

        def resample(self, frame: Any) -> Any:
            if frame is not None:
                fed.append(frame.samples / frame.sample_rate)
            return self.inner.resample(frame)

    minute = encode("flac", seconds=60, rate=16_000)
    monkeypatch.setattr(av, "AudioResampler", CountingResampler)
    assert code_of(minute, "flac", max_seconds=1) == "audio_too_long"
    assert 1.0 < sum(fed) < 2.0, f"decoded {sum(fed):.1f} s of a 60 s clip"


def test_data_over_max_bytes_is_too_large_before_any_decoding(clips, monkeypatch):
    monkeypatch.setattr(av, "open", lambda *a, **k: pytest.fail("decoded data that is too large"))
    assert len(clips["wav"]) > 1024
    with pytest.raises(AudioError, match=f"limited to 1024 bytes; got {len(clips['wav'])}") as caught:
        decode(clips["wav"], "wav", max_bytes=1024)
    assert caught.value.code == "audio_too_large"


def test_the_error_codes_are_the_protocol_codes():
    assert set(audio_module.AudioErrorCode.__args__) == {  # type: ignore[attr-defined]
        "empty_audio", "invalid_audio", "unsupported_format", "audio_format_mismatch",
        "audio_too_long", "audio_too_large", "no_speech",
    }  # fmt: skip


# -- base64, joining, durations ----------------------------------------------------------------------------


def test_base64_round_trips_and_rejects_non_base64(clips):
    assert decode_base64(base64.b64encode(clips["wav"]).decode()) == clips["wav"]
    for bad in ("not base64!", "abc", "YWJj\nZA==", "YW=Jj"):
        with pytest.raises(AudioError, match="not valid base64") as caught:
            decode_base64(bad)
        assert caught.value.code == "invalid_audio"


def test_wav_bytes_and_wav_duration():
    clip = wav_bytes(np.zeros(8_000, np.int16), 16_000)
    assert clip[:4] == b"RIFF" and wav_duration(clip) == 0.5
    assert wav_duration(wav_bytes(np.zeros(22_050, np.int16), 22_050)) == 1.0
    loud = decode(wav_bytes(np.array([2.0, -2.0, 0.5], np.float32), 16_000)).samples
    assert loud.tolist() == pytest.approx([32767 / 32768, -32767 / 32768, 16383 / 32768])  # floats are clipped


def test_join_clips_rewraps_wav_frames_and_concatenates_mp3():
    first, second = tone(0.25, 22_050), tone(0.5, 22_050, freq=880)
    joined = join_clips([wav_bytes(first, 22_050), wav_bytes(second, 22_050)], "wav")
    assert sniff_format(joined) == "wav"
    assert wav_duration(joined) == pytest.approx(0.75, abs=1e-3)
    samples = decode(joined).samples
    assert dominant_hz(samples[: SAMPLE_RATE // 4]) == pytest.approx(440, abs=8)
    assert dominant_hz(samples[SAMPLE_RATE // 4 :]) == pytest.approx(880, abs=8)
    single = wav_bytes(first, 22_050)
    assert join_clips([single], "wav") == single
    assert join_clips([b"ID3abc", b"\xff\xfbdef"], "mp3") == b"ID3abc\xff\xfbdef"


# -- word error rate ---------------------------------------------------------------------------------------


def test_wer_ignores_case_punctuation_and_spacing_but_not_apostrophes():
    assert normalize("  And so, my fellow  AMERICANS! ") == "and so my fellow americans"
    assert word_error_rate("Ask not what your country can do.", "ask not, what YOUR country  can do") == 0
    assert word_error_rate("don't stop", "dont stop") == 0.5
    assert word_error_rate("one two three four", "one two tree four") == 0.25
    assert word_error_rate("one two", "one two three four") == 1.0  # insertions count


def test_wer_of_empty_texts():
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("?!", "") == 0.0  # punctuation only normalizes to nothing
    assert word_error_rate("", "something") == 1.0
    assert word_error_rate("three words here", "") == 1.0
    assert word_error_rate("three words here", "...") == 1.0


# -- personas ----------------------------------------------------------------------------------------------


def test_bundled_personas_load():
    personas = load_personas()
    assert {"assistant", "docs-guide"} <= set(personas)
    assert {p.stem for p in BUNDLED_DIR.glob("*.yaml")} <= set(personas)
    guide = get_persona("docs-guide")
    assert (guide.grounded, guide.max_history, guide.top_k) == (True, 12, 3)
    assistant = get_persona("assistant")
    assert not assistant.grounded and assistant.max_history == 20 and "voice assistant" in assistant.system_prompt


def test_an_extra_folder_adds_personas_and_overrides_bundled_ones_by_name(tmp_path):
    (tmp_path / "mine.yaml").write_text("name: assistant\nsystem_prompt: Talk like a pirate.\nmax_history: 4\n")
    (tmp_path / "tutor.yml").write_text("name: tutor\nsystem_prompt: Teach.\ngrounded: true\n")
    personas = load_personas(tmp_path)
    assert personas["assistant"].system_prompt == "Talk like a pirate."
    assert personas["assistant"].max_history == 4
    assert get_persona("tutor", tmp_path).grounded
    assert get_persona("docs-guide", tmp_path).grounded  # bundled ones not overridden stay
    assert "pirate" not in get_persona("assistant").system_prompt  # without the folder, the bundled one


@pytest.mark.parametrize(
    "text",
    [
        "name: broken\nsystem_prompt: [unclosed\n",  # not YAML
        "name: x\nsystem_prompt: hi\nunknown_key: 1\n",  # extra field
        "name: x\n",  # no system prompt
        "name: has space\nsystem_prompt: hi\n",  # bad name
        "name: x\nsystem_prompt: hi\nmax_history: 1\n",  # below the minimum
        "- just\n- a list\n",
    ],
)
def test_an_invalid_persona_file_is_a_configuration_error_naming_the_file_not_its_folder(tmp_path, text):
    (tmp_path / "bad-persona.yaml").write_text(text)
    with pytest.raises(ConfigurationError, match="bad-persona.yaml") as caught:
        load_personas(tmp_path)
    assert str(tmp_path) not in str(caught.value) and "Error" not in str(caught.value)


def test_unknown_persona_and_missing_folder_say_what_to_do_without_a_path(tmp_path):
    with pytest.raises(ConfigurationError, match=r"unknown persona 'nobody'; choose one of .*assistant.*docs-guide"):
        get_persona("nobody")
    with pytest.raises(ConfigurationError, match="WORKBENCH_PERSONAS_DIR.* does not exist") as caught:
        load_personas(tmp_path / "missing")
    assert str(tmp_path) not in str(caught.value)

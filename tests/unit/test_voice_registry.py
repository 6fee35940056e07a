"""Voices and personas are names from a registry: a client cannot name a path, and every unknown name gets the
same answer before any model runs. Speech engine caches and session bookkeeping stay bounded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.unit.test_voice_service import Setup, recording
from workbench.errors import ConfigurationError
from workbench.settings import Settings
from workbench.turns.voice import VoiceTurn
from workbench.voice import engines
from workbench.voice.engines import SpeechEngines
from workbench.voice.stt import check_stt
from workbench.voice.tts import check_voice

UNKNOWN = ["piper//etc/passwd", "piper//nonexistent.onnx", "piper/../../etc/hostname", "gtts/xx", "espeak/en", ""]


@pytest.fixture
def settings(tmp_path) -> Settings:
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas" / "french.yaml").write_text("name: french\nsystem_prompt: Parle.\nvoice: gtts/fr\n")
    return Settings(home=tmp_path, personas_dir=tmp_path / "personas", tts_voice="piper//srv/voices/amy.onnx")


@pytest.mark.parametrize("spec", ["piper/joe-us", "gtts/en", "gtts/de", "gtts/fr", "piper//srv/voices/amy.onnx"])
def test_bundled_gtts_and_configured_voices_are_on_offer(settings, spec):
    assert check_voice(spec, settings) == spec


def test_every_unknown_voice_gets_one_answer_that_names_no_path(settings):
    messages = set()
    for spec in UNKNOWN:
        with pytest.raises(ConfigurationError) as caught:
            check_voice(spec, settings)
        messages.add(str(caught.value))
    (message,) = messages  # an existing file and a missing one are told apart by nothing
    assert message.startswith("unknown voice; choose one of piper/joe-us") and "gtts/<language>" in message
    assert "/etc" not in message and "/srv" not in message and "Error" not in message


def test_an_unknown_voice_is_refused_before_anything_is_built(settings, monkeypatch):
    monkeypatch.setattr(engines, "build_tts", lambda spec, s: pytest.fail(f"built {spec}"))
    with pytest.raises(ConfigurationError, match="unknown voice"):
        SpeechEngines(settings).tts("piper//etc/passwd")


def test_each_kind_of_engine_keeps_at_most_speech_cache_size_engines(tmp_path, monkeypatch):
    built: list[str] = []

    def build(spec: str, settings: Any) -> Any:
        built.append(spec)
        return type("Engine", (), {"name": spec})()

    monkeypatch.setattr(engines, "build_stt", build)
    monkeypatch.setattr(engines, "build_tts", build)
    offered = ["local/a", "local/b", "local/c"]
    speech = SpeechEngines(Settings(home=tmp_path, speech_cache_size=2, stt_models=offered))
    first = speech.stt("local/a")
    speech.stt("local/b")
    assert speech.stt("local/a") is first  # used again: now the most recent
    speech.stt("local/c")  # drops local/b, the least recently used
    assert list(speech._stt) == ["local/a", "local/c"]
    speech.stt("local/b")
    assert built == ["local/a", "local/b", "local/c", "local/b"]
    for language in ("en", "fr", "de", "es"):
        speech.tts(f"gtts/{language}")
    assert list(speech._tts) == ["gtts/de", "gtts/es"]


@pytest.fixture
def whisper_folder(tmp_path) -> Path:
    """A folder that looks like a faster-whisper model, which no configuration names."""
    folder = tmp_path / "whisper-small"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"\0")
    return folder


def unknown_stt(folder: Path) -> list[str]:
    return [str(folder), f"local/{folder}", str(folder.parent / "missing"), f"local/{folder.parent}/missing",
            "../../../etc", "local/../../etc/passwd", "/etc", "local/base.en", "whisper-large", "groq/whisper",
            "openai/whisper-1", "groq/../../x", ""]  # fmt: skip


def test_the_bundled_and_configured_speech_models_are_on_offer(tmp_path):
    settings = Settings(home=tmp_path, stt_model="/srv/whisper/base", stt_models=["/srv/whisper/small", "local/x"])
    for spec in ("local/tiny.en", "/srv/whisper/base", "/srv/whisper/small", "local/x"):
        assert check_stt(spec, settings) == spec
    keyed = Settings(home=tmp_path, groq_api_key=SecretStr("k"), openai_api_key=SecretStr("k"))
    for spec in ("groq/whisper-large-v3", "groq", "openai/whisper-1", "openai/gpt-4o-mini-transcribe"):
        assert check_stt(spec, keyed) == spec


def test_every_unknown_speech_model_gets_one_answer_without_touching_the_disk(tmp_path, whisper_folder):
    settings = Settings(home=tmp_path)
    messages = set()
    with pytest.MonkeyPatch.context() as patched:
        for name in ("stat", "lstat", "scandir", "listdir", "access"):
            patched.setattr(os, name, lambda *a, **k: pytest.fail(f"touched the file system: {a[:1]}"))
        for spec in unknown_stt(whisper_folder):
            with pytest.raises(ConfigurationError) as caught:
                check_stt(spec, settings)
            messages.add(str(caught.value))
    (message,) = messages  # an existing folder, a missing one and a name are told apart by nothing
    assert message.startswith("unknown speech-to-text model; choose local/tiny.en")
    assert str(tmp_path) not in message and "/etc" not in message and "Error" not in message


def test_an_unknown_speech_model_is_refused_before_anything_is_built(tmp_path, whisper_folder, monkeypatch):
    monkeypatch.setattr(engines, "build_stt", lambda spec, s: pytest.fail(f"built {spec}"))
    speech = SpeechEngines(Settings(home=tmp_path))
    for spec in unknown_stt(whisper_folder):
        if spec:  # an empty spec is the configured default
            with pytest.raises(ConfigurationError, match="unknown speech-to-text model"):
                speech.stt(spec)


@pytest.fixture
def installed(tmp_path) -> Iterator[Setup]:
    """A voice service whose clients are the fake speech engines and model, for one test."""
    setup = Setup(tmp_path)
    try:
        yield setup
    finally:
        setup.runlog.close()


@pytest.mark.parametrize(
    ("knobs", "match"),
    [
        ({"voice": "piper//etc/passwd"}, "unknown voice; choose one of"),
        ({"voice": "piper//nonexistent.onnx"}, "unknown voice; choose one of"),
        ({"persona": "../../etc/passwd"}, "unknown persona '../../etc/passwd'; choose one of .*assistant"),
    ],
)
async def test_a_turn_naming_an_unknown_voice_or_persona_fails_before_any_model_runs(installed, knobs, match):
    with pytest.raises(ConfigurationError, match=match):
        await installed.events(VoiceTurn("s1", audio=recording(), **knobs))
    assert installed.speech.fake_stt.calls == [] and installed.model.calls == []
    assert await installed.service.runtime.leases.held() == []
    events = await installed.events(VoiceTurn("s1", text="Still there?", voice="gtts/en"))
    assert events[-1].type == "done"


async def test_the_voice_graph_itself_refuses_an_unknown_voice_before_speech_to_text(installed):
    """As under ``langgraph dev``, where the run context comes from the client."""
    from graphs.voice import builder
    from graphs.voice_state import VoiceContext

    graph = builder.compile()
    with pytest.raises(ConfigurationError, match="unknown voice"):
        await graph.ainvoke(
            {"text": "hi"}, context=VoiceContext(voice="piper//etc/passwd", resources=installed.resources)
        )
    assert installed.model.calls == []


async def test_sessions_hold_no_bookkeeping_between_turns(installed):
    for i in range(20):
        await installed.events(VoiceTurn(f"s{i}", text="hi", speak=False))
    assert await installed.service.runtime.leases.held() == []


def test_the_voice_tab_offers_only_voices_on_offer(settings):
    from workbench.ui.voice_tab import VOICES

    assert all(check_voice(voice, settings) == voice for voice in VOICES)


@pytest.fixture
def checked_speech(installed, monkeypatch) -> SpeechEngines:
    """Real speech engines (and so the real resolver) as the service's, building the fake engines."""
    monkeypatch.setattr(engines, "build_stt", lambda spec, settings: installed.speech.fake_stt)
    monkeypatch.setattr(engines, "build_tts", lambda spec, settings: installed.speech.fake_tts)
    speech = SpeechEngines(installed.settings)
    installed.resources._speech = speech
    return speech


async def test_a_turn_naming_a_speech_model_folder_fails_before_anything_runs(installed, checked_speech,
                                                                             whisper_folder):  # fmt: skip
    for spec in (str(whisper_folder), f"local/{whisper_folder.parent}/missing"):
        with pytest.raises(ConfigurationError, match="unknown speech-to-text model"):
            await installed.events(VoiceTurn("s1", audio=recording(), stt_model=spec))
    assert installed.speech.fake_stt.calls == [] and installed.model.calls == []
    events = await installed.events(VoiceTurn("s1", audio=recording(), stt_model="local/tiny.en"))
    assert events[-1].type == "done"


async def test_a_voice_eval_variant_naming_a_folder_is_refused(installed, checked_speech, whisper_folder):
    from evals.voice import VoiceSuite
    from workbench.evals.suite import Variant

    suite = VoiceSuite()
    with pytest.raises(ConfigurationError, match="unknown speech-to-text model"):
        await suite.setup(installed.resources, Variant("v", {"stt_model": str(whisper_folder)}))
    assert installed.speech.fake_stt.calls == []

"""Voices and personas are names from a registry: a client cannot name a path, and every unknown name gets the
same answer before any model runs. Speech engine caches and session bookkeeping stay bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.test_voice_service import Setup, recording
from workbench.errors import ConfigurationError
from workbench.resources import set_resources
from workbench.settings import Settings
from workbench.voice import engines
from workbench.voice.engines import SpeechEngines
from workbench.voice.service import VoiceTurn
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
    speech = SpeechEngines(Settings(home=tmp_path, speech_cache_size=2))
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
def installed(tmp_path) -> Iterator[Setup]:
    """The fake speech engines and model installed as the process's resources for one test."""
    setup = Setup(tmp_path)
    previous = set_resources(setup.resources)
    try:
        yield setup
    finally:
        set_resources(previous)
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
    assert events[-1]["type"] == "done"


async def test_the_voice_graph_itself_refuses_an_unknown_voice_before_speech_to_text(installed):
    """As under ``langgraph dev``, where the run context comes from the client."""
    from graphs.voice import builder
    from graphs.voice_state import VoiceContext

    graph = builder.compile()
    with pytest.raises(ConfigurationError, match="unknown voice"):
        await graph.ainvoke({"text": "hi"}, context=VoiceContext(voice="piper//etc/passwd"))
    assert installed.model.calls == []


async def test_sessions_hold_no_bookkeeping_between_turns(installed):
    for i in range(20):
        await installed.events(VoiceTurn(f"s{i}", text="hi", speak=False))
    assert await installed.service.runtime.leases.held() == []


def test_the_voice_tab_offers_only_voices_on_offer(settings):
    from workbench.ui.voice_tab import VOICES

    assert all(check_voice(voice, settings) == voice for voice in VOICES)

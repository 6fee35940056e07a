"""The written /ws/assistant schema matches the protocol models, accepts and rejects what the server does, and
describes every event a voice turn really produces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import ValidationError

from workbench.events import wire
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runlog import RunLog, RunLogCallback
from workbench.runtime import LocalRuntime
from workbench.server.protocol_assistant import ClientMessage, json_schema
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel
from workbench.testing_speech import FakeSpeech, FakeTTS
from workbench.turns.voice import VoiceService, VoiceTurn
from workbench.voice.audio import wav_bytes
from workbench.voice.tts import FallbackTTS

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "protocols" / "assistant.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())


VALIDATORS = {
    half: jsonschema.Draft202012Validator({"$ref": f"#/$defs/{half}", "$defs": SCHEMA["$defs"]})
    for half in ("client", "server")
}


def schema_accepts(message: Any, half: str) -> bool:
    return VALIDATORS[half].is_valid(message)


def model_accepts(message: Any) -> bool:
    try:
        ClientMessage.validate_python(message)
    except ValidationError:
        return False
    return True


def test_committed_schema_is_generated_from_the_models():
    assert json_schema() == SCHEMA, "run: python -m workbench.server.schemas"


def test_the_schema_is_a_valid_draft_2020_12_document():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"].endswith("/assistant.schema.json")


VALID_CLIENT = [
    {"type": "audio", "data": "UklGRg=="},
    {"type": "audio", "data": "UklGRg==", "format": "webm", "session_id": "abc-1", "persona": "docs-guide"},
    {"type": "audio", "data": "x", "format": None, "speak": False, "stream_audio": True, "grounded": True},
    {"type": "text", "content": "hello"},
    {"type": "text", "content": "hi", "model": "extractive", "voice": "gtts/en", "session_id": "a:b.c_d"},
    {"type": "abort"},
]
INVALID_CLIENT = [
    {"type": "audio", "data": "UklGRg==", "format": "aac"},  # format outside the enum
    {"type": "audio", "data": "UklGRg==", "format": "WAV"},
    {"type": "audio", "data": ""},  # empty recording
    {"type": "audio"},  # no data
    {"type": "text"},  # text without content
    {"type": "text", "content": ""},
    {"type": "text", "content": "hi", "volume": 11},  # unknown field
    {"type": "audio", "data": "x", "stream_audio": [True]},
    {"type": "text", "content": "hi", "session_id": "a b"},  # session id pattern
    {"type": "text", "content": "hi", "session_id": "x" * 129},
    {"type": "abort", "run_id": "r1"},  # abort takes no fields
    {"type": "user_message", "content": "hi", "session_id": "a"},  # the chat protocol's message
    {"content": "hi"},  # no type
    ["not", "an", "object"],
]


@pytest.mark.parametrize("message", VALID_CLIENT)
def test_valid_client_messages_pass_the_schema_and_the_server(message):
    assert schema_accepts(message, "client")
    assert model_accepts(message)


@pytest.mark.parametrize("message", INVALID_CLIENT)
def test_invalid_client_messages_fail_the_schema_and_the_server(message):
    assert not schema_accepts(message, "client")
    assert not model_accepts(message)


DOC = {
    "source": "/d/a.md", "chunk_id": "c1", "score": 0.5, "dense_score": None, "sparse_score": 1.5,
    "title": "A", "section": None, "page": 3, "text": "Port 8000.",
}  # fmt: skip
VALID_SERVER = [
    {"type": "transcription", "text": "hello", "language": "en", "duration_s": 1.2, "model": "local/tiny.en"},
    {"type": "transcription", "text": "hello"},
    {"role": "assistant", "content": "Hel"},
    {"type": "retrieval", "run_id": "r1", "query": "port?", "documents": [DOC]},
    {"type": "response", "text": "Hello."},
    {"type": "notice", "code": "tts_fallback", "message": "gtts/en unavailable; spoke with piper/joe-us"},
    {"type": "audio_chunk", "index": 0, "format": "wav", "text": "Hello.", "data": "UklGRg=="},
    {"type": "audio", "format": "mp3", "data": "SUQz"},
    {"type": "done", "run_id": "r1", "status": "ok", "session_id": "s1", "transcript": "hello", "reply": "Hi."},
    {"type": "done", "timings": {"stt_s": 0.2, "total_s": 1.0}, "models": {"stt": "local/tiny.en"}, "notes": ["x"]},
    {"type": "done"},
    {"type": "aborted", "run_id": "r1"},
    *({"type": "error", "code": code, "message": "m"} for code in ("invalid_audio", "no_speech", "busy", "timeout")),
]
INVALID_SERVER = [
    {"type": "notice", "code": "something_else", "message": "m"},
    {"type": "audio", "format": "ogg", "data": "x"},  # replies are wav or mp3
    {"type": "audio_chunk", "index": 0, "format": "wav", "text": "t"},  # no data
    {"type": "transcription"},
    {"type": "done", "status": "finished"},
    {"type": "done", "timings": {"stt_s": "fast"}},
    {"type": "error", "code": "made_up", "message": "m"},
    {"type": "token", "role": "user", "content": "x"},
]


@pytest.mark.parametrize("message", VALID_SERVER)
def test_sample_server_events_validate(message):
    assert schema_accepts(message, "server")


@pytest.mark.parametrize("message", INVALID_SERVER)
def test_malformed_server_events_fail(message):
    assert not schema_accepts(message, "server")


@pytest.mark.parametrize("message", [{}, {"role": "user", "content": "x"}, {"status": "ok", "reply": "x"}])
def test_server_events_without_a_type_fail(message):
    assert not schema_accepts(message, "server")


def test_every_audio_error_code_is_a_protocol_error_code():
    from workbench.voice.audio import AudioErrorCode

    for code in AudioErrorCode.__args__:  # type: ignore[attr-defined]
        assert schema_accepts({"type": "error", "code": code, "message": "m"}, "server"), code


async def test_the_events_of_real_turns_validate_as_the_socket_sends_them(tmp_path):
    """VoiceService's events, as the socket sends them, all match the server half of the schema."""
    settings = Settings(home=tmp_path, llm="fake")
    speech = FakeSpeech(settings)
    speech.fake_tts = FallbackTTS(FakeTTS(fail=True, name="cloud"), FakeTTS())  # type: ignore[assignment]

    class Store:
        def search(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            return [{**DOC, "extra": "kept out of the protocol"}]

    models = ModelRegistry(settings, {"fake": ScriptedChatModel(default="One. Two.")})
    resources = Resources(settings, speech=speech, models=models, store=Store())  # type: ignore[arg-type]
    runlog = RunLog(tmp_path / "runs.duckdb")
    try:
        runtime = LocalRuntime(InMemorySaver(), resources=resources)
        service = VoiceService(resources, runtime, RunLogCallback(runlog))
        recording = wav_bytes(np.zeros(8000, np.float32), 16_000)
        events = [e async for e in service.stream(VoiceTurn("s1", audio=recording, persona="docs-guide"))]
    finally:
        runlog.close()
    sent = [wire(e) for e in events]
    kinds = {e.get("type", "token") for e in sent}
    assert kinds == {"transcription", "retrieval", "token", "response", "notice", "audio_chunk", "audio", "done"}
    for event in sent:
        assert schema_accepts(event, "server"), event

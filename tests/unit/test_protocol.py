"""The written /ws/chat schema matches the protocol models, and rejects what the server rejects."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from workbench.server.protocol import json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "protocols" / "chat.schema.json"


def test_committed_schema_is_generated_from_the_models():
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), "run: python -m workbench.server.schemas"


@pytest.mark.parametrize(
    "message",
    [
        {"type": "user_message", "content": "hi", "session_id": "abc123"},
        {"type": "user_message", "content": "hi", "session_id": "a", "metadata": {"source": "x.md", "page": 2}},
        {"type": "abort"},
    ],
)
def test_client_messages_from_the_requirements_validate(message):
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(message, {"$ref": "#/$defs/client", "$defs": schema["$defs"]})


@pytest.mark.parametrize(
    "message",
    [
        {"type": "user_message", "content": "", "session_id": "a"},
        {"type": "user_message", "content": "hi", "session_id": "a b"},
        {"type": "user_message", "content": "hi"},
        {"type": "shout"},
    ],
)
def test_invalid_client_messages_fail_the_schema(message):
    schema = json.loads(SCHEMA_FILE.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(message, {"$ref": "#/$defs/client", "$defs": schema["$defs"]})

"""Every turn on every turn socket ends with a terminal event, whatever the graph raises: ``error`` then ``done``
(status ``error``), with the run settled first. Fake services drive the real socket classes of ``/ws/chat`` and
``/ws/assistant`` (a real server runs the same code in tests/integration/test_faults_disk.py)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langgraph.errors import GraphRecursionError

from tests.integration.conftest import validate_assistant_message, validate_chat_message
from workbench.errors import ConfigurationError, StorageUnavailable
from workbench.events import TokenEvent
from workbench.runtime import SessionBusy
from workbench.server import ws_assistant, ws_chat
from workbench.server.dependencies import get_chat_service, get_voice_service
from workbench.settings import Settings

FAILURES = [
    (RuntimeError("a tool broke"), "internal_error"),
    (NotImplementedError("not yet"), "internal_error"),
    (GraphRecursionError("Recursion limit of 25 reached"), "internal_error"),
    (ValueError("bad value"), "internal_error"),
    (StorageUnavailable("the disk is full; free space"), "storage_unavailable"),
    (ConfigurationError("unknown model; choose another"), "invalid_config"),
    (SessionBusy("busy"), "busy"),
    (TimeoutError(), "timeout"),
]


class FakeService:
    """A chat or voice service whose turn streams two tokens and then raises ``failure``."""

    def __init__(self, failure: BaseException) -> None:
        self.settings = Settings(_env_file=None, home="/nonexistent")
        self.failure = failure
        self.settled: list[tuple[str, str]] = []

    def check(self, request: object) -> None:
        return None

    async def pending(self, request: object) -> list:
        return []  # the session waits on no question

    async def stream(self, request: object, run_id: str):
        yield TokenEvent(content="Hello")
        await asyncio.sleep(0)
        yield TokenEvent(content=" there")
        raise self.failure

    async def settle(self, request: object, run_id: str, status: str = "aborted", error: str | None = None) -> None:
        await asyncio.sleep(0.2)  # as the real one waits for the run log's journal
        self.settled.append((run_id, status))


def app_with(service: FakeService) -> FastAPI:
    app = FastAPI()
    app.include_router(ws_chat.router)
    app.include_router(ws_assistant.router)
    app.dependency_overrides[get_chat_service] = lambda: service
    app.dependency_overrides[get_voice_service] = lambda: service
    return app


def until_done(ws, validate) -> list[dict]:
    messages = []
    while True:
        message = ws.receive_json()
        validate(message)
        messages.append(message)
        if message.get("type") == "done":
            return messages


@pytest.mark.parametrize(("failure", "code"), FAILURES, ids=lambda v: type(v).__name__ if not isinstance(v, str) else v)
def test_a_chat_turn_that_fails_mid_stream_ends_with_error_then_done(failure, code):
    service = FakeService(failure)
    with TestClient(app_with(service)).websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "user_message", "content": "hi", "session_id": "s1"})
        *tokens, error, done = until_done(ws, validate_chat_message)
        assert [t["content"] for t in tokens] == ["Hello", " there"]
        assert (error["type"], error["code"]) == ("error", code)
        assert done == {"type": "done", "run_id": error["run_id"], "status": "error"}
        assert service.settled == [(done["run_id"], "error")], "the run is settled before done goes out"
        if code == "internal_error":
            assert "Error" not in error["message"] and "/" not in error["message"].replace("/ws", "")
        # the socket stays usable: the next turn runs and ends the same way
        ws.send_json({"type": "user_message", "content": "again", "session_id": "s1"})
        assert until_done(ws, validate_chat_message)[-1]["status"] == "error"


@pytest.mark.parametrize(("failure", "code"), FAILURES[:3], ids=["RuntimeError", "NotImplementedError", "recursion"])
def test_a_voice_turn_that_fails_mid_stream_ends_with_error_then_done(failure, code):
    service = FakeService(failure)
    with TestClient(app_with(service)).websocket_connect("/ws/assistant") as ws:
        ws.send_json({"type": "text", "content": "hi"})
        *_, error, done = until_done(ws, validate_assistant_message)
        assert (error["code"], done["status"]) == (code, "error")
        assert service.settled == [(done["run_id"], "error")]


def test_a_failure_is_logged_at_error_level_with_its_run(caplog):
    service = FakeService(RuntimeError("the tool's own words"))
    with TestClient(app_with(service)).websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "user_message", "content": "hi", "session_id": "s1"})
        done = until_done(ws, validate_chat_message)[-1]
    logged = [r for r in caplog.records if r.levelname == "ERROR" and done["run_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None, "the operator gets the traceback of the failed run"


def test_a_message_sent_right_after_a_turns_error_starts_the_next_turn():
    service = FakeService(RuntimeError("a tool broke"))
    with TestClient(app_with(service)).websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "user_message", "content": "hi", "session_id": "s1"})
        while (message := ws.receive_json()).get("type") != "error":
            pass
        ws.send_json({"type": "user_message", "content": "next", "session_id": "s1"})  # before done arrived
        seen = []
        while len([m for m in seen if m.get("type") == "done"]) < 2:
            seen.append(ws.receive_json())
    assert not [m for m in seen if m.get("code") == "busy"], seen
    first, second = (m for m in seen if m.get("type") == "done")
    assert first["run_id"] == message["run_id"] and second["run_id"] != first["run_id"]

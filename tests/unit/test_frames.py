"""Bounded frame parsing and the per-socket and per-client limits, and /ws/tasks answering hostile frames."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from workbench.server import ws_tasks
from workbench.server.dependencies import get_task_manager
from workbench.server.frames import MAX_DEPTH, ClientTurns, FrameError, TokenBucket, parse_frame
from workbench.settings import Settings


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[" * 100_000, "invalid_message"),  # RecursionError inside json, answered
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "invalid_message"),
        ("1" * 5000, "invalid_message"),  # over Python's int string limit: ValueError inside json
        ("[1e999]", "invalid_message"),
        ('{"a": NaN}', "invalid_json"),
        ("{", "invalid_json"),
        ("\udcff", "invalid_json"),
    ],
)
def test_hostile_json_becomes_a_frame_error_with_a_protocol_code(text, code):
    with pytest.raises(FrameError) as caught:
        parse_frame(text)
    assert caught.value.code == code
    assert "Error" not in str(caught.value)


def test_ordinary_json_within_the_bounds_parses():
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_frame('{"type": "abort", "n": 12345, "x": 1.5}') == {"type": "abort", "n": 12345, "x": 1.5}
    assert parse_frame(nested) is not None


def test_a_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert bucket.take() and not bucket.take()


def test_client_turns_are_bounded_and_leave_no_entry_behind():
    turns = ClientTurns(limit=2)
    assert turns.acquire("a") and turns.acquire("a") and not turns.acquire("a") and turns.acquire("b")
    for client in ("a", "a", "b"):
        turns.release(client)
    assert not turns.running


class QuietTasks:
    """A task that exists and never produces an event."""

    def __init__(self) -> None:
        self.settings = Settings(max_messages_per_s=1000, max_message_burst=1000)
        self.cancelled = 0

    async def known(self, task_id: str) -> bool:
        return True

    async def subscribe(self, task_id: str):
        await asyncio.Event().wait()
        yield {}

    async def cancel(self, task_id: str) -> bool:
        self.cancelled += 1
        return True


@pytest.mark.parametrize(
    "frame", ["[" * 3000, "1" * 3000, "{", '{"type": "drop"}', '{"type": "cancel", "x": 1}', "x" * 5000]
)
def test_the_task_socket_answers_hostile_frames_and_stays_open(frame):
    app = FastAPI()
    app.include_router(ws_tasks.router)
    tasks = QuietTasks()
    app.dependency_overrides[get_task_manager] = lambda: tasks
    with TestClient(app).websocket_connect("/ws/tasks/t") as ws:
        ws.send_text(frame)
        reply = ws.receive_json()
        assert reply["type"] == "error"
        assert reply["code"] in ("invalid_json", "invalid_message", "unknown_type", "message_too_large")
        ws.send_text(json.dumps({"type": "cancel"}))
        ws.send_text("{")
        assert ws.receive_json()["code"] == "invalid_json"  # still answering, and the cancel went through
    assert tasks.cancelled == 1


def test_a_flooded_task_socket_is_rate_limited():
    app = FastAPI()
    app.include_router(ws_tasks.router)
    tasks = QuietTasks()
    tasks.settings = Settings(max_messages_per_s=0.001, max_message_burst=2)
    app.dependency_overrides[get_task_manager] = lambda: tasks
    with TestClient(app).websocket_connect("/ws/tasks/t") as ws:
        codes = []
        for _ in range(4):
            ws.send_text("{")
            codes.append(ws.receive_json()["code"])
    assert codes == ["invalid_json", "invalid_json", "rate_limited", "rate_limited"]

"""The written repo-audit schema matches the protocol models and accepts and rejects what it should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from workbench.server.protocol_tasks import json_schema

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "protocols" / "tasks.schema.json").read_text())


def accepts(message: Any, part: str) -> bool:
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{part}", "$defs": SCHEMA["$defs"]}).is_valid(message)


def test_committed_schema_is_generated_from_the_models():
    assert json_schema() == SCHEMA, "run: python -m workbench.server.schemas"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


BASE = {"task_id": "t1", "seq": 0, "timestamp": "2026-11-23T12:00:00+00:00"}
COUNTS = {"critical": 0, "high": 1, "medium": 0, "low": 0, "info": 0}
VALID = [
    {**BASE, "type": "task.started", "repo": "https://github.com/psf/requests", "agents": ["explorer"]},
    {**BASE, "type": "task.progress", "step": "clone", "agent": None, "message": "cloning", "percent": 2},
    {**BASE, "type": "task.progress", "step": "select", "message": "agents", "percent": 15, "plan": ["security"]},
    {**BASE, "type": "task.agent_result", "agent": "security", "status": "ok", "counts": COUNTS, "findings": 1,
     "summary": "1 finding", "duration_s": 0.5},
    {**BASE, "type": "task.completed", "status": "partial", "counts": COUNTS, "summary": "s"},
    {**BASE, "type": "task.error", "level": "agent", "agent": "security", "status": "timeout", "message": "late"},
    {**BASE, "type": "task.error", "level": "task", "code": "clone_failed", "message": "no such repository"},
    {"type": "error", "code": "task_not_found", "message": "no task 'x'"},
]  # fmt: skip
INVALID = [
    {**BASE, "step": "clone", "message": "no type", "percent": 2},
    {**BASE, "type": "task.progress", "step": "install", "message": "m", "percent": 2},
    {**BASE, "type": "task.progress", "step": "clone", "message": "m", "percent": 120},
    {**BASE, "type": "task.completed", "status": "failed", "counts": COUNTS, "summary": "s"},
    {**BASE, "type": "task.error", "level": "repo", "message": "m"},
    {"type": "task.started", "repo": "r", "agents": []},  # no task_id, seq, timestamp
    {**BASE, "type": "task.agent_result", "agent": "linter", "status": "ok", "counts": {}, "findings": 0,
     "summary": "", "duration_s": 0},
]  # fmt: skip


@pytest.mark.parametrize("message", VALID)
def test_sample_events_validate(message):
    assert accepts(message, "server")


@pytest.mark.parametrize("message", INVALID)
def test_malformed_events_fail(message):
    assert not accepts(message, "server")


def test_request_bodies():
    assert accepts({"repo": "https://github.com/psf/requests", "agents": ["security"]}, "create_task")
    assert accepts({"repo": "/srv/x", "agent_timeouts": {"security": 30}, "model": "none"}, "create_task")
    assert not accepts({"repo": ""}, "create_task")
    assert not accepts({"repo": "x", "agents": ["linter"]}, "create_task")
    assert not accepts({"repo": "x", "agent_timeouts": {"security": 0}}, "create_task")
    assert not accepts({"repo": "x", "upload_pack": "sh"}, "create_task")
    assert accepts({"type": "cancel"}, "client") and not accepts({"type": "abort"}, "client")


def test_the_task_socket_sends_each_recorded_event_as_it_was_recorded_then_closes():
    """Typed on the way out, a task's events keep their bytes: no field added (an unset ``agent``), none dropped (a
    ``code`` recorded as null), ``type`` first."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from workbench.server import ws_tasks
    from workbench.server.dependencies import get_task_manager
    from workbench.settings import Settings

    def head(kind: str, seq: int) -> dict[str, Any]:
        return {"type": kind, "task_id": "t1", "seq": seq, "timestamp": "2026-11-23T12:00:00+00:00"}

    recorded = [
        {**head("task.started", 0), "repo": "r", "ref": None, "agents": ["security"]},
        {**head("task.progress", 1), "step": "select", "message": "agents", "percent": 15.0, "plan": ["security"]},
        {**head("task.progress", 2), "step": "agents", "agent": "security", "message": "started", "percent": 15.0},
        {**head("task.error", 3), "level": "task", "code": None, "message": "boom"},
    ]

    class Tasks:
        settings = Settings()

        async def known(self, task_id: str) -> bool:
            return True

        async def subscribe(self, task_id: str):
            for event in recorded:
                yield event

    app = FastAPI()
    app.include_router(ws_tasks.router)
    app.dependency_overrides[get_task_manager] = lambda: Tasks()
    with TestClient(app).websocket_connect("/ws/tasks/t1") as ws:
        assert [ws.receive_text() for _ in recorded] == [json.dumps(e, separators=(",", ":")) for e in recorded]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1000, "task ended")

"""Damaged state files and a read-only home, on a real ``workbench serve``: what the client, the REST API and the
operator see. Files that hold only rebuildable state are rebuilt; the conversations' file is never deleted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import read_only
from tests.integration.conftest import run_cli, running_server, validate_chat_message
from workbench.runlog import RunLog, RunRecord

pytestmark = pytest.mark.integration

ENV = {"WORKBENCH_LLM": "fake/stream", "WORKBENCH_WARM_SPEECH": "false"}


def garbage(path: Path) -> bytes:
    data = b"\x00garbage, not a database\xff" * 4096
    path.write_bytes(data)
    return data


def chat_turn(ws_url: str, content: str, session: str) -> list[dict[str, Any]]:
    with connect(f"{ws_url}/ws/chat", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "user_message", "content": content, "session_id": session}))
        messages: list[dict[str, Any]] = []
        while not messages or messages[-1].get("type") != "done":
            messages.append(json.loads(ws.recv(timeout=60)))
            validate_chat_message(messages[-1])
    return messages


def test_a_damaged_checkpoint_file_is_kept_and_turns_say_how_to_recover(tmp_path: Path) -> None:
    kept = garbage(tmp_path / "checkpoints.sqlite")
    with running_server(tmp_path, **ENV) as server:
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        error, done = chat_turn(server.ws_url, "hello", "s1")
        log = next(tmp_path.glob("server-*.log")).read_text()
    assert (error["type"], error["code"], done["status"]) == ("error", "storage_unavailable", "error")
    assert "damaged" in error["message"] and "backup" in error["message"] and str(tmp_path) not in error["message"]
    assert (tmp_path / "checkpoints.sqlite").read_bytes() == kept, "the conversations' file is never deleted"
    assert "checkpoints.sqlite" in log and "damaged" in log and "Traceback" not in log


def test_a_damaged_lease_file_is_made_again_with_one_warning(tmp_path: Path) -> None:
    garbage(tmp_path / "sessions.sqlite")
    with running_server(tmp_path, **ENV) as server:
        assert chat_turn(server.ws_url, "hello", "s1")[-1]["status"] == "ok"
        log = next(tmp_path.glob("server-*.log")).read_text()
    assert len(list(tmp_path.glob("sessions.sqlite.damaged-*"))) == 1
    assert len([line for line in log.splitlines() if "session lease file" in line]) == 1


def test_a_damaged_run_log_answers_503_with_what_to_do(tmp_path: Path) -> None:
    garbage(tmp_path / "runs.duckdb")
    with running_server(tmp_path, **ENV) as server:
        listed = httpx.get(f"{server.url}/api/tasks/", timeout=30)
        one = httpx.get(f"{server.url}/api/tasks/abc", timeout=30)
    for response in (listed, one):
        assert response.status_code == 503, response.text
        detail = response.json()["detail"]
        assert detail["code"] == "storage_unavailable" and "runs.duckdb" in detail["message"]
        assert "backup" in detail["message"] and str(tmp_path) not in detail["message"]
    runs = run_cli(tmp_path, "runs", **ENV)
    assert runs.returncode == 1 and "damaged" in runs.stderr and "Traceback" not in runs.stderr


def test_a_read_only_home_is_refused_in_one_line_and_its_runs_are_still_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with RunLog(home / "runs.duckdb", journal=False) as runlog:
        runlog.log_run(RunRecord("5f0c1d2e-0000-4000-8000-000000000001", "chat", status="ok", input="kept question"))
    with read_only(home):
        served = run_cli(home, "serve", "--port", "9", timeout=60, **ENV)
        runs = run_cli(home, "runs", **ENV)
    assert served.returncode == 2 and "Traceback" not in served.stderr
    assert [line for line in served.stderr.splitlines() if line.strip()] == [served.stderr.strip()]
    assert "not writable" in served.stderr and "WORKBENCH_HOME" in served.stderr
    assert runs.returncode == 0, runs.stderr
    assert "5f0c1d2e" in runs.stdout and "kept question" in runs.stdout and "Traceback" not in runs.stderr

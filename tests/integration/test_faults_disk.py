"""A full disk on a real server: every turn ends with ``storage_unavailable`` and ``done``, ``/ready`` names what
fails, nothing the clients saw is lost, and the server recovers once space is freed; the embedded vector store
refuses to open or write on a disk that cannot back it instead of dying with SIGBUS.

The home lives on a tmpfs of its own (mounting one needs root, as CI has)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from websockets.sync.client import connect

from tests.integration.conftest import ROOT, Server, run_cli, validate_chat_message

pytestmark = pytest.mark.integration
SIZE_MB = 256


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"tmpfs cannot be mounted here: {done.stderr.decode()[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave_kb: int) -> list[Path]:
    """Take all but about ``leave_kb`` KB of the disk (0: every byte) with files; deleting them frees it again."""
    files, chunk = [], 2**30
    while chunk >= 4096:
        stat = os.statvfs(disk)
        if stat.f_bavail * stat.f_frsize <= leave_kb * 1024:
            break
        path = disk / f"filler-{len(files)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        try:
            os.posix_fallocate(fd, 0, min(chunk, stat.f_bavail * stat.f_frsize - leave_kb * 1024))
            files.append(path)
        except OSError:
            os.unlink(path)
            chunk //= 4
        finally:
            os.close(fd)
    return files


def turn(ws, session: str) -> list[dict]:
    ws.send(json.dumps({"type": "user_message", "content": "Which port does the server use?", "session_id": session}))
    messages = []
    while True:
        message = json.loads(ws.recv(timeout=60))
        validate_chat_message(message)
        messages.append(message)
        if message.get("type") == "done":
            return messages


def statuses(home: Path) -> dict[str, tuple[str, str | None]]:
    with duckdb.connect(str(home / "runs.duckdb"), read_only=True) as con:
        return {row[0]: (row[1], row[2]) for row in con.sql("select run_id, status, error from runs").fetchall()}


def test_a_full_disk_fails_turns_clearly_loses_nothing_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    home = small_disk / "home"
    home.mkdir()
    server = Server(home, {"WORKBENCH_LLM": "extractive", "WORKBENCH_MIN_FREE_DISK_MB": "1"}, log_dir=tmp_path)
    server.start()
    port = server.port
    told: dict[str, str] = {}
    try:
        with connect(f"{server.ws_url}/ws/chat") as ws:
            first = turn(ws, "before")
            assert first[-1]["status"] == "ok"
            told[first[-1]["run_id"]] = "ok"

            fillers = fill(small_disk, leave_kb=0)
            for i in range(4):
                *_, error, done = turn(ws, f"full-{i}")
                assert (error["type"], error["code"], done["status"]) == ("error", "storage_unavailable", "error")
                assert "free" in error["message"] and str(home) not in error["message"]
                told[done["run_id"]] = "error"

            time.sleep(1.5)  # /ready probes at most once a second
            ready = httpx.get(f"{server.url}/ready", timeout=10)
            assert ready.status_code == 503
            failing = {check["name"]: check["reason"] for check in ready.json()["checks"] if not check["ok"]}
            assert "disk" in failing and all(str(home) not in reason for reason in failing.values())
            assert httpx.get(f"{server.url}/health", timeout=10).json()["status"] == "degraded"

            for filler in fillers:
                filler.unlink()
            deadline = time.monotonic() + 30
            while True:  # the held runs are written within the writer's retry pause (at most 5 s)
                again = turn(ws, "after")
                if again[-1]["status"] == "ok" or time.monotonic() > deadline:
                    break
                told[again[-1]["run_id"]] = "error"
                time.sleep(1)
            assert again[-1]["status"] == "ok", again
            told[again[-1]["run_id"]] = "ok"
            deadline = time.monotonic() + 15
            while (ready := httpx.get(f"{server.url}/ready", timeout=10)).status_code != 200:
                assert time.monotonic() < deadline, ready.json()
                time.sleep(0.5)
    finally:
        server.stop()
    logged = statuses(home)
    heard = {run_id: logged.get(run_id, ("missing",))[0] for run_id in told}
    assert heard == told, "the run log holds every run its clients heard of, as they heard it"
    log = (tmp_path / f"server-{port}.log").read_text()
    assert "full" in log and "free space" in log, "the operator's log says what failed and what to do"


def test_the_vector_store_refuses_a_disk_that_cannot_back_it_and_the_server_still_starts(small_disk, tmp_path) -> None:
    home = small_disk / "home"
    home.mkdir()
    ingested = run_cli(home, "ingest", str(ROOT / "datasets" / "corpus"))
    assert ingested.returncode == 0, ingested.stderr
    fillers = fill(small_disk, leave_kb=8 * 1024)

    refused = run_cli(home, "ingest", str(ROOT / "README.md"))
    assert refused.returncode == 2, "a refusal, not a crash (SIGBUS is -7)"
    assert "free space" in refused.stderr + refused.stdout and "Traceback" not in refused.stderr

    server = Server(home, {"WORKBENCH_LLM": "extractive"}, log_dir=tmp_path).start()
    try:
        with connect(f"{server.ws_url}/ws/chat") as ws:
            *_, error, done = turn(ws, "low")
        assert (error["code"], done["status"]) == ("storage_unavailable", "error")
        checks = {c["name"]: c for c in httpx.get(f"{server.url}/ready", timeout=10).json()["checks"]}
        assert not checks["vector_store"]["ok"] and "free space" in checks["vector_store"]["reason"]
    finally:
        server.stop()
    for filler in fillers:
        filler.unlink()
    answered = run_cli(home, "ask", "Which port does the server use?", "--model", "extractive")
    assert answered.returncode == 0 and "corpus/" in answered.stdout, answered.stderr  # it answers, citing the guide

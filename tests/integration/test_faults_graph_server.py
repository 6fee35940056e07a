"""A gateway on a real ``langgraph dev`` whose server dies mid-turn: the client hears at once that the server dropped
the run, no token of it arrives twice, and a server that comes back (and would run the lost run again by itself)
has the run cancelled and rolled back: the session's history never holds it, the session is free, and the run's
row says error, not ok. A server left down is reported within the connect timeout."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.integration.conftest import (
    ROOT,
    Server,
    free_port,
    run_cli,
    server_config,
    validate_chat_message,
)
from tests.servers import wait_until_answers
from workbench.resources import Resources
from workbench.runlog import get_run
from workbench.runtime import open_runtime
from workbench.settings import Settings

pytestmark = pytest.mark.integration

QUESTION = "How do I configure the data folder?"


class DevServer:
    """``langgraph dev`` on a fixed port and working folder, so it can be killed and started again as the same
    server (it keeps its runs and threads in ``.langgraph_api/`` of the folder)."""

    def __init__(self, home: Path, workdir: Path, env: dict[str, str]) -> None:
        self.home, self.workdir, self.env = home, workdir, env
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.config = server_config(workdir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DevServer:
        log = open(self.home / "langgraph.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
             "--host", "127.0.0.1", "--port", str(self.port), "--config", str(self.config),
             "--n-jobs-per-worker", "16"],
            cwd=self.workdir, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until_answers(f"{self.url}/ok", self.process, output=(self.home / "langgraph.log").read_text)
        except (RuntimeError, TimeoutError):
            self.kill()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: the server stops as in a crash, keeping what it last wrote to disk."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def stopped(self) -> None:
        """Wait for a server sent SIGTERM to stop by itself (it saves what it keeps), killing it after a minute."""
        if self.process is not None:
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def saved_since(self, moment: float) -> bool:
        """Whether the server wrote its runs to disk after ``moment`` (it does so every 10 s)."""
        ops = self.workdir / ".langgraph_api" / ".langgraph_ops.pckl"
        return ops.exists() and ops.stat().st_mtime > moment


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[DevServer, Server]]:
    home, workdir = tmp_path / "home", tmp_path / "langgraph"
    home.mkdir()
    workdir.mkdir()
    env = {"WORKBENCH_LLM": "fake/slow", "WORKBENCH_WARM_SPEECH": "false"}
    ingested = run_cli(home, "ingest", str(ROOT / "datasets" / "corpus"), **env)
    assert ingested.returncode == 0, ingested.stderr
    dev = DevServer(home, workdir, {"WORKBENCH_HOME": str(home), **env}).start()
    gateway = Server(home, {**env, "WORKBENCH_GRAPH_SERVER": dev.url, "WORKBENCH_GRAPH_SERVER_TIMEOUT_S": "3"})
    try:
        gateway.start()
        yield dev, gateway
    finally:
        gateway.stop()
        dev.kill()


def receive(ws: ClientConnection, timeout: float = 60) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    validate_chat_message(message)
    return message


def send(ws: ClientConnection, content: str, session: str, **extra: Any) -> None:
    ws.send(json.dumps({"type": "user_message", "content": content, "session_id": session, **extra}))


def until_done(ws: ClientConnection, timeout: float = 60) -> list[dict[str, Any]]:
    messages = [receive(ws, timeout)]
    while messages[-1].get("type") != "done":
        messages.append(receive(ws, timeout))
    return messages


def logged_as_error(gateway: Server, run_id: str, within: float = 60) -> dict[str, Any]:
    """The run's row once it says error (the gateway settles a dropped run when the server answers again)."""
    deadline = time.monotonic() + within
    while (run := get_run(gateway.home / "runs.duckdb", run_id)) is None or run["status"] != "error":
        if time.monotonic() > deadline:
            said = [line for line in gateway.log_path.read_text().splitlines() if "dropped" in line or "Error" in line]
            pytest.fail(f"the dropped run is not logged as an error: {run}; the gateway said: {said[-20:]}")
        time.sleep(0.5)
    return run


def history(url: str, home: Path, session: str) -> list[tuple[str, str]]:
    async def read() -> list[tuple[str, str]]:
        async with open_runtime(Resources(Settings(home=home, graph_server=url))) as runtime:
            return [(m.type, str(m.content)) for m in await runtime.messages("chat", session)]

    return asyncio.run(read())


def killed_mid_turn(
    dev: DevServer, gateway: Server, session: str, graceful: bool = False
) -> tuple[list[dict[str, Any]], float]:
    """Start a turn, kill the server (or stop it, ``graceful``) once it saved the running run to disk; what the
    client got, and how long after the kill the turn ended."""
    with connect(f"{gateway.ws_url}/ws/chat", open_timeout=30) as ws:
        started = time.time()
        send(ws, QUESTION, session)
        messages = [receive(ws)]
        assert messages[0]["type"] == "retrieval"
        while not dev.saved_since(started):  # the restarted server will know the run, and run it again
            messages.append(receive(ws))
            assert messages[-1].get("type") != "done", "the turn ended before the server saved it"
        if graceful:
            assert dev.process is not None
            dev.process.terminate()
        else:
            dev.kill()
        killed = time.monotonic()
        messages += until_done(ws)
        took = time.monotonic() - killed
    if graceful:
        dev.stopped()
    return messages, took


def test_a_run_the_server_dropped_fails_at_once_and_is_never_replayed_nor_kept(deployment) -> None:
    dev, gateway = deployment
    session = f"dropped-{uuid.uuid4().hex[:8]}"
    messages, took = killed_mid_turn(dev, gateway, session)
    run_id = messages[0]["run_id"]
    error, done = messages[-2:]
    assert took < 10, "the client hears at once, not after the SDK's reconnect attempts"
    assert (error["type"], error["code"], done["status"]) == ("error", "model_unavailable", "error")
    assert "dropped" in error["message"] and dev.url not in error["message"]
    words = [m["content"] for m in messages if m.get("role") == "assistant"]
    assert "".join(words).split() == [f"word{i}" for i in range(len("".join(words).split()))], "nothing repeated"

    dev.start()  # it finds the run it was running when it died, and starts it again by itself
    run = logged_as_error(gateway, run_id)
    assert "dropped" in run["error"]
    with connect(f"{gateway.ws_url}/ws/chat", open_timeout=30) as ws:
        send(ws, "asked after the restart", session, model="fake/stream")
        after = until_done(ws)
    assert after[-1]["status"] == "ok", after  # the session is not busy with a rerun
    # (langgraph dev keeps threads in memory: killed, it forgets them, but not the runs it was running)
    kept = history(dev.url, gateway.home, session)
    assert kept[0] == ("human", "asked after the restart"), "neither the dropped run nor a rerun of it is kept"
    assert [kind for kind, _ in kept] == ["human", "ai"]
    time.sleep(3)  # a rerun that was not cancelled would log its row again within its 20 s
    assert get_run(gateway.home / "runs.duckdb", run_id)["status"] == "error"


def test_a_run_interrupted_by_a_graceful_stop_is_a_dropped_run_not_an_empty_answer(deployment) -> None:
    """A server stopped with SIGTERM closes the run's stream cleanly, as if the run had ended."""
    dev, gateway = deployment
    session = f"stopped-{uuid.uuid4().hex[:8]}"
    messages, took = killed_mid_turn(dev, gateway, session, graceful=True)
    error, done = messages[-2:]
    assert (error["type"], error["code"], done["status"]) == ("error", "model_unavailable", "error"), messages[-3:]
    assert "dropped" in error["message"] and took < 10
    dev.start()
    logged_as_error(gateway, messages[0]["run_id"])
    assert history(dev.url, gateway.home, session) == [], "the stopped server's checkpoints of the run are gone"


def test_a_server_left_down_is_reported_within_the_connect_timeout(deployment) -> None:
    dev, gateway = deployment
    session = f"down-{uuid.uuid4().hex[:8]}"
    messages, took = killed_mid_turn(dev, gateway, session)
    assert took < 10 and messages[-1]["status"] == "error"
    with connect(f"{gateway.ws_url}/ws/chat", open_timeout=30) as ws:
        started = time.monotonic()
        send(ws, "anyone there?", session, model="fake/stream")
        error, done = until_done(ws)
        assert time.monotonic() - started < 3 * 3 + 5, "within the connect timeout (3 s) and the cancel attempt"
    assert error["code"] == "model_unavailable" and "WORKBENCH_GRAPH_SERVER" in error["message"]
    assert done["status"] == "error"

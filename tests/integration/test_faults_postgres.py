"""A gateway on Postgres checkpoints whose database stops and starts again (a PostgreSQL cluster of the test's own,
run by ``scripts/postgres.sh``, so the shared test server is left alone): turns fail within seconds with
storage_unavailable, a turn cut off while answering leaves no question without its answer, and the first turn
after the database is back works within seconds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.integration.conftest import ROOT, Server, free_port, validate_chat_message

pytestmark = pytest.mark.integration

QUESTION = "How do I configure the data folder?"
TIMEOUT_S = 3


class Cluster:
    """A PostgreSQL cluster in a folder of its own, on a fixed port so it comes back at the same address."""

    def __init__(self) -> None:
        if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
            pytest.skip("PostgreSQL is not installed (bash scripts/postgres.sh start installs it)")
        self.base = Path(tempfile.mkdtemp(prefix="wb-faults-pg-", dir="/tmp"))
        self.base.chmod(0o755)  # the server runs as `postgres` when we are root
        self.env = {**os.environ, "WORKBENCH_PG_DIR": str(self.base / "cluster"), "WORKBENCH_PG_PORT": str(free_port())}
        self.url = ""

    def script(self, command: str) -> str:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres.sh"), command],
            env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    def start(self) -> str:
        url = self.script("start")
        assert not self.url or url == self.url, "the cluster came back on its port"
        self.url = url
        return url

    def stop(self) -> None:
        self.script("stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)  # the cluster, its log and its start lock


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[Cluster, Server]]:
    cluster = Cluster()
    try:
        url = cluster.start()
        env = {
            "WORKBENCH_LLM": "fake/slow",
            "WORKBENCH_WARM_SPEECH": "false",
            "WORKBENCH_CHECKPOINTER_URL": url,
            "WORKBENCH_CHECKPOINTER_TIMEOUT_S": str(TIMEOUT_S),
        }
        server = Server(tmp_path, env).start()
        try:
            yield cluster, server
        finally:
            server.stop()
    finally:
        cluster.remove()


def receive(ws: ClientConnection, timeout: float = 60) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    validate_chat_message(message)
    return message


def turn(ws: ClientConnection, content: str, session: str, **extra: Any) -> list[dict[str, Any]]:
    ws.send(json.dumps({"type": "user_message", "content": content, "session_id": session, **extra}))
    messages = [receive(ws)]
    while messages[-1].get("type") != "done":
        messages.append(receive(ws))
    return messages


def history(cluster: Cluster, home: Path, session: str) -> list[tuple[str, str]]:
    import asyncio

    from workbench.resources import Resources
    from workbench.runtime import open_runtime
    from workbench.settings import Settings

    async def read() -> list[tuple[str, str]]:
        async with open_runtime(Resources(Settings(home=home, checkpointer_url=cluster.url))) as runtime:
            return [(m.type, str(m.content)) for m in await runtime.messages("chat", session)]

    return asyncio.run(read())


def test_a_postgres_outage_fails_turns_fast_keeps_sessions_whole_and_recovers_promptly(gateway) -> None:
    cluster, server = gateway
    session = f"pg-{uuid.uuid4().hex[:8]}"
    with connect(f"{server.ws_url}/ws/chat", open_timeout=30) as ws:
        assert turn(ws, "before the outage", session, model="fake/stream")[-1]["status"] == "ok"

        # the database stops while a turn streams its answer
        ws.send(json.dumps({"type": "user_message", "content": QUESTION, "session_id": session}))
        streamed = [receive(ws)]
        while sum(1 for m in streamed if m.get("role")) < 5:
            streamed.append(receive(ws))
        cluster.stop()
        stopped = time.monotonic()
        while streamed[-1].get("type") != "done":
            streamed.append(receive(ws))
        error = streamed[-2]
        assert (error["type"], error["code"]) == ("error", "storage_unavailable"), error
        assert "WORKBENCH_CHECKPOINTER_URL" in error["message"] and cluster.url not in error["message"]
        tokens = sum(1 for m in streamed if m.get("role"))
        assert tokens > 5, "the answer kept streaming; saving it failed"
        assert time.monotonic() - stopped < 20 + 3 * TIMEOUT_S + 10, "told within seconds of the answer's end"

        # while it is down, each turn hears within seconds
        for _ in range(2):
            started = time.monotonic()
            failed = turn(ws, "during the outage", session, model="fake/stream")
            assert failed[-2]["code"] == "storage_unavailable" and failed[-1]["status"] == "error"
            assert time.monotonic() - started < 3 * TIMEOUT_S + 5

        cluster.start()
        back = time.monotonic()
        while (answered := turn(ws, "after the outage", session, model="fake/stream"))[-1]["status"] != "ok":
            assert answered[-2]["code"] == "storage_unavailable"
            assert time.monotonic() - back < 20, "the first working turn comes within seconds of the database"
            time.sleep(0.5)
    kept = history(cluster, server.home, session)
    assert [kind for kind, _ in kept] == ["human", "ai", "human", "ai"], "no question is left without its answer"
    assert [text for kind, text in kept if kind == "human"] == ["before the outage", "after the outage"]
    log = next(server.home.glob("server-*.log")).read_text()
    failing = [line for line in log.splitlines() if "session checkpoints (postgres) fail" in line]
    assert len(failing) == 1, "the operator reads one line when the checkpoints start failing"

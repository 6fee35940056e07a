"""Real servers for integration tests: uvicorn subprocesses on free loopback ports, stopped by the tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAT_SCHEMA = json.loads((ROOT / "protocols" / "chat.schema.json").read_text())
ASSISTANT_SCHEMA = json.loads((ROOT / "protocols" / "assistant.schema.json").read_text())
TASKS_SCHEMA = json.loads((ROOT / "protocols" / "tasks.schema.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ``workbench`` uvicorn process on a free loopback port with its own WORKBENCH_HOME."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {**os.environ, "WORKBENCH_HOME": str(home), **(env or {})}
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> Server:
        self.port = free_port()
        log = open(self.home / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "serve", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {(self.home / f'server-{self.port}.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError("server did not become healthy")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def running_server(home: Path, **env: str) -> Iterator[Server]:
    server = Server(home, env).start()
    try:
        yield server
    finally:
        server.stop()


def validate_chat_message(message: dict) -> None:
    """Every message a chat client receives must match the server half of the written schema."""
    jsonschema.validate(message, {"$ref": "#/$defs/server", "$defs": CHAT_SCHEMA["$defs"]})


def validate_assistant_message(message: dict) -> None:
    """Every message a voice client receives must match the server half of the written schema."""
    jsonschema.validate(message, {"$ref": "#/$defs/server", "$defs": ASSISTANT_SCHEMA["$defs"]})


def validate_tasks_message(message: dict, part: str = "server") -> None:
    """A ``/ws/tasks`` message (or, with ``part``, a REST body such as ``task_info``) against the written schema."""
    jsonschema.validate(message, {"$ref": f"#/$defs/{part}", "$defs": TASKS_SCHEMA["$defs"]})


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory) -> Iterator[Server]:
    """One server for the module: real MiniLM embeddings and local Qdrant, the slow fake model by default."""
    with running_server(tmp_path_factory.mktemp("home"), WORKBENCH_LLM="fake/slow") as server:
        yield server

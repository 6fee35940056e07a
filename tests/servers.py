"""Servers that tests and benchmarks start as child processes: a free loopback port to give one, waiting until it
answers (with the server's output in the error when it exits first or never answers), and waiting until it has
logged a run as finished."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answers(
    url: str,
    process: subprocess.Popen,
    *,
    timeout: float = 120.0,
    output: Callable[[], str] = str,
    interval: float = 0.2,
) -> None:
    """Poll ``url`` until it answers 200. :class:`RuntimeError` when ``process`` exits first, :class:`TimeoutError`
    when ``timeout`` seconds pass; either ends with the last of ``output()`` (the server's log). Stopping the
    process is the caller's."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}) before {url} answered: {output()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:g} s: {output()[-3000:]}")
        time.sleep(interval)


def wait_for_run(home: Path, run_id: str, timeout: float = 20) -> dict[str, Any]:
    """The row of run ``run_id`` in the run log under ``home`` once the run has finished (ok, error or aborted)."""
    from workbench.runlog import get_run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = get_run(home / "runs.duckdb", run_id)
        if run is not None and run["status"] != "running":
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} was not logged")

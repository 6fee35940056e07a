"""The audit on a real server stays inside WORKBENCH_AUDIT_ALLOWED_ROOTS whatever a repository's .git links to,
and a server killed with SIGKILL leaves no git process running and no task without its ending.

One server for the module, allowed one root of hostile repositories whose .git leads to a repository outside it
(commondir, linked objects and refs, alternates, a worktree's gitdir file, a link deep in objects). A fake git,
first on the server's PATH and GitPython's executable, runs the real one, except that while the hold file exists
a clone records its pid and that of a background ``sleep``, and waits: a task is held in its clone on cue.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.integration.conftest import Server, run_cli, running_server, validate_tasks_message
from tests.unit.test_audit_clone import alive, gone_within
from tests.unit.test_audit_git_source import FOLLOWINGS, SECRET, hostile
from workbench.audit.records import STOPPED_QUEUED, STOPPED_RUNNING
from workbench.tasks.manager import TERMINAL

pytestmark = pytest.mark.integration

OUTSIDE_NAMES = ("secret_credentials", SECRET)
"""What of the outside repository must never show: a file name and a commit message."""


@dataclass
class Confined:
    server: Server
    base: Path
    root: Path
    hold: Path
    pids: Path
    """The pids a held clone records: the fake git's and its background sleep's."""


@pytest.fixture(scope="module")
def confined(tmp_path_factory) -> Iterator[Confined]:
    base = tmp_path_factory.mktemp("confined")
    root, bin_dir = base / "root", base / "bin"
    root.mkdir()
    bin_dir.mkdir()
    secret = base / "outside" / "secret"
    secret.mkdir(parents=True)
    _git(secret, "init", "-q", "-b", "main")
    (secret / "secret_credentials.py").write_text("KEY = 'x'\n")
    _git(secret, "add", "-A")
    _git(secret, "commit", "-qm", SECRET)
    for how in FOLLOWINGS:
        hostile(root, secret, how)
    shutil.copytree(Path(__file__).parents[2] / "datasets" / "repos" / "clean-lib", root / "clean-lib")
    _git(root / "clean-lib", "init", "-q", "-b", "main")
    _git(root / "clean-lib", "add", "-A")
    _git(root / "clean-lib", "commit", "-qm", "fixture")
    real, hold, pids = shutil.which("git"), base / "hold", base / "pids"
    assert real
    fake = bin_dir / "git"
    fake.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" clone "*) if [ -e {shlex.quote(str(hold))} ]; then\n'
        f"  sleep 300 & echo $! >> {shlex.quote(str(pids))}; echo $$ >> {shlex.quote(str(pids))}\n"
        f"  while [ -e {shlex.quote(str(hold))} ]; do sleep 0.05; done; fi;; esac\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    fake.chmod(0o755)
    env = {
        "WORKBENCH_AUDIT_ALLOWED_ROOTS": str(root),
        "WORKBENCH_AUDIT_MAX_CONCURRENT": "1",
        "WORKBENCH_LLM": "extractive",
        "WORKBENCH_WARM_SPEECH": "false",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GIT_PYTHON_GIT_EXECUTABLE": str(fake),
    }
    with running_server(tmp_path_factory.mktemp("confined-home"), **env) as server:
        yield Confined(server, base, root, hold, pids)


def _git(cwd: Path, *args: str) -> None:
    import subprocess

    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(
        ["git", "-c", "user.name=Secret Author", "-c", "user.email=s@x", *args], cwd=cwd, env=env, check=True
    )


def watch(confined: Confined, task_id: str, timeout: float = 120) -> list[dict[str, Any]]:
    messages = []
    with connect(f"{confined.server.ws_url}/ws/tasks/{task_id}", open_timeout=30) as ws:
        try:
            while True:
                message = json.loads(ws.recv(timeout=timeout))
                validate_tasks_message(message)
                messages.append(message)
        except ConnectionClosed:
            pass
    return messages


def status(confined: Confined, task_id: str) -> dict[str, Any]:
    response = httpx.get(f"{confined.server.url}/api/tasks/{task_id}", timeout=30)
    assert response.status_code == 200, response.text
    validate_tasks_message(response.json(), "task_info")
    return response.json()


@pytest.mark.parametrize("how", FOLLOWINGS)
def test_nothing_of_a_repository_outside_the_roots_reaches_any_report(confined: Confined, how: str) -> None:
    response = httpx.post(f"{confined.server.url}/api/tasks/", json={"repo": str(confined.root / how)}, timeout=30)
    shown = [response.text]
    if response.status_code == 400:  # refused before a task exists
        assert response.json()["detail"]["code"] == "path_not_allowed"
    else:  # found as the history is copied: the task ends with the refusal
        assert response.status_code == 202, response.text
        task_id = response.json()["task_id"]
        events = watch(confined, task_id)
        assert events[-1]["type"] == "task.error" and events[-1]["code"] == "path_not_allowed", events[-1]
        shown += [json.dumps(events), json.dumps(status(confined, task_id))]
        for fmt in ("json", "sarif", "md"):
            report = httpx.get(f"{confined.server.url}/api/tasks/{task_id}/results", params={"format": fmt})
            shown.append(report.text)
    assert "cannot be audited" in shown[0] or "cannot be audited" in shown[1]
    for text in shown:
        assert str(confined.base / "outside") not in text and str(confined.server.home) not in text  # no path
        for name in (*OUTSIDE_NAMES, "Secret Author"):
            assert name not in text


def test_a_self_contained_repository_is_still_audited(confined: Confined) -> None:
    response = httpx.post(f"{confined.server.url}/api/tasks/", json={"repo": str(confined.root / "clean-lib")})
    assert response.status_code == 202, response.text
    events = watch(confined, response.json()["task_id"])
    assert events[-1]["type"] == "task.completed", events[-1]


@pytest.mark.parametrize("how", ["linked-objects-and-refs", "deep-link"])
def test_the_cli_refuses_the_same_folders(confined: Confined, how: str, tmp_path: Path) -> None:
    """``workbench audit PATH`` allows PATH itself: what its .git leads to is still out of bounds."""
    done = run_cli(tmp_path, "audit", str(confined.root / how), "--model", "none", WORKBENCH_LLM="extractive")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "cannot be audited" in done.stderr and "Traceback" not in done.stderr
    for name in (*OUTSIDE_NAMES, "Secret Author", str(confined.base / "outside")):
        assert name not in done.stdout + done.stderr


def test_a_killed_server_leaves_no_git_running_and_its_tasks_end(confined: Confined) -> None:
    """Last in the module: it kills the server with SIGKILL, then starts it again on the same home."""
    confined.hold.touch()
    try:
        body = {"repo": str(confined.root / "clean-lib"), "agents": ["explorer"]}
        running = httpx.post(f"{confined.server.url}/api/tasks/", json=body).json()["task_id"]
        queued = httpx.post(f"{confined.server.url}/api/tasks/", json=body).json()["task_id"]
        deadline = time.monotonic() + 60
        while len(confined.pids.read_text().split() if confined.pids.exists() else []) < 2:
            assert time.monotonic() < deadline, "the held clone never started"
            time.sleep(0.05)
        held = [int(pid) for pid in confined.pids.read_text().split()]
        assert all(alive(pid) for pid in held)
        assert confined.server.process is not None
        confined.server.process.send_signal(signal.SIGKILL)
        confined.server.process.wait()
        confined.server.process = None
        assert all(gone_within(pid, 10.0) for pid in held), "git outlived the killed server"
    finally:
        confined.hold.unlink()

    confined.server.start()  # its recovery marks both tasks interrupted
    ran, waited = status(confined, running), status(confined, queued)
    assert (ran["status"], ran["error"]) == ("interrupted", STOPPED_RUNNING)
    assert (waited["status"], waited["error"]) == ("interrupted", STOPPED_QUEUED)
    for info in (ran, waited):
        assert info["status"] in TERMINAL
        assert not {"pending", "running"} & {state["status"] for state in info["agent_states"].values()}
    replay = watch(confined, running)
    assert replay[0]["type"] == "task.started"
    assert replay[-1] | {"timestamp": None} == {
        "type": "task.error",
        "task_id": running,
        "seq": len(replay) - 1,
        "timestamp": None,
        "level": "task",
        "message": STOPPED_RUNNING,
    }
    assert [(e["type"], e["message"]) for e in watch(confined, queued)] == [("task.error", STOPPED_QUEUED)]

"""The repo-audit path on a real server: ``POST /api/tasks/``, ``/ws/tasks/{task_id}``, results as JSON, SARIF and
Markdown, the DuckDB record, refusals, cancel and restart.

One uvicorn server for the module, on its own WORKBENCH_HOME, may audit one temporary root of fixture repositories
(made git repositories, so the clone path runs). A fake ``git``, first on the server's PATH and GitPython's
executable, appends every call to a canary file and then runs the real git: the refusal tests prove from it that
a refused request started no git process at all, and the first audit proves the canary sees the ones that do.
Every socket message is validated against the server half of ``protocols/tasks.schema.json``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import git
import httpx
import jinja2
import jsonschema
import pytest
import requests
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.integration.conftest import ROOT, Server, running_server, validate_tasks_message
from workbench.audit.git_source import scratch_for
from workbench.audit.models import AuditReport
from workbench.runlog import RunLog, get_run
from workbench.runlog.schema import TaskRecord
from workbench.runlog.schema import connect as connect_db
from workbench.testing import exited_owner

pytestmark = pytest.mark.integration

REPOS = ROOT / "datasets" / "repos"
SARIF = jsonschema.Draft4Validator(json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text()))
_LABELS = yaml.safe_load((REPOS / "inventory-api.expected.yaml").read_text())
EXPECTED = {f["id"]: f for f in _LABELS["findings"]}
CLEAN_FILES = set(_LABELS["clean_files"])
PLANTED = ("inv-sqli", "inv-cmdi-system", "inv-cmdi-shell", "inv-pickle", "inv-md5", "inv-mutable-default")
AUTHOR = git.Actor("Fixture Author", "fixture@example.com")
STEPS = ["clone", "select", "agents", "aggregate"]
TERMINAL = {"completed", "partial", "failed", "cancelled", "interrupted"}


@dataclass
class AuditServer:
    server: Server
    root: Path
    """The only folder local audits may read (WORKBENCH_AUDIT_ALLOWED_ROOTS)."""
    outside: Path
    canary: Path
    """Every git call the server made, one line of arguments each."""
    pwned: Path
    """What the hostile payloads would create if git ever ran them."""
    hold: Path
    """While this file exists, clones wait: a task is held running for as long as a test needs."""

    @property
    def db(self) -> Path:
        return self.server.home / "runs.duckdb"

    def git_calls(self) -> list[str]:
        return self.canary.read_text().splitlines() if self.canary.exists() else []


@dataclass
class Watched:
    messages: list[dict[str, Any]]
    close_code: int | None
    close_reason: str | None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"].startswith("task.")]


@dataclass
class FinishedAudit:
    task_id: str
    created: dict[str, Any]
    watched: Watched
    git_calls: list[str] = field(default_factory=list)
    """The git calls the server made while this task ran."""


IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")


def commit_all(folder: Path) -> Path:
    """Make ``folder`` a git repository with one commit of everything, by a fixed author at a fixed date."""
    repo = git.Repo.init(folder, initial_branch="main")
    try:
        repo.git.add("-A")
        when = "1714564800 +0000"  # 2024-05-01 12:00 UTC
        repo.index.commit("fixture", author=AUTHOR, committer=AUTHOR, author_date=when, commit_date=when)
    finally:
        repo.close()
    return folder


def slow_repo(dest: Path) -> Path:
    """About 50 real Python modules (requests, jinja2): the analyzers need seconds, long enough to act mid-run."""
    for package in (requests, jinja2):
        folder = Path(package.__file__ or "").parent
        shutil.copytree(folder, dest / folder.name, ignore=IGNORE)
    return commit_all(dest)


@pytest.fixture(scope="module")
def audit(tmp_path_factory) -> Iterator[AuditServer]:
    base = tmp_path_factory.mktemp("audit")
    root, outside, bin_dir = base / "repos", base / "outside", base / "fake-bin"
    for folder in (root, outside, bin_dir):
        folder.mkdir()
    commit_all(shutil.copytree(REPOS / "inventory-api", root / "inventory-api", ignore=IGNORE))
    slow_repo(root / "big")
    (root / "escape").symlink_to(outside)
    canary = base / "git-calls"
    real = shutil.which("git")
    assert real, "the tests need git"
    fake = bin_dir / "git"
    hold = base / "hold-clones"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {shlex.quote(str(canary))}\n'
        # while the hold file exists a clone waits (killable, as a real slow clone): a task stays running on cue
        f'case " $* " in *" clone "*) while [ -e {shlex.quote(str(hold))} ]; do sleep 0.05; done;; esac\n'
        f'exec {shlex.quote(real)} "$@"\n'
    )
    fake.chmod(0o755)
    env = {
        "WORKBENCH_AUDIT_ALLOWED_ROOTS": str(root),
        "WORKBENCH_LLM": "extractive",
        "WORKBENCH_WARM_SPEECH": "false",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GIT_PYTHON_GIT_EXECUTABLE": str(fake),
    }
    with running_server(tmp_path_factory.mktemp("audit-home"), **env) as server:
        yield AuditServer(server, root, outside, canary, base / "pwned", hold)


# --- helpers ----------------------------------------------------------------------------------------------------


def create(audit: AuditServer, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{audit.server.url}/api/tasks/", json=body, timeout=30)
    assert response.status_code == 202, response.text
    created = response.json()
    validate_tasks_message(created, "task_created")
    return created


def status(audit: AuditServer, task_id: str) -> dict[str, Any]:
    response = httpx.get(f"{audit.server.url}/api/tasks/{task_id}", timeout=30)
    assert response.status_code == 200, response.text
    info = response.json()
    validate_tasks_message(info, "task_info")
    return info


def results(audit: AuditServer, task_id: str, fmt: str = "json") -> httpx.Response:
    return httpx.get(f"{audit.server.url}/api/tasks/{task_id}/results", params={"format": fmt}, timeout=30)


def open_socket(audit: AuditServer, task_id: str) -> ClientConnection:
    return connect(f"{audit.server.ws_url}/ws/tasks/{task_id}", open_timeout=30)


def receive(ws: ClientConnection, timeout: float = 120) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    validate_tasks_message(message)
    return message


def drain(ws: ClientConnection, timeout: float = 120) -> Watched:
    """Every message until the server closes the socket."""
    messages: list[dict[str, Any]] = []
    try:
        while True:
            messages.append(receive(ws, timeout))
    except ConnectionClosed:
        pass
    return Watched(messages, ws.close_code, ws.close_reason)


def watch(audit: AuditServer, task_id: str) -> Watched:
    with open_socket(audit, task_id) as ws:
        return drain(ws)


def wait_idle(audit: AuditServer, timeout: float = 60) -> list[dict[str, Any]]:
    """Every task the server knows, once none is queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = httpx.get(f"{audit.server.url}/api/tasks/", params={"limit": 200}, timeout=30).json()
        if all(t["status"] in TERMINAL for t in tasks):
            return tasks
        assert time.monotonic() < deadline, f"tasks still active: {tasks}"
        time.sleep(0.2)


def query(db: Path, sql: str, *params: Any, until: Any = None, timeout: float = 20) -> list[tuple]:
    """Rows from the server's run log (a short connection that waits while the server writes); with ``until``,
    retried until ``until(rows)`` holds, since the server writes in batches."""
    deadline = time.monotonic() + timeout
    while True:
        with connect_db(db, lock_timeout=10) as con:
            rows = con.execute(sql, list(params)).fetchall()
        if until is None or until(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def of_type(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == kind]


# --- one full audit ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inventory(audit: AuditServer) -> FinishedAudit:
    """inventory-api audited once: created, then watched from the start over /ws/tasks until the server closes."""
    wait_idle(audit)
    calls_before = len(audit.git_calls())
    created = create(audit, repo=str(audit.root / "inventory-api"))
    watched = watch(audit, created["task_id"])
    return FinishedAudit(created["task_id"], created, watched, audit.git_calls()[calls_before:])


def test_a_task_streams_from_started_to_completed(inventory: FinishedAudit) -> None:
    task_id = inventory.task_id
    assert inventory.created["status"] == "queued"
    assert inventory.created["links"] == {
        "status": f"/api/tasks/{task_id}",
        "results": f"/api/tasks/{task_id}/results",
        "events": f"/ws/tasks/{task_id}",
    }
    watched = inventory.watched
    assert (watched.close_code, watched.close_reason) == (1000, "task ended")
    events = watched.messages
    assert events == watched.events, "no protocol errors on a quiet socket"
    assert {e["task_id"] for e in events} == {task_id}
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "task.started" and events[-1]["type"] == "task.completed"
    assert events[0]["agents"] == ["explorer", "bug_hunter", "security"]

    progress = of_type(events, "task.progress")
    steps = [e["step"] for e in progress]
    assert sorted(set(steps), key=steps.index) == STEPS
    assert steps == sorted(steps, key=STEPS.index), "steps never go back"
    percents = [e["percent"] for e in progress]
    assert percents == sorted(percents) and percents[0] > 0 and percents[-1] < 100
    (select,) = [e for e in progress if e["step"] == "select" and e.get("plan") is not None]
    assert select["plan"] == ["explorer", "bug_hunter", "security"]

    results_by_agent = {e["agent"]: e for e in of_type(events, "task.agent_result")}
    assert sorted(results_by_agent) == sorted(select["plan"])
    assert {e["status"] for e in results_by_agent.values()} == {"ok"}
    assert not of_type(events, "task.error")
    completed = events[-1]
    assert completed["status"] == "completed"
    assert sum(completed["counts"].values()) >= len(PLANTED) and completed["summary"]


def test_the_canary_sees_the_git_calls_of_a_real_task(audit: AuditServer, inventory: FinishedAudit) -> None:
    """Proves the canary works, so its silence for refused requests means something."""
    clones = [call for call in inventory.git_calls if " clone " in call]
    assert len(clones) == 1
    checkout = audit.server.home / "audits" / inventory.task_id
    # git clones the audit's private copy of the history, never the repository itself (see git_source)
    assert clones[0].split()[-3:] == ["--", scratch_for(checkout).as_uri(), str(checkout)]


def test_status_and_results_in_three_formats(audit: AuditServer, inventory: FinishedAudit) -> None:
    task_id = inventory.task_id
    info = status(audit, task_id)
    assert info["status"] == "completed" and info["progress"] == 100
    assert info["error"] is None and info["ended_at"] and info["commit"]
    assert {name: state["status"] for name, state in info["agent_states"].items()} == {
        "explorer": "ok", "bug_hunter": "ok", "security": "ok",
    }  # fmt: skip
    assert info["counts"] == inventory.watched.events[-1]["counts"]

    response = results(audit, task_id)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    report = AuditReport.model_validate(response.json())
    assert report.status == "completed" and report.task_id == task_id and report.commit == info["commit"]
    assert report.counts == info["counts"] and sum(report.counts.values()) == len(report.findings)
    for planted in PLANTED:
        want = EXPECTED[planted]
        hits = [
            f
            for f in report.findings
            if f.file == want["file"]
            and f.category == want["category"]
            and f.line is not None
            and f.line <= want["line"] <= max(f.line, f.end_line or f.line)
        ]
        assert hits, f"{planted} ({want['file']}:{want['line']} {want['category']}) is missing"
        assert all(f.agent == want["agent"] or want["agent"] in f.agents for f in hits), planted
        if "cwe" in want:
            assert any(f.cwe == want["cwe"] for f in hits), planted
    assert not [f for f in report.findings if f.file in CLEAN_FILES]

    response = results(audit, task_id, "sarif")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/sarif+json")
    sarif = response.json()
    errors = sorted(SARIF.iter_errors(sarif), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    (run,) = sarif["runs"]
    assert len(run["results"]) == len(report.findings)
    places = [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in run["results"]]
    assert places == [(f.rule, f.file) for f in report.findings]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["automationDetails"]["id"] == task_id

    response = results(audit, task_id, "md")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/markdown")
    markdown = response.text
    assert markdown.startswith("# Repository audit: ")
    assert "| Severity | Count |" in markdown
    for severity, count in report.counts.items():
        assert f"| {severity} | {count} |" in markdown
    assert f"| **total** | {len(report.findings)} |" in markdown
    assert "Partial report" not in markdown
    assert "inventory/db.py:32" in markdown


def test_the_task_is_recorded_in_duckdb(audit: AuditServer, inventory: FinishedAudit) -> None:
    task_id = inventory.task_id
    report = results(audit, task_id).json()
    events = inventory.watched.events
    findings = query(
        audit.db, "SELECT seq, rule, file, line FROM findings WHERE task_id = ? ORDER BY seq", task_id,
        until=lambda rows: len(rows) == len(report["findings"]),
    )  # fmt: skip
    assert findings == [(i, f["rule"], f["file"], f["line"]) for i, f in enumerate(report["findings"])]
    logs = query(
        audit.db, "SELECT seq, type FROM agent_logs WHERE task_id = ? ORDER BY seq", task_id,
        until=lambda rows: len(rows) == len(events),
    )  # fmt: skip
    assert logs == [(e["seq"], e["type"]) for e in events]
    sql = 'SELECT status, progress, run_id, "commit", repo_id FROM tasks WHERE task_id = ?'
    (task,) = query(audit.db, sql, task_id)
    assert task[:2] == ("completed", 100) and task[3] == report["commit"] and task[4]
    (repository,) = query(audit.db, "SELECT location, kind, last_task_id FROM repositories WHERE repo_id = ?", task[4])
    assert repository == (str(audit.root / "inventory-api"), "path", task_id)

    deadline = time.monotonic() + 20
    while (run := get_run(audit.db, task[2])) is None or run["status"] == "running":
        assert time.monotonic() < deadline, "the audit's run is logged"
        time.sleep(0.3)
    assert (run["graph"], run["entry_point"], run["status"]) == ("repo_audit", "api", "ok")


# --- watchers -----------------------------------------------------------------------------------------------------


def test_a_late_subscriber_gets_the_replay_and_is_closed(audit: AuditServer, inventory: FinishedAudit) -> None:
    late = watch(audit, inventory.task_id)
    assert late.messages == inventory.watched.messages, "the same events, seq and timestamps included"
    assert (late.close_code, late.close_reason) == (1000, "task ended")


def test_two_watchers_of_one_run_get_every_event(audit: AuditServer) -> None:
    created = create(audit, repo=str(audit.root / "inventory-api"), agents=["bug_hunter", "security"])
    with open_socket(audit, created["task_id"]) as first, open_socket(audit, created["task_id"]) as second:
        one, two = drain(first), drain(second)
    assert one.messages == two.messages
    assert [e["seq"] for e in one.messages] == list(range(len(one.messages)))
    assert one.messages[-1]["type"] == "task.completed"
    assert sorted(e["agent"] for e in of_type(one.messages, "task.agent_result")) == ["bug_hunter", "security"]
    assert status(audit, created["task_id"])["agent_states"]["explorer"]["status"] == "skipped"


# --- failures -------------------------------------------------------------------------------------------------------


def test_an_agent_that_times_out_gives_a_partial_result(audit: AuditServer) -> None:
    created = create(audit, repo=str(audit.root / "inventory-api"), agent_timeouts={"security": 0.01}, model="none")
    events = watch(audit, created["task_id"]).messages
    assert [e["seq"] for e in events] == list(range(len(events)))
    (failure,) = of_type(events, "task.error")
    assert (failure["level"], failure["agent"], failure["status"]) == ("agent", "security", "timeout")
    assert "timed out" in failure["message"]
    assert sorted(e["agent"] for e in of_type(events, "task.agent_result")) == ["bug_hunter", "explorer"]
    assert events[-1]["type"] == "task.completed" and events[-1]["status"] == "partial"

    info = status(audit, created["task_id"])
    assert info["status"] == "partial" and info["progress"] == 100
    assert info["agent_states"]["security"]["status"] == "timeout"
    assert info["agent_states"]["bug_hunter"]["status"] == "ok"
    report = results(audit, created["task_id"]).json()
    assert report["status"] == "partial" and report["agents"]["security"]["status"] == "timeout"
    assert report["findings"] and {f["agent"] for f in report["findings"]} <= {"bug_hunter", "explorer"}
    markdown = results(audit, created["task_id"], "md").text
    assert "Partial report" in markdown and "security" in markdown
    sarif = results(audit, created["task_id"], "sarif").json()
    assert not list(SARIF.iter_errors(sarif))
    invocation = sarif["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert any("security" in n["message"]["text"] for n in invocation["toolExecutionNotifications"])


# --- refusals -----------------------------------------------------------------------------------------------------

HOSTILE = [
    ("ext::sh -c touch% {pwned}", "unsupported_scheme"),
    ("ext%3a%3ash -c touch% {pwned}", "unsupported_scheme"),
    ("fd::17", "unsupported_scheme"),
    ("file:///etc", "path_not_allowed"),
    ("-u evil", "option_injection"),
    ("--upload-pack=touch {pwned}", "option_injection"),
    ("ssh://-oProxyCommand=touch%20{pwned}/repo", "unsupported_scheme"),
    ("git@github.com:a/b.git", "unsupported_scheme"),
    ("http://github.com/a/b", "unsupported_scheme"),
    ("https://evil.example.com/a/b", "host_not_allowed"),
    ("https://user:token@github.com/a/b", "credentials_in_url"),
    ("{outside}", "path_not_allowed"),
    ("{root}/../outside", "path_not_allowed"),
    ("{root}/escape", "path_not_allowed"),
    ("/etc", "path_not_allowed"),
    ("{root}/missing", "not_found"),
]
BAD_BODIES = [  # refused by the request model: 422, the field named
    ({"agents": ["exploiter"]}, "agents"),
    ({"agent_timeouts": {"security": 0}}, "agent_timeouts"),
    ({"agent_timeouts": {"exploiter": 5}}, "agent_timeouts"),
    ({"depth": 1}, "depth"),
]
SAYS_WHAT_IS_ALLOWED = ("https://", "WORKBENCH_AUDIT_ALLOWED_ROOTS", "branch or tag", "does not exist")


def refused(audit: AuditServer, body: dict[str, Any]) -> httpx.Response:
    """POST a request that must be refused; asserts it started nothing: no git call, no task, no checkout."""
    tasks_before = wait_idle(audit)
    calls_before = audit.git_calls()
    response = httpx.post(f"{audit.server.url}/api/tasks/", json=body, timeout=30)
    assert response.status_code in (400, 422), response.text
    time.sleep(0.05)  # anything the request might have started gets a moment to show
    assert audit.git_calls() == calls_before, f"git ran for {body}"
    tasks_after = httpx.get(f"{audit.server.url}/api/tasks/", params={"limit": 200}, timeout=30).json()
    assert tasks_after == tasks_before, "a refused request leaves no task"
    assert not audit.pwned.exists()
    return response


@pytest.mark.parametrize(("target", "code"), HOSTILE, ids=[t for t, _ in HOSTILE])
def test_a_hostile_target_is_refused_before_git_starts(
    audit: AuditServer, inventory: FinishedAudit, target: str, code: str
) -> None:
    assert inventory.git_calls, "the canary records the git calls of a real task"
    repo = target.format(pwned=audit.pwned, root=audit.root, outside=audit.outside)
    response = refused(audit, {"repo": repo})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["code"] == code
    assert any(hint in detail["message"] for hint in SAYS_WHAT_IS_ALLOWED), detail["message"]
    assert "token" not in detail["message"]


@pytest.mark.parametrize("ref", ["--upload-pack=x", "-b", "main..evil", "a b"])
def test_a_bad_ref_is_refused_before_git_starts(audit: AuditServer, ref: str) -> None:
    response = refused(audit, {"repo": str(audit.root / "inventory-api"), "ref": ref})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_ref" and "branch or tag" in detail["message"]


@pytest.mark.parametrize(("extra", "name"), BAD_BODIES, ids=[name for _, name in BAD_BODIES])
def test_a_malformed_request_is_refused_with_the_field_named(audit: AuditServer, extra: dict, name: str) -> None:
    response = refused(audit, {"repo": str(audit.root / "inventory-api"), **extra})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert name in problem["loc"] and problem["msg"]


def test_refused_requests_leave_no_rows(audit: AuditServer) -> None:
    known = {t["task_id"] for t in wait_idle(audit)}
    rows = query(audit.db, "SELECT task_id FROM tasks", until=lambda rows: {r[0] for r in rows} == known)
    assert {r[0] for r in rows} == known
    assert not list((audit.server.home / "audits").glob("*")), "no checkout is left behind"


def test_an_unknown_task_is_not_found(audit: AuditServer) -> None:
    with open_socket(audit, "unknown") as ws:
        message = receive(ws)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert (message["type"], message["code"]) == ("error", "task_not_found")
    assert ws.close_code == 1008
    for path in ("/api/tasks/unknown", "/api/tasks/unknown/results"):
        response = httpx.get(f"{audit.server.url}{path}", timeout=30)
        assert response.status_code == 404 and response.json()["detail"]["code"] == "task_not_found"


# --- cancel and restart ------------------------------------------------------------------------------------------

MALFORMED = [
    ("not json", "invalid_json"),
    (json.dumps({"type": "pause"}), "unknown_type"),
    (json.dumps({"type": "cancel", "now": True}), "invalid_message"),
    (json.dumps(["cancel"]), "invalid_message"),
    ("x" * 5000, "message_too_large"),
]


def wait_for_agents(ws: ClientConnection) -> list[dict[str, Any]]:
    """Events up to the first agent that started."""
    messages = []
    while not messages or messages[-1].get("step") != "agents":
        messages.append(receive(ws))
    return messages


def test_cancel_over_the_socket_stops_a_running_task(audit: AuditServer) -> None:
    created = create(audit, repo=str(audit.root / "big"))
    task_id = created["task_id"]
    busy = results(audit, task_id)
    assert busy.status_code == 409, "no results while the task runs"
    assert busy.json()["detail"]["code"] == "no_results" and busy.json()["detail"]["status"] in ("queued", "running")

    with open_socket(audit, task_id) as ws, open_socket(audit, task_id) as other:
        seen = wait_for_agents(ws)
        for text, _ in MALFORMED:
            ws.send(text)
        errors = []
        while len(errors) < len(MALFORMED):
            message = receive(ws)
            (errors if message["type"] == "error" else seen).append(message)
        assert [e["code"] for e in errors] == [code for _, code in MALFORMED]
        ws.send(json.dumps({"type": "cancel"}))
        rest = drain(ws)
        watched = drain(other)
    seen += rest.messages
    assert rest.close_code == 1000
    assert [e["seq"] for e in seen] == list(range(len(seen))), "the socket kept streaming, nothing lost"
    last = seen[-1]
    assert (last["type"], last["level"]) == ("task.error", "task") and "cancelled" in last["message"]
    assert not of_type(seen, "task.completed")
    assert watched.messages == seen, "the other watcher saw the same events, without the first one's errors"

    info = status(audit, task_id)
    assert info["status"] == "cancelled" and info["ended_at"] and "cancelled" in info["error"]
    after = results(audit, task_id)
    assert after.status_code == 409 and after.json()["detail"]["status"] == "cancelled"
    deadline = time.monotonic() + 20
    while (audit.server.home / "audits" / task_id).exists():
        assert time.monotonic() < deadline, "the cancelled task's checkout is removed"
        time.sleep(0.2)


def test_a_restart_marks_cut_off_tasks_interrupted(audit: AuditServer, inventory: FinishedAudit) -> None:
    """Last in the module: it restarts the server (same home, new port)."""
    audit.hold.touch()  # the task waits in its clone until the server stops it, however fast this machine is
    try:
        created = create(audit, repo=str(audit.root / "big"))
        with open_socket(audit, created["task_id"]) as ws:
            while receive(ws).get("step") != "clone":
                pass
        assert status(audit, created["task_id"])["status"] == "running"
        audit.server.stop()  # a graceful stop: the running task is recorded as interrupted
    finally:
        audit.hold.unlink()
    stale = TaskRecord(  # as if an earlier process had been killed mid-task
        task_id=uuid.uuid4().hex,
        repo=str(audit.root / "inventory-api"),
        agents=["explorer"],
        status="running",
        created_at=datetime.now(UTC),
        started_at=datetime.now(UTC),
        agent_states={"explorer": {"status": "running"}},
        owner=exited_owner(),
    )
    runlog = RunLog(audit.db)
    runlog.log_records([stale])
    runlog.close()
    audit.server.start()

    for task_id in (created["task_id"], stale.task_id):
        info = status(audit, task_id)
        assert info["status"] == "interrupted", info
        assert "server stopped" in info["error"]
        assert results(audit, task_id).status_code == 409
    replay = watch(audit, created["task_id"]).messages
    assert replay[-1]["type"] == "task.error" and replay[-1]["level"] == "task"
    assert [e["seq"] for e in replay] == list(range(len(replay)))

    before_restart = watch(audit, inventory.task_id)  # now read back from DuckDB
    assert before_restart.messages == inventory.watched.messages
    assert (before_restart.close_code, before_restart.close_reason) == (1000, "task ended")
    assert results(audit, inventory.task_id).json()["findings"]

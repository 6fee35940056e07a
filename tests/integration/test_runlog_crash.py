"""The run log's crash journal on real servers: SIGKILL mid-stream, many aborts, two servers on one home.

A server is killed (SIGKILL, no shutdown at all) while several chat sockets stream; the next process on the same
WORKBENCH_HOME replays the killed one's journal and marks what it left running ``interrupted``: no turn whose
``done`` reached a client is lost. Aborted turns (even those aborted before their graph started) leave an
``aborted`` row naming the concrete model. Two live servers on one home never mark each other's running task
interrupted, but one marks the task of a killed neighbour interrupted without being restarted.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.integration.conftest import (
    ROOT,
    Server,
    run_cli,
    running_server,
    validate_chat_message,
    validate_tasks_message,
)
from workbench.runlog import RunLog
from workbench.runlog.journal import Journal, journal_path
from workbench.runlog.queries import get_trace, recent_runs
from workbench.runlog.schema import connect as connect_db

pytestmark = pytest.mark.integration

QUIET = {"WORKBENCH_WARM_SPEECH": "false"}
ACTIVE_TASK = {"queued", "running"}
# a question the bundled docs answer: an off-topic one would first be rewritten by the (slow) fake model
QUESTION = "How do I configure the data folder?"


def receive(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    """The next chat message, validated against the server half of protocols/chat.schema.json."""
    message = json.loads(ws.recv(timeout=timeout))
    validate_chat_message(message)
    return message


def user_message(content: str, session: str, **extra: Any) -> str:
    return json.dumps({"type": "user_message", "content": content, "session_id": session, **extra})


def query(db: Path, sql: str, *params: Any) -> list[tuple]:
    """Rows from the run log through a short connection (it waits while a server writes a batch)."""
    with connect_db(db, lock_timeout=20) as con:
        return con.execute(sql, list(params)).fetchall()


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """``condition()``'s first truthy value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(every)


def kill(server: Server) -> None:
    """SIGKILL the server: no shutdown hook, no flush, no atexit."""
    assert server.process is not None and server.process.poll() is None, "the server is still running"
    server.process.send_signal(signal.SIGKILL)
    assert server.process.wait(timeout=20) == -signal.SIGKILL
    server.process = None


# --- 1. SIGKILL mid-stream, ten times --------------------------------------------------------------------------


@dataclass
class Chatter:
    """One chat socket sending turns back to back on its own session until the server goes away."""

    session: str
    started: set[str] = field(default_factory=set)
    """Every run id this client heard of (from ``retrieval`` or ``done``)."""
    ok: dict[str, str | None] = field(default_factory=dict)
    """Run id -> model of every ``done`` with status ok that arrived."""
    tokens_now: int = 0
    """Tokens received so far in the turn that is streaming (0 between turns)."""
    refused: int = 0
    problems: list[str] = field(default_factory=list)
    """Anything that should not happen: an error event, a done that is not ok, an unexpected exception."""


def chat_until_killed(server: Server, chatter: Chatter, changed: threading.Condition) -> None:
    try:
        with connect(f"{server.ws_url}/ws/chat", open_timeout=20, close_timeout=1) as ws:
            while True:
                ws.send(user_message(QUESTION, chatter.session))
                while True:
                    message = receive(ws)
                    with changed:
                        kind = message.get("type")
                        if kind == "retrieval":
                            chatter.started.add(message["run_id"])
                            chatter.tokens_now = 0
                        elif message.get("role") == "assistant":
                            chatter.tokens_now += 1
                        elif kind == "done":
                            chatter.tokens_now = 0
                            if message.get("run_id"):
                                chatter.started.add(message["run_id"])
                            if message["status"] == "ok" and message.get("run_id"):
                                chatter.ok[message["run_id"]] = message.get("model")
                            else:
                                chatter.problems.append(f"done: {message}")
                        elif kind == "error" and message["code"] in ("busy", "rate_limited"):
                            chatter.refused += 1  # a refusal starts no turn and has no done: send it again
                        else:
                            chatter.problems.append(f"unexpected: {message}")
                        changed.notify_all()
                    if kind == "done" or (kind == "error" and message["code"] in ("busy", "rate_limited")):
                        break
    except (ConnectionClosed, ConnectionError, EOFError):
        return  # the server was killed
    except Exception as exc:  # reported by the test, never lost in a thread
        chatter.problems.append(f"client failed: {exc!r}")
    finally:
        with changed:
            changed.notify_all()


def test_a_server_killed_mid_stream_ten_times_loses_no_finished_turn(tmp_path: Path) -> None:
    rounds, clients = 10, 4
    env = {"WORKBENCH_LLM": "fake/stream", "WORKBENCH_MAX_TURNS_PER_CLIENT": "16", **QUIET}
    db = tmp_path / "runs.duckdb"
    done_ok: dict[str, str | None] = {}
    started: set[str] = set()
    figures: list[tuple[int, int, int]] = []  # (finished, cut off, deepest cut-off stream in tokens)
    for round_no in range(rounds):
        server = Server(tmp_path, env).start()
        changed = threading.Condition()
        chatters = [Chatter(f"kill{round_no}-c{i}") for i in range(clients)]
        threads = [threading.Thread(target=chat_until_killed, args=(server, c, changed), daemon=True) for c in chatters]
        try:
            for thread in threads:
                thread.start()
            # vary the moment: more or fewer turns finished, streams cut early or deep
            want_ok, want_tokens = clients + round_no % 3, (1, 20, 50)[round_no % 3]

            def ready(chatters: list[Chatter] = chatters, want_ok: int = want_ok, want_tokens: int = want_tokens):
                finished = sum(len(c.ok) for c in chatters)
                return finished >= want_ok and any(c.tokens_now >= want_tokens for c in chatters)

            with changed:
                assert changed.wait_for(ready, timeout=90), f"round {round_no}: turns did not stream"
            kill(server)
        finally:
            server.stop()  # only if the kill did not happen
            for thread in threads:
                thread.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "every client noticed the kill"
        for chatter in chatters:
            assert not chatter.problems, chatter.problems
            done_ok |= chatter.ok
            started |= chatter.started
        cut = [c.tokens_now for c in chatters if c.tokens_now]
        figures.append((sum(len(c.ok) for c in chatters), len(cut), max(cut, default=0)))

    # a new process on the home (this one): its start-up recovery replays the last killed server's journal and
    # marks what that server left running interrupted (each restart above did the same for the server before)
    with RunLog(db) as runlog:
        recovery = runlog.wait_recovered(timeout=60)
    assert recovery is not None and len(recovery.owners) >= 1, recovery
    print(
        f"\nlast recovery: {len(recovery.owners)} process(es), {recovery.replayed} journal entries replayed, "
        f"{len(recovery.runs)} runs interrupted"
    )

    rows = {r["run_id"]: r for r in recent_runs(db, 100_000)}
    print(f"rounds (finished, cut off, deepest cut): {figures}")
    statuses: dict[str, int] = {}
    for row in rows.values():
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    print(f"rows: {len(rows)} {statuses}; done ok seen by clients: {len(done_ok)}; started: {len(started)}")

    assert "running" not in statuses, "nothing is left running"
    assert set(statuses) <= {"ok", "interrupted"}, statuses
    lost = [run_id for run_id in done_ok if run_id not in rows or rows[run_id]["status"] != "ok"]
    assert not lost, f"{len(lost)} turns whose done reached a client are not ok in the run log: {lost[:5]}"
    for run_id, model in done_ok.items():
        assert rows[run_id]["model"] == model == "fake/stream", rows[run_id]
        assert rows[run_id]["ended_at"] is not None and rows[run_id]["output"]
    cut_off = started - set(done_ok)
    missing = sorted(cut_off - set(rows))
    assert not missing, f"{len(missing)} started turns have no row at all: {missing[:5]}"
    assert {rows[r]["status"] for r in cut_off} <= {"interrupted", "ok"}
    interrupted = [row for row in rows.values() if row["status"] == "interrupted"]
    assert interrupted, "some turn was cut off by a kill"
    assert len(interrupted) >= rounds, "every kill cut off at least one stream"
    for row in interrupted:
        assert row["ended_at"] is not None and row["ended_at"] >= row["started_at"], row
        assert row["error"] and "stopped" in row["error"], row
        assert row["model"] == "fake/stream", row
    # the traces survive the kills as the rows do: a finished turn has its whole tree, ended; an interrupted
    # one keeps its own span (written when it started), marked interrupted, with the spans that ended before
    for run_id in list(done_ok)[:20]:
        trace = get_trace(db, run_id)
        assert trace is not None
        kinds = {span["kind"] for span in trace["spans"]}
        assert {"run", "node", "retrieval", "llm"} <= kinds and all(s["status"] == "ok" for s in trace["spans"])
    for row in interrupted:
        trace = get_trace(db, row["run_id"])
        assert trace is not None
        (own,) = [span for span in trace["spans"] if span["kind"] == "run"]
        assert own["status"] == "interrupted" and own["ended_at"] == row["ended_at"], own
    ok_cut = sorted(r for r in cut_off if rows[r]["status"] == "ok")
    print(
        f"cut off: {len(cut_off)} started-not-done, of which interrupted {len(cut_off) - len(ok_cut)}, ok {len(ok_cut)}"
    )

    journal = Journal(journal_path(db))
    try:
        assert journal.pending() == 0, "every journal entry is in DuckDB"
    finally:
        journal.close()

    listed = run_cli(tmp_path, "runs", "--status", "interrupted", "--limit", "100000", timeout=120)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines and all(" interrupted " in line for line in lines), lines[:3]
    assert {line.split()[2] for line in lines} == {row["run_id"][:8] for row in interrupted}
    bogus = run_cli(tmp_path, "runs", "--status", "bogus", timeout=120)
    assert bogus.returncode == 2 and "unknown status" in bogus.stderr, (bogus.returncode, bogus.stderr)


# --- 2. two hundred aborts ---------------------------------------------------------------------------------------


def test_two_hundred_aborts_leave_two_hundred_aborted_rows_with_the_model(tmp_path: Path) -> None:
    cycles = 200
    env = {
        "WORKBENCH_LLM": "fake/slow",
        "WORKBENCH_MAX_MESSAGES_PER_S": "1000",
        "WORKBENCH_MAX_MESSAGE_BURST": "1000",
        **QUIET,
    }
    db = tmp_path / "runs.duckdb"
    aborted: dict[str, str] = {}  # run id -> when the abort was sent
    with running_server(tmp_path, **env) as server, connect(f"{server.ws_url}/ws/chat", open_timeout=20) as ws:
        t0 = time.monotonic()
        for i in range(cycles):
            # 0: abort at once (the graph has not started); 1: after retrieval; 2: first token; 3: a few tokens
            when = ("at once", "retrieval", "first token", "tokens")[i % 4]
            # half name the model, half leave it to the server's setting: the rows name it the same way
            ws.send(user_message(QUESTION, f"abort-{i}", **({"model": "fake/slow"} if i % 8 >= 4 else {})))
            seen: list[dict[str, Any]] = []
            if when != "at once":
                tokens_wanted = {"retrieval": 0, "first token": 1, "tokens": 3}[when]
                while not (
                    any(m.get("type") == "retrieval" for m in seen)
                    and sum(1 for m in seen if m.get("role")) >= tokens_wanted
                ):
                    seen.append(receive(ws))
            ws.send(json.dumps({"type": "abort"}))
            after: list[dict[str, Any]] = []
            while not after or after[-1].get("type") != "done":
                after.append(receive(ws))
            kinds = [m.get("type") for m in after if m.get("type")]
            assert kinds[-2:] == ["aborted", "done"] and kinds.count("aborted") == 1, (i, after)
            acked = next(j for j, m in enumerate(after) if m.get("type") == "aborted")
            assert all(m.get("role") is None for m in after[acked:]), "no token after the abort is acknowledged"
            run_id, done = after[acked]["run_id"], after[-1]
            assert run_id and done["run_id"] == run_id and done["status"] == "aborted", (i, after)
            streamed = [m["run_id"] for m in seen + after if m.get("type") == "retrieval"]
            assert all(r == run_id for r in streamed), (i, streamed, run_id)
            assert run_id not in aborted
            aborted[run_id] = when
        took_aborts = time.monotonic() - t0

        ws.send(user_message(QUESTION, "finished-turn", model="fake/stream"))
        finished = []
        while not finished or finished[-1].get("type") != "done":
            finished.append(receive(ws))
        ok = finished[-1]
        assert ok["status"] == "ok" and ok["model"] == "fake/stream", ok

        # every aborted row was journaled before its "aborted" went out; DuckDB has them a batch later
        def all_logged() -> dict[str, dict[str, Any]] | None:
            rows = {r["run_id"]: r for r in recent_runs(db, 10_000)}
            wanted = [*aborted, ok["run_id"]]
            return rows if all(r in rows and rows[r]["status"] != "running" for r in wanted) else None

        rows = wait_until(all_logged, timeout=30, what="the aborted rows in DuckDB")

    assert rows[ok["run_id"]]["status"] == "ok" and rows[ok["run_id"]]["model"] == ok["model"] == "fake/stream"
    wrong = {r: rows[r]["status"] for r in aborted if rows[r]["status"] != "aborted"}
    assert not wrong, f"{len(wrong)} aborted turns logged otherwise: {list(wrong.items())[:5]}"
    assert len([r for r in aborted if rows[r]["status"] == "aborted"]) == cycles
    models = {rows[r]["model"] for r in aborted}
    assert models == {"fake/slow"}, models
    provider_of_ok = rows[ok["run_id"]]["model"].split("/")[0]
    assert {m.split("/")[0] for m in models} == {provider_of_ok}, "aborted and ok rows name models alike"
    for run_id in aborted:
        row = rows[run_id]
        assert row["ended_at"] is not None and row["error"] and row["session_id"].startswith("abort-"), row
        assert row["entry_point"] == "ws", row
    spans = dict(
        query(db, "SELECT run_id, count(*) FROM spans WHERE run_id IN (SELECT unnest(?)) GROUP BY 1", [*aborted])
    )
    never_started = [r for r in aborted if not spans.get(r)]
    by_when = {w: sum(1 for r, k in aborted.items() if k == w and not spans.get(r)) for w in set(aborted.values())}
    print(
        f"\n{cycles} aborts in {took_aborts:.1f} s; {len(never_started)} rows without spans (graph never ran), "
        f"by moment: {by_when}"
    )
    assert all(spans.get(r) for r, k in aborted.items() if k != "at once"), "a started graph logged its spans"


# --- 3. two servers on one home ---------------------------------------------------------------------------------


@dataclass
class AuditHome:
    home: Path
    root: Path
    repo: Path

    @property
    def db(self) -> Path:
        return self.home / "runs.duckdb"


@dataclass
class AuditServer:
    server: Server
    hold: Path
    """While this file exists, this server's clones wait: its task stays running for as long as the test needs."""

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid


def fake_git(folder: Path, hold: Path) -> Path:
    """A git that waits in ``clone`` while ``hold`` exists (killable, like a real slow clone), then runs git."""
    real = shutil.which("git")
    assert real, "the test needs git"
    folder.mkdir(parents=True)
    fake = folder / "git"
    fake.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" clone "*) while [ -e {shlex.quote(str(hold))} ]; do sleep 0.05; done;; esac\n'
        f'exec {shlex.quote(real)} "$@"\n'
    )
    fake.chmod(0o755)
    return fake


# An embedded vector store lets one process at a time use its folder, so each of the two servers on one home gets
# its own (everything else, the run log and its journal, the checkpoints and the audit checkouts, is the shared
# home's).
LAUNCHER = """
import os, runpy, sys
from pathlib import Path
from workbench.settings import Settings

Settings.qdrant_path = property(lambda self: Path(os.environ["TEST_QDRANT_PATH"]))
Settings.edge_path = property(lambda self: Path(os.environ["TEST_QDRANT_PATH"]) / "edge")
sys.argv = ["workbench.cli", *sys.argv[1:]]
runpy.run_module("workbench.cli", run_name="__main__")
"""


class SharedHomeServer(Server):
    """:class:`Server`, started through :data:`LAUNCHER` (its own Qdrant folder, given in TEST_QDRANT_PATH)."""

    def command(self) -> list[str]:
        return [sys.executable, "-c", LAUNCHER]


def audit_server(base: Path, home: AuditHome, name: str) -> AuditServer:
    hold = base / f"hold-{name}"
    fake = fake_git(base / f"bin-{name}", hold)
    env = {
        "WORKBENCH_AUDIT_ALLOWED_ROOTS": str(home.root),
        "WORKBENCH_LLM": "extractive",
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_PYTHON_GIT_EXECUTABLE": str(fake),
        "TEST_QDRANT_PATH": str(base / f"qdrant-{name}"),
        **QUIET,
    }
    return AuditServer(SharedHomeServer(home.home, env), hold)


def small_repo(dest: Path) -> Path:
    dest.mkdir(parents=True)
    (dest / "app.py").write_text(
        "import hashlib\nimport subprocess\n\n\n"
        "def digest(data):\n    return hashlib.md5(data).hexdigest()\n\n\n"
        "def run(command):\n    return subprocess.call(command, shell=True)\n"
    )
    (dest / "README.md").write_text("# small\n\nA fixture.\n")
    repo = git.Repo.init(dest, initial_branch="main")
    try:
        repo.git.add("-A")
        actor = git.Actor("Fixture Author", "fixture@example.com")
        repo.index.commit("fixture", author=actor, committer=actor)
    finally:
        repo.close()
    return dest


def task_info(url: str, task_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/tasks/{task_id}", timeout=30)
    assert response.status_code == 200, response.text
    info = response.json()
    validate_tasks_message(info, "task_info")
    return info


def task_row(db: Path, task_id: str) -> tuple[str, str | None, str | None] | None:
    rows = query(db, "SELECT status, owner, error FROM tasks WHERE task_id = ?", task_id)
    return rows[0] if rows else None


def start_held_task(node: AuditServer, home: AuditHome) -> str:
    """An audit on ``node`` that stays running (in its clone) until its hold file goes."""
    node.hold.touch()
    response = httpx.post(f"{node.url}/api/tasks/", json={"repo": str(home.repo), "model": "none"}, timeout=30)
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    wait_until(lambda: task_info(node.url, task_id)["status"] == "running", 60, f"task {task_id} running")
    row = wait_until(lambda: task_row(home.db, task_id), 30, f"task {task_id} in DuckDB")
    assert row[0] in ACTIVE_TASK, row
    assert row[1] is not None and row[1].split("/")[1] == str(node.pid), f"the row names its process: {row}"
    return task_id


def cancel(node: AuditServer, task_id: str) -> list[dict[str, Any]]:
    """Cancel a task over ``/ws/tasks`` and read its events until the server closes the socket."""
    messages: list[dict[str, Any]] = []
    with connect(f"{node.server.ws_url}/ws/tasks/{task_id}", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "cancel"}))
        try:
            while True:
                messages.append(json.loads(ws.recv(timeout=60)))
        except ConnectionClosed:
            pass
    return messages


def assert_alive_task(node: AuditServer, other: AuditServer, home: AuditHome, task_id: str) -> None:
    """``node``'s task is running, as ``node`` says, as ``other`` reads it from DuckDB, and in DuckDB."""
    assert task_info(node.url, task_id)["status"] == "running"
    assert task_info(other.url, task_id)["status"] in ACTIVE_TASK
    row = task_row(home.db, task_id)
    assert row is not None and row[0] in ACTIVE_TASK, row


DEAD_OWNER = """
import os, sys
from datetime import UTC, datetime
from workbench.runlog import RunLog, RunRecord
from workbench.runlog.schema import TaskRecord

path, task_id, run_id = sys.argv[1:4]
now = datetime.now(UTC)
log = RunLog(path, flush_interval=0.01, lock_timeout=30)
task = TaskRecord(task_id, repo="gone", agents=["explorer"], status="running", created_at=now, started_at=now)
log.log_records([task])
log.log_run(RunRecord(run_id, "repo_audit", status="running", started_at=now))
assert log.flush(timeout=60)
os._exit(0)  # gone without closing: its registration stays, its rows stay running
"""


def dead_owner(db: Path) -> tuple[str, str]:
    """Run :data:`DEAD_OWNER`: the ids of the task and the run it left running."""
    task_id, run_id = uuid.uuid4().hex, str(uuid.uuid4())
    dead = subprocess.run(
        [sys.executable, "-c", DEAD_OWNER, str(db), task_id, run_id],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dead.returncode == 0, dead.stderr
    return task_id, run_id


def task_status(db: Path, task_id: str) -> str | None:
    row = task_row(db, task_id)
    return row[0] if row else None


def log_of(node: AuditServer) -> Path:
    return node.server.home / f"server-{node.server.port}.log"


@contextmanager
def stopped_at_exit(*nodes: AuditServer) -> Iterator[None]:
    try:
        yield
    finally:
        for node in nodes:
            node.hold.unlink(missing_ok=True)  # a clone left waiting by a killed server ends by itself
            node.server.stop()


def test_two_processes_on_one_home_never_reap_each_others_running_task(tmp_path: Path) -> None:
    base = tmp_path / "base"
    home = AuditHome(tmp_path / "home", base / "repos", base / "repos" / "small")
    home.home.mkdir()
    small_repo(home.repo)
    a, b = audit_server(base, home, "a"), audit_server(base, home, "b")
    with stopped_at_exit(a, b):
        a.server.start()
        task_a = start_held_task(a, home)

        # a process that died beside A with a task left running: B's start-up recovery (or A's periodic one) settles
        # that task, never A's
        dead0 = dead_owner(home.db)
        b.server.start()
        logs = {"A": [log_of(a)], "B": [log_of(b)]}
        t_b_started = time.monotonic()
        wait_until(lambda: task_status(home.db, dead0[0]) == "interrupted", 15, "the first dead process's task")
        assert_alive_task(a, b, home, task_a)
        # another one dies while both servers run: a periodic recovery (within 5 s) settles it beside A's task
        dead1 = dead_owner(home.db)
        wait_until(lambda: task_status(home.db, dead1[0]) == "interrupted", 15, "the second dead process's task")
        for _, run_id in (dead0, dead1):
            assert query(home.db, "SELECT status FROM runs WHERE run_id = ?", run_id) == [("interrupted",)]
        assert_alive_task(a, b, home, task_a)
        time.sleep(max(0.0, t_b_started + 6.5 - time.monotonic()))  # deliberately past the 5 s recovery interval
        assert_alive_task(a, b, home, task_a)
        print(f"\nA's task running {time.monotonic() - t_b_started:.1f} s beside B")

        a.hold.unlink()  # A's task goes on and finishes
        finished = wait_until(
            lambda: (info := task_info(a.url, task_a))["status"] not in ACTIVE_TASK and info, 120, "A's task to end"
        )
        assert finished["status"] in ("completed", "partial"), finished
        row = wait_until(lambda: (r := task_row(home.db, task_a)) and r[0] not in ACTIVE_TASK and r, 30, "A's row")
        assert row[0] == finished["status"], row

        # the reverse: B's task runs while A stops and starts again (A's start-up and periodic recovery)
        task_b = start_held_task(b, home)
        a.server.stop()
        a.server.start()
        logs["A"].append(log_of(a))
        t_a_restarted = time.monotonic()
        assert_alive_task(b, a, home, task_b)
        time.sleep(6.5)
        assert_alive_task(b, a, home, task_b)
        print(f"B's task running {time.monotonic() - t_a_restarted:.1f} s beside the restarted A")

        # a killed A: B, alive and never restarted, marks A's running task interrupted (periodic recovery)
        task_a2 = start_held_task(a, home)
        kill(a.server)
        killed_at = time.monotonic()
        a.hold.unlink()
        info = wait_until(
            lambda: (i := task_info(b.url, task_a2))["status"] == "interrupted" and i, 15, "B to settle A's task"
        )
        print(f"B marked the killed A's task interrupted after {time.monotonic() - killed_at:.1f} s")
        assert info["ended_at"] and "stopped" in info["error"], info
        assert task_status(home.db, task_a2) == "interrupted"
        assert_alive_task(b, b, home, task_b)  # B's own task was left alone by B's recovery

        events = cancel(b, task_b)
        assert events and events[-1]["type"] == "task.error" and "cancelled" in events[-1]["message"], events[-3:]
        assert task_info(b.url, task_b)["status"] == "cancelled"
        row = wait_until(lambda: (r := task_row(home.db, task_b)) and r[0] == "cancelled" and r, 30, "B's row")
        assert row[0] == "cancelled"
        statuses = dict(query(home.db, "SELECT task_id, status FROM tasks"))
    for name, paths in logs.items():
        for path in paths:
            settled = [line for line in path.read_text().splitlines() if "stopped process" in line]
            print(f"{name} ({path.name}): {settled}")
    assert statuses == {
        task_a: finished["status"],
        dead0[0]: "interrupted",
        dead1[0]: "interrupted",
        task_b: "cancelled",
        task_a2: "interrupted",
    }, statuses

"""The run log's crash journal, process ownership and recovery: what a stopped process leaves is replayed and
marked interrupted; what a live one runs is never touched."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workbench.runlog import RunLog, get_run, recent_runs
from workbench.runlog.journal import Journal, decode, encode, gone, journal_path
from workbench.runlog.owner import Owner, current_owner, this_host
from workbench.runlog.recovery import INTERRUPTED_RUN
from workbench.runlog.schema import (
    AgentLogRecord,
    EventRecord,
    FindingRecord,
    RepositoryRecord,
    RunRecord,
    TaskRecord,
    connect,
)
from workbench.runlog.writer import serve_on_this_loop
from workbench.testing import exited_owner, flushed

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def running(run_id: str, **fields: object) -> RunRecord:
    return RunRecord(run_id=run_id, graph="chat", status="running", started_at=NOW, **fields)  # type: ignore[arg-type]


KILLED = """
import os, signal, sys
from workbench.runlog import RunLog, RunRecord, EventRecord
from datetime import datetime, UTC
log = RunLog(sys.argv[1], flush_interval=float(sys.argv[2]))
now = datetime.now(UTC)
log.log_run(RunRecord(run_id="cut", graph="chat", status="running", started_at=now, output="half an ans"))
log.log_events([EventRecord("cut", 0, "retrieve", "node", now, now, 1.0, "ok"),
                EventRecord("cut", 1, "generate", "llm", now, status="running")])
log.log_run(RunRecord(run_id="done", graph="chat", status="ok", started_at=now, ended_at=now, output="whole"))
if sys.argv[2] != "0":
    import asyncio
    assert asyncio.run(log.durable())  # in the journal, not yet in DuckDB (the flush interval is long)
else:
    assert log.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_a_writer(path: Path, flush_interval: float) -> None:
    result = subprocess.run([sys.executable, "-c", KILLED, str(path), str(flush_interval)], timeout=60)
    assert result.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    "record",
    [
        running("r1", output="ünïcode", metadata={"a": [1, 2]}, retrieved=[{"chunk_id": "c", "score": 0.5}]),
        EventRecord("r1", 3, "generate", "llm", NOW, NOW, 1.5, "ok", {"tokens_in": 3}),
        TaskRecord(task_id="t", repo="/r", agents=["bug_hunter"], created_at=NOW, agent_states={"x": {}}),
        RepositoryRecord(repo_id="r", location="/r", kind="local", last_audited_at=NOW, languages=[{"name": "py"}]),
        FindingRecord("t", 0, "B101", "security", "low", "high", "a.py", "assert", "security", tools=["bandit"]),
        AgentLogRecord("t", 0, "task.started", NOW, data={"type": "task.started"}),
    ],
    ids=lambda r: type(r).__name__,
)
def test_every_record_type_comes_back_from_the_journal_as_it_went_in(record: object) -> None:
    assert decode(*encode(record)) == record  # type: ignore[arg-type]


def test_owner_ids_round_trip_and_name_this_process() -> None:
    me = current_owner()
    assert (me.host, me.pid) == (this_host(), os.getpid())
    assert Owner.parse(me.id) == me and me.alive_here()
    assert Owner.parse("not an owner") is None and Owner.parse("h/x/1") is None


def test_a_reused_pid_or_an_exited_process_is_gone_and_a_live_one_is_not() -> None:
    me = current_owner()
    assert not gone(me.id, {}, stale_after=30)
    reused = Owner(me.host, me.pid, me.started_ms - 60_000)  # same pid, another start: another process
    assert gone(reused.id, {}, stale_after=30)
    assert gone(exited_owner(), {}, stale_after=30)
    assert gone(None, {}, stale_after=30), "a row written before owners were recorded counts as gone"


def test_a_process_on_another_host_is_judged_by_its_heartbeat() -> None:
    remote = Owner("another-host", 4242, 1).id
    assert not gone(remote, {remote: time.time() - 5}, stale_after=30)
    assert gone(remote, {remote: time.time() - 60}, stale_after=30)
    assert gone(remote, {}, stale_after=30)


def test_durable_returns_once_the_record_is_in_the_journal_before_duckdb_has_it(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs.duckdb", flush_interval=30, batch_size=10_000)
    try:
        log.log_run(running("r1"))
        assert asyncio.run(log.durable())
        journal = Journal(journal_path(log.path))
        entries = journal.entries(log.owner.id)
        journal.close()
        assert [record.run_id for _, record in entries] == ["r1"]  # type: ignore[union-attr]
        assert flushed(log)
        assert get_run(log.path, "r1") is not None
        journal = Journal(journal_path(log.path))
        assert journal.pending(log.owner.id) == 0, "entries in DuckDB are removed from the journal"
        journal.close()
    finally:
        log.close()


def test_rows_carry_their_owner(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.duckdb") as log:
        log.log_run(running("r1"))
        log.log_records([TaskRecord(task_id="t1", repo="/r")])
    with connect(tmp_path / "runs.duckdb") as con:
        owners = con.execute("SELECT owner FROM runs UNION ALL SELECT owner FROM tasks").fetchall()
    assert owners == [(current_owner().id,)] * 2


@pytest.mark.parametrize("flush_interval", [30.0, 0.0], ids=["only-in-the-journal", "already-in-duckdb"])
def test_a_killed_writers_runs_are_replayed_and_its_cut_off_run_is_interrupted(
    tmp_path: Path, flush_interval: float
) -> None:
    path = tmp_path / "runs.duckdb"
    kill_a_writer(path, flush_interval)
    with RunLog(path) as log:
        recovery = log.wait_recovered()
        assert recovery is not None and recovery.runs == ["cut"]
    cut, done = get_run(path, "cut"), get_run(path, "done")
    assert done is not None and (done["status"], done["output"]) == ("ok", "whole")
    assert cut is not None and (cut["status"], cut["error"], cut["output"]) == (
        "interrupted",
        INTERRUPTED_RUN,
        "half an ans",
    )
    assert cut["ended_at"] is not None and cut["ended_at"] >= cut["started_at"]
    assert [(e["node"], e["status"]) for e in cut["events"]] == [("retrieve", "ok"), ("generate", "interrupted")]
    journal = Journal(journal_path(path))
    assert journal.pending() == 0 and current_owner().id not in journal.heartbeats()
    journal.close()


def test_a_live_processes_running_rows_are_never_reaped(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom workbench.runlog import RunLog, RunRecord\nlog = RunLog(sys.argv[1])\n"
            "log.log_run(RunRecord(run_id='theirs', graph='chat', status='running'))\nassert log.flush()\n"
            "print('ready', flush=True)\nsys.stdin.readline()\nlog.close()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with RunLog(path, recover_interval=0.1) as log:
            log.log_run(running("mine"))
            assert flushed(log)
            time.sleep(0.5)  # several periodic checks
            recovery = log.wait_recovered()
            assert recovery is not None and not recovery.runs
            statuses = {r["run_id"]: r["status"] for r in recent_runs(path)}
            assert statuses == {"theirs": "running", "mine": "running"}
            holder.kill()
            holder.wait(timeout=30)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and get_run(path, "theirs")["status"] == "running":  # type: ignore[index]
                time.sleep(0.1)
            assert get_run(path, "theirs")["status"] == "interrupted", "a live process reaps one that died beside it"  # type: ignore[index]
            assert get_run(path, "mine")["status"] == "running"  # type: ignore[index]
    finally:
        if holder.poll() is None:
            holder.kill()


def test_rows_written_before_owners_existed_are_interrupted_at_start(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    with RunLog(path, journal=False) as log:
        log.log_records([running("old"), TaskRecord(task_id="t-old", repo="/r", status="queued")])
    with connect(path) as con:
        con.execute("UPDATE runs SET owner = NULL")
        con.execute("UPDATE tasks SET owner = NULL")
    with RunLog(path) as log:
        recovery = log.wait_recovered()
        assert recovery is not None and (recovery.runs, recovery.tasks) == (["old"], ["t-old"])


def test_flush_refuses_to_block_a_serving_event_loop_and_aflush_waits_without_blocking(tmp_path: Path) -> None:
    async def main(log: RunLog) -> None:
        log.log_run(running("r1"))
        assert log.flush(), "a loop that serves nothing (a notebook's) may wait"
        serve_on_this_loop()
        log.log_run(running("r2"))
        with pytest.raises(RuntimeError, match="aflush"):
            log.flush()
        assert await log.aflush()
        assert await asyncio.to_thread(get_run, log.path, "r1") is not None

    with RunLog(tmp_path / "runs.duckdb") as log:
        asyncio.run(main(log))

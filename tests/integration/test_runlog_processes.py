"""Several OS processes sharing one run-log file: DuckDB's single-writer file lock, taken batch by batch."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from workbench.runlog import RunLog, RunLogBusyError, RunRecord, count_runs, get_run, recent_runs
from workbench.runlog.schema import MIGRATIONS, connect

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from datetime import UTC, datetime
from workbench.runlog import EventRecord, RunLog, RunRecord

path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = RunLog(path, flush_interval=0.01, lock_timeout=30)
for i in range(n):
    run_id = f"{tag}-{i}"
    log.log_run(RunRecord(run_id, "chat", entry_point="eval", status="ok", started_at=datetime.now(UTC)))
    log.log_events([EventRecord(run_id, 0, "retrieve"), EventRecord(run_id, 1, "respond")])
    if i % 25 == 24:
        log.flush(timeout=60)  # 20 batches per process at least: many lock hand-overs between the processes
log.close()
print(f"dropped={log.rows_dropped} batches={log.batches_written}")
"""

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_processes_write_500_runs_each_to_one_file_while_this_one_reads(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    writers = [spawn(WRITER, str(path), tag, "500") for tag in ("a", "b")]

    counts = []
    while any(w.poll() is None for w in writers):
        counts.append(count_runs(path))  # waits on the lock like the writers; must never raise
        time.sleep(0.05)
    outputs = [w.communicate(timeout=120) for w in writers]

    for writer, (stdout, stderr) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, stderr
        assert stdout.startswith("dropped=0 "), stdout + stderr
    assert counts == sorted(counts), "reads saw committed batches only, in order"
    assert count_runs(path) == 1000
    with connect(path) as con:
        assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM events").fetchone() == (2000, 1000)
        assert con.execute("SELECT count(*) FROM _migrations").fetchone() == (len(MIGRATIONS),), "each applied once"
    assert {r["run_id"][0] for r in recent_runs(path, limit=1000)} == {"a", "b"}


def test_a_write_waits_while_another_process_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    holder = spawn(HOLDER, str(path), "1.0")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"

    with RunLog(path, lock_timeout=10) as log:
        log.log_run(RunRecord("r1", "chat"))
        assert log.flush(timeout=15)
        assert log.rows_dropped == 0
    holder.wait(timeout=10)

    assert get_run(path, "r1") is not None


def test_a_read_gives_up_with_a_clear_error_when_the_file_stays_locked(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    duckdb.connect(str(path)).close()
    holder = spawn(HOLDER, str(path), "5")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    try:
        with pytest.raises(RunLogBusyError, match="held open by another process"), connect(path, lock_timeout=0.3):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_rows_wait_in_order_while_the_file_stays_locked_longer_than_a_write_attempt(tmp_path: Path) -> None:
    """A notebook holding the file for seconds delays the rows; they arrive afterwards, the newest version last."""
    path = tmp_path / "runs.duckdb"
    duckdb.connect(str(path)).close()
    holder = spawn(HOLDER, str(path), "3")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    try:
        with RunLog(path, lock_timeout=0.3, flush_interval=0.01) as log:
            log.log_run(RunRecord("r1", "chat", status="running"))
            time.sleep(0.5)  # the first batch fails at least once while the file is held
            log.log_run(RunRecord("r1", "chat", status="ok", output="done"))
            holder.wait(timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and log.batches_written == 0:
                time.sleep(0.05)
            assert log.flush(timeout=30)
            assert (log.rows_dropped, log.rows_deferred) == (0, 0)
    finally:
        holder.kill()
    row = get_run(path, "r1")
    assert row is not None and (row["status"], row["output"]) == ("ok", "done")

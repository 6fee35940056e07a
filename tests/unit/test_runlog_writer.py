"""The run-log writer, schema migrations and read queries, on a DuckDB file in tmp_path."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow.parquet as pq
import pytest

from workbench.runlog import (
    EventRecord,
    RunLog,
    RunRecord,
    count_runs,
    export_parquet,
    get_run,
    get_runlog,
    recent_runs,
    schema,
    set_runlog,
)
from workbench.runlog.schema import connect, migrate

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def run(run_id: str, **fields: object) -> RunRecord:
    values: dict[str, object] = {"graph": "chat", "started_at": T0, "status": "ok"}
    values.update(fields)
    return RunRecord(run_id=run_id, **values)  # type: ignore[arg-type]


@pytest.fixture
def runlog(tmp_path: Path):
    log = RunLog(tmp_path / "runs.duckdb")
    yield log
    log.close()


def test_logged_runs_and_events_are_on_disk_after_flush(runlog: RunLog) -> None:
    runlog.log_run(run("r1", metadata={"stt_ms": 12.5}, retrieved=[{"chunk_id": "c1", "score": 0.9}], tokens_in=3))
    runlog.log_events([EventRecord("r1", seq, f"node{seq}", started_at=T0, duration_ms=1.5) for seq in (1, 0)])

    assert runlog.flush(timeout=5)

    loaded = get_run(runlog, "r1")
    assert loaded is not None
    assert loaded["graph"] == "chat" and loaded["tokens_in"] == 3
    assert loaded["metadata"] == {"stt_ms": 12.5}
    assert loaded["retrieved"] == [{"chunk_id": "c1", "score": 0.9}]
    assert loaded["started_at"] == T0
    assert [e["node"] for e in loaded["events"]] == ["node0", "node1"]


def test_flush_waits_for_everything_enqueued_from_many_threads(runlog: RunLog) -> None:
    def produce(offset: int) -> None:
        for i in range(1_000):
            runlog.log_run(run(f"r{offset + i}"))

    threads = [threading.Thread(target=produce, args=(k * 1_000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert runlog.flush(timeout=10)
    assert count_runs(runlog) == 4_000
    assert runlog.batches_written < 40, "rows must be written in batches, not one by one"


def test_a_lone_record_is_written_within_the_flush_interval_without_flush(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.duckdb", flush_interval=0.05) as log:
        log.log_run(run("r1"))
        for _ in range(100):
            if log.batches_written:
                break
            threading.Event().wait(0.02)
        assert log.batches_written == 1


def test_relogging_a_run_replaces_its_row(runlog: RunLog) -> None:
    runlog.log_run(run("r1", status="running"))
    runlog.flush()
    runlog.log_run(run("r1", status="running", output="par"))
    runlog.log_run(run("r1", status="aborted", output="partial"))  # same batch: the last one wins
    runlog.log_events([EventRecord("r1", 0, "respond", status="running")])
    runlog.log_events([EventRecord("r1", 0, "respond", status="aborted")])
    runlog.flush()

    rows = recent_runs(runlog)
    assert [(r["run_id"], r["status"], r["output"]) for r in rows] == [("r1", "aborted", "partial")]
    loaded = get_run(runlog, "r1")
    assert loaded is not None
    assert [e["status"] for e in loaded["events"]] == ["aborted"]


def test_close_drains_the_queue_is_idempotent_and_later_logs_are_dropped(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs.duckdb", flush_interval=10)
    for i in range(10):
        log.log_run(run(f"r{i}"))
    log.close()
    log.close()
    log.log_run(run("late"))  # must not raise

    assert count_runs(tmp_path / "runs.duckdb") == 10
    assert log.flush(timeout=1)


@pytest.mark.parametrize("journal", [True, False])
def test_write_failures_are_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture, journal: bool) -> None:
    (tmp_path / "not-a-db").mkdir()
    with caplog.at_level(logging.WARNING, logger="workbench.runlog.writer"):
        log = RunLog(tmp_path / "not-a-db", max_attempts=2, journal=journal)
        log.log_run(run("r1"))
        assert log.flush(timeout=10)
        log.close()

    assert "attempt 1/2" in caplog.text
    if journal:  # the row stays in the journal, for the next process to replay
        assert (log.rows_deferred, log.rows_dropped) == (1, 0)
        assert "1 runs not written" in caplog.text and "kept in its journal" in caplog.text
    else:
        assert (log.rows_deferred, log.rows_dropped) == (0, 1)
        assert "dropped 1 runs" in caplog.text


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    with connect(path) as con:
        first = con.execute("SELECT name FROM _migrations").fetchall()
    schema._migrated.discard(str(path.resolve()))  # as if another process opened the file
    with connect(path) as con:
        assert migrate(con) == []
        applied = [(migration.__name__,) for migration in schema.MIGRATIONS]
        assert con.execute("SELECT name FROM _migrations").fetchall() == first == applied

    def m999_tags(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("ALTER TABLE runs ADD COLUMN tags VARCHAR[]")

    with connect(path) as con:
        assert migrate(con, (*schema.MIGRATIONS, m999_tags)) == ["m999_tags"]
        assert migrate(con, (*schema.MIGRATIONS, m999_tags)) == []
        names = [row[0] for row in con.execute("SELECT name FROM _migrations ORDER BY applied_at").fetchall()]
    assert names == [migration.__name__ for migration in schema.MIGRATIONS] + ["m999_tags"]


def test_a_migration_applied_concurrently_is_tolerated(tmp_path: Path) -> None:
    def m002_labels(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE labels (run_id VARCHAR, label VARCHAR)")

    with connect(tmp_path / "runs.duckdb") as con:
        con.execute("CREATE TABLE labels (run_id VARCHAR, label VARCHAR)")  # the other process won the race
        assert migrate(con, (*schema.MIGRATIONS, m002_labels)) == []


def test_writes_still_land_after_a_new_migration_adds_a_column(runlog: RunLog) -> None:
    with connect(runlog.path) as con:
        con.execute("ALTER TABLE runs ADD COLUMN tags VARCHAR[]")
    runlog.log_run(run("r1"))
    runlog.flush()
    assert count_runs(runlog) == 1


def test_recent_runs_are_newest_first_and_filtered(runlog: RunLog) -> None:
    for i in range(6):
        runlog.log_run(
            run(
                f"r{i}",
                started_at=T0 + timedelta(minutes=i),
                status="error" if i % 3 == 0 else "ok",
                session_id="s1" if i < 3 else "s2",
                model="fake/a" if i % 2 else "fake/b",
                graph="chat" if i != 5 else "voice",
            )
        )
    runlog.flush()

    assert [r["run_id"] for r in recent_runs(runlog)] == ["r5", "r4", "r3", "r2", "r1", "r0"]
    assert [r["run_id"] for r in recent_runs(runlog, limit=2)] == ["r5", "r4"]
    assert [r["run_id"] for r in recent_runs(runlog, status="error")] == ["r3", "r0"]
    assert [r["run_id"] for r in recent_runs(runlog, session_id="s1", model="fake/a")] == ["r1"]
    assert [r["run_id"] for r in recent_runs(runlog, graph="voice")] == ["r5"]
    assert [r["run_id"] for r in recent_runs(runlog.path, since=T0 + timedelta(minutes=4))] == ["r5", "r4"]


def test_get_run_of_an_unknown_id_is_none(runlog: RunLog) -> None:
    assert get_run(runlog, "nope") is None


def test_export_parquet_writes_both_tables(runlog: RunLog, tmp_path: Path) -> None:
    runlog.log_run(run("r1"))
    runlog.log_events([EventRecord("r1", 0, "respond"), EventRecord("r1", 1, "respond", kind="llm")])
    runlog.flush()

    paths = export_parquet(runlog, tmp_path / "export")

    assert pq.read_table(paths["runs"]).num_rows == 1
    assert pq.read_table(paths["events"]).column("kind").to_pylist() == ["node", "llm"]


def test_get_runlog_is_a_lazy_singleton_under_workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.settings import get_settings

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    set_runlog(None)
    touched_by: set[str] = set()
    for module, name in ((sqlite3, "connect"), (duckdb, "connect"), (psutil.Process, "create_time")):
        real = getattr(module, name)

        def spy(*args: object, real: Any = real, **kwargs: object) -> object:
            touched_by.add(threading.current_thread().name)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    try:
        log = get_runlog()
        assert get_runlog() is log
        assert log.path == tmp_path / "home" / "runs.duckdb"
        log.log_run(run("r1"))
        assert log.flush(timeout=10)
        assert touched_by and threading.current_thread().name not in touched_by, (
            "no file system work on the caller's (event loop's) thread"
        )
        log.close()
        assert count_runs(log.path) == 1
    finally:
        set_runlog(None)
        get_settings.cache_clear()


def test_a_settled_verdict_is_not_replaced_by_a_later_row_of_the_process_that_ran_the_run(tmp_path) -> None:
    """A gateway's verdict on a run its graph server dropped stays, whatever the server logs of it afterwards."""
    from workbench.runlog.batches import write_batch
    from workbench.runlog.schema import RunRecord, connect

    path = tmp_path / "runs.duckdb"

    def write(*records: RunRecord) -> None:
        with connect(path) as con:
            con.begin()
            write_batch(con, {RunRecord: list(records)})
            con.commit()

    def row(run_id: str) -> tuple:
        with connect(path) as con:
            return con.execute("SELECT status, error, settled FROM runs WHERE run_id = ?", [run_id]).fetchone()

    write(RunRecord("r1", "chat", status="running", owner="server"), RunRecord("r2", "chat", status="ok", owner="s"))
    write(RunRecord("r1", "chat", status="error", error="dropped", owner="gateway", settled=True))
    write(RunRecord("r1", "chat", status="aborted", error="aborted", owner="server"))  # the stopped server's row
    assert row("r1") == ("error", "dropped", True)
    write(RunRecord("r1", "chat", status="error", error="dropped, again", owner="gateway", settled=True))
    assert row("r1") == ("error", "dropped, again", True)  # the process that settled it may write it again
    write(RunRecord("r2", "chat", status="error", error="relogged", owner="s"))  # an unsettled row is replaced
    assert row("r2") == ("error", "relogged", None)

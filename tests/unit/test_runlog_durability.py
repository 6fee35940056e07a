"""A run whose ``done`` is sent is durable first, and a run that cannot be made durable is said to be so: the journal
append is confirmed, a failed one (a full disk) makes ``durable()`` False and the health check failing until DuckDB
holds those rows, and nothing is dropped meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workbench.errors import StorageUnavailable
from workbench.runlog import RunLog, RunRecord, get_run, schema
from workbench.runlog.callback import RunLogCallback
from workbench.runlog.journal import Journal

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def run(run_id: str, status: str = "ok") -> RunRecord:
    return RunRecord(run_id=run_id, graph="chat", started_at=T0, status=status)


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch):
    """Journal appends fail as SQLite fails on a full disk, until ``disk_full.free()``."""

    class Disk:
        full = True

        def free(self) -> None:
            self.full = False

    disk = Disk()
    append = Journal.append

    def failing_append(self, owner, records):
        if disk.full:
            raise sqlite3.OperationalError("database or disk is full")
        return append(self, owner, records)

    monkeypatch.setattr(Journal, "append", failing_append)
    return disk


async def test_a_run_the_journal_cannot_take_is_not_durable_until_duckdb_has_it(tmp_path: Path, disk_full, monkeypatch):
    written = schema.connect  # DuckDB fails too while the disk is full, so the rows wait in memory

    def connect(*args, **kwargs):
        if disk_full.full:
            raise OSError(28, "No space left on device")
        return written(*args, **kwargs)

    monkeypatch.setattr("workbench.runlog.writer.connect", connect)
    log = RunLog(tmp_path / "runs.duckdb", flush_interval=0.05, max_attempts=2)
    try:
        log.log_run(run("r1"))
        assert await log.durable() is False
        with pytest.raises(StorageUnavailable, match="disk"):
            await log.require_durable()
        health = log.health()
        assert not health.ok and "full" in (health.reason or "") and str(tmp_path) not in (health.reason or "")

        for _ in range(5):  # more failed write attempts than max_attempts: the row is kept, not dropped
            assert await log.aflush()
        assert (log.rows_dropped, log.rows_deferred) == (0, 0)

        disk_full.free()  # the writer's next try (after its pause, at most 5 s) writes both rows
        log.log_run(run("r2"))
        deadline = asyncio.get_running_loop().time() + 15
        while not await log.durable():
            assert asyncio.get_running_loop().time() < deadline, "the held rows were never written"
            await asyncio.sleep(0.1)
        assert log.health().ok
    finally:
        log.close()
    assert get_run(tmp_path / "runs.duckdb", "r1")["status"] == "ok"
    assert get_run(tmp_path / "runs.duckdb", "r2")["status"] == "ok"


async def test_a_durable_run_is_confirmed_in_the_journal(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs.duckdb", flush_interval=60)  # DuckDB is not written in this test's time
    try:
        log.log_run(run("r1"))
        assert await log.durable() is True
        journal = Journal(log.journal_path)  # type: ignore[arg-type]
        try:
            assert [record.run_id for _, record in journal.entries(log.owner.id)] == ["r1"]  # type: ignore[union-attr]
        finally:
            journal.close()
    finally:
        log.close()


async def test_a_finished_run_that_cannot_be_saved_is_logged_as_the_error_its_client_hears(tmp_path, disk_full):
    log = RunLog(tmp_path / "runs.duckdb", flush_interval=0.05)
    callback = RunLogCallback(log)
    run_id = uuid.uuid4()
    try:
        callback.on_chain_start({}, {"messages": []}, run_id=run_id, name="chat", metadata={})
        callback.on_chain_end({"messages": []}, run_id=run_id)
        with pytest.raises(StorageUnavailable):
            await callback.saved(run_id)
        disk_full.free()
        assert await log.aflush()
    finally:
        log.close()
    row = get_run(tmp_path / "runs.duckdb", str(run_id))
    assert (row["status"], row["error"]) == ("error", "storage_unavailable")

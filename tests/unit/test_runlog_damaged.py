"""A run log that cannot be read: damaged, or in a home this process may not write. Readers get
:class:`~workbench.errors.StorageUnavailable` saying what to do (never a path or DuckDB's exception), or read the
file read-only."""

from __future__ import annotations

import logging

import pytest

from workbench.errors import StorageUnavailable
from workbench.runlog import RunLog, RunRecord, get_run, recent_runs
from workbench.runlog.schema import RunLogUnavailable, connect


def test_a_damaged_run_log_is_reported_with_what_to_do_once(tmp_path, caplog):
    path = tmp_path / "runs.duckdb"
    path.write_bytes(b"no duckdb here " * 1000)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            with pytest.raises(StorageUnavailable) as caught:
                recent_runs(path)
    assert isinstance(caught.value, RunLogUnavailable) and caught.value.code == "storage_unavailable"
    message = str(caught.value)
    assert "damaged" in message and "move runs.duckdb aside" in message and "backup" in message
    assert str(tmp_path) not in message and "IO Error" not in message
    with pytest.raises(RunLogUnavailable):
        get_run(path, "x", read_only=True)
    logged = [r.getMessage() for r in caplog.records if "run log" in r.getMessage()]
    assert len(logged) == 1 and str(path) in logged[0], "the operator's one line names the file"


def test_a_run_log_is_read_read_only_without_writing_anything(tmp_path):
    path = tmp_path / "runs.duckdb"
    with RunLog(path, journal=False) as runlog:
        runlog.log_run(RunRecord("r1", "chat", status="ok"))
    written = path.read_bytes()
    assert [row["run_id"] for row in recent_runs(path, read_only=True)] == ["r1"]
    assert get_run(path, "r1", read_only=True)["status"] == "ok"
    assert path.read_bytes() == written
    assert recent_runs(tmp_path / "none" / "runs.duckdb", read_only=True) == []
    assert not (tmp_path / "none").exists(), "a reader creates nothing"
    with connect(path, read_only=True) as con, pytest.raises(Exception, match="read-only"):
        con.execute("DELETE FROM runs")


def test_recovery_on_a_damaged_run_log_waits_for_the_next_check_quietly(tmp_path, caplog):
    from workbench.runlog.owner import current_owner
    from workbench.runlog.recovery import recover

    path = tmp_path / "runs.duckdb"
    path.write_bytes(b"no duckdb here " * 1000)
    with caplog.at_level(logging.WARNING):
        assert not recover(path, None, current_owner())
        assert not recover(path, None, current_owner())
    assert len([r for r in caplog.records if "damaged" in r.getMessage()]) == 1
    assert not any(r.exc_info for r in caplog.records), "no traceback every few seconds"

"""Tasks cut off by a stop: a queued one says it never started, no agent is left pending or running, and the
events of a task whose process was killed still end with a closing ``task.error`` when replayed."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_audit_tasks import task_manager
from workbench.audit.models import AuditReport
from workbench.audit.records import STOPPED_QUEUED, STOPPED_RUNNING
from workbench.resources import Resources
from workbench.runlog import RunLog
from workbench.runlog.schema import AgentLogRecord, TaskRecord
from workbench.settings import Settings
from workbench.tasks import manager as tasks_module
from workbench.testing import exited_owner

REPOS = Path(__file__).resolve().parents[2] / "datasets" / "repos"
NOT_LEFT = {"pending", "running"}


@pytest.fixture
def settings(tmp_path: Path):
    shutil.copytree(REPOS / "clean-lib", tmp_path / "repos" / "clean-lib")
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        audit_allowed_roots=[tmp_path / "repos"],
        llm="extractive",
        audit_max_concurrent=1,
    )
    return settings


class HangingAudit:
    """Stands in for ``run_audit``: starts, sets its explorer running, then waits until cancelled."""

    def __init__(self) -> None:
        self.running = asyncio.Event()

    async def __call__(self, request: dict[str, Any], on_event, **kwargs: Any) -> AuditReport:
        on_event({"type": "task.started", "repo": request["repo"], "ref": None, "agents": request["agents"]})
        on_event({"type": "task.progress", "step": "select", "plan": ["explorer"], "message": "plan"})
        on_event({"type": "task.progress", "step": "agents", "agent": "explorer", "message": "started"})
        self.running.set()
        await asyncio.Event().wait()
        raise AssertionError("never reached")


async def test_a_stop_tells_running_and_queued_tasks_apart(settings: Settings, tmp_path: Path, monkeypatch) -> None:
    audit = HangingAudit()
    monkeypatch.setattr(tasks_module, "run_audit", audit)
    runlog = RunLog(tmp_path / "runs.duckdb")
    try:
        manager = task_manager(Resources(settings), runlog)
        repo = str(tmp_path / "repos" / "clean-lib")
        running = manager.create(repo, agents=["explorer", "security"])
        await audit.running.wait()
        queued = manager.create(repo, agents=["explorer"])
        await manager.close()
    finally:
        runlog.close()
    assert (running.record.status, running.record.error) == ("interrupted", STOPPED_RUNNING)
    assert running.record.agent_states == {
        "explorer": {"status": "error", "message": "started", "error": f"stopped: {STOPPED_RUNNING}"},
        "security": {"status": "skipped"},  # left out of the plan
    }
    assert (queued.record.status, queued.record.error) == ("interrupted", STOPPED_QUEUED)
    assert queued.record.agent_states == {"explorer": {"status": "skipped", "message": f"not run: {STOPPED_QUEUED}"}}
    assert [(e["type"], e["message"]) for e in queued.events] == [("task.error", STOPPED_QUEUED)]
    assert running.events[-1]["type"] == "task.error" and running.events[-1]["message"] == STOPPED_RUNNING


def stale_task(status: str, started: bool) -> TaskRecord:
    """A task row as a killed process left it."""
    now = datetime.now(UTC)
    return TaskRecord(
        task_id=uuid.uuid4().hex,
        repo="/somewhere",
        agents=["explorer", "security"],
        status=status,
        created_at=now,
        started_at=now if started else None,
        agent_states={"explorer": {"status": "running"} if started else {"status": "pending"}, "security": {}}
        | ({"security": {"status": "pending"}}),
        owner=exited_owner(),
    )


def logged(task: TaskRecord, seq: int, kind: str, **data: Any) -> AgentLogRecord:
    event = {"type": kind, "task_id": task.task_id, "seq": seq, "timestamp": datetime.now(UTC).isoformat(), **data}
    return AgentLogRecord(task_id=task.task_id, seq=seq, type=kind, ts=datetime.now(UTC), data=event)


async def test_a_killed_processs_tasks_read_back_settled_and_closed(settings: Settings, tmp_path: Path) -> None:
    running, queued = stale_task("running", started=True), stale_task("queued", started=False)
    before = RunLog(tmp_path / "runs.duckdb")
    before.log_records(
        [
            running,
            queued,
            logged(running, 0, "task.started", repo="/somewhere", agents=["explorer"]),
            logged(running, 1, "task.progress", step="agents", agent="explorer", message="started"),
        ]
    )
    before.close()

    runlog = RunLog(tmp_path / "runs.duckdb")  # its recovery marks both interrupted
    try:
        manager = task_manager(Resources(settings), runlog)
        assert await manager.start() == 2
        ran, waited = await manager.status(running.task_id), await manager.status(queued.task_id)
        assert ran is not None and waited is not None
        assert (ran["status"], ran["error"], waited["status"], waited["error"]) == (
            "interrupted",
            STOPPED_RUNNING,
            "interrupted",
            STOPPED_QUEUED,
        )
        states = [s["status"] for info in (ran, waited) for s in info["agent_states"].values()]
        assert states and not NOT_LEFT & set(states)
        replay = [event async for event in manager.subscribe(running.task_id)]
        assert [e["seq"] for e in replay] == [0, 1, 2]
        assert replay[-1] | {"timestamp": None} == {
            "type": "task.error",
            "task_id": running.task_id,
            "seq": 2,
            "timestamp": None,
            "level": "task",
            "message": STOPPED_RUNNING,
        }
        never_ran = [event async for event in manager.subscribe(queued.task_id)]
        assert [(e["type"], e["seq"], e["message"]) for e in never_ran] == [("task.error", 0, STOPPED_QUEUED)]
    finally:
        runlog.close()


async def test_a_task_cancelled_before_its_runner_ran_still_ends(
    settings: Settings, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(tasks_module, "run_audit", HangingAudit())
    runlog = RunLog(tmp_path / "runs.duckdb")
    try:
        manager = task_manager(Resources(settings), runlog)
        task = manager.create(str(tmp_path / "repos" / "clean-lib"), agents=["explorer"])
        assert await manager.cancel(task.record.task_id)  # no await between: its runner never started
        why = "the task was cancelled before it started"
        assert (task.record.status, task.record.error) == ("cancelled", why)
        assert task.record.agent_states == {"explorer": {"status": "skipped", "message": f"not run: {why}"}}
        assert [(e["type"], e["message"]) for e in task.events] == [("task.error", why)]
        assert [e async for e in manager.subscribe(task.record.task_id)] == task.events  # a watcher is not left open
    finally:
        runlog.close()

"""Audit tasks are bounded and their inputs checked: task ids are UUIDs that cannot name a path, the queue and
the finished tasks kept in memory are bounded, and failures reach users without class names or server paths."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import graphs.repo_audit as repo_audit
from workbench.audit.checkout_tree import CloneError
from workbench.audit.models import AuditReport
from workbench.audit.safety import TargetError, check_task_id
from workbench.events import TASK_EVENTS, wire
from workbench.resources import Resources
from workbench.runlog import RunLog, RunRecord
from workbench.runtime import LocalRuntime
from workbench.server.dependencies import get_task_manager
from workbench.server.routes_tasks import router
from workbench.settings import Settings
from workbench.tasks import manager as tasks_module
from workbench.tasks.manager import TaskManager, TooManyTasks
from workbench.tasks.runner import run_audit

REPOS = Path(__file__).resolve().parents[2] / "datasets" / "repos"
HEX = "0123456789abcdef0123456789abcdef"
DASHED = "01234567-89AB-CDEF-0123-456789ABCDEF"
TASKS_SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "protocols" / "tasks.schema.json").read_text())
BAD_IDS = ["../x", "/etc", "a/b", "..", "0123456789abcdef0123456789abcde/", HEX + "0", " " + HEX, "x" * 32]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "repos"
    shutil.copytree(REPOS / "clean-lib", folder / "clean-lib")
    return folder


@pytest.fixture
def resources(tmp_path: Path, root: Path):
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        audit_allowed_roots=[root],
        llm="extractive",
        audit_max_concurrent=1,
        audit_tasks_kept=3,
    )
    return Resources(settings)


@pytest.fixture
async def runlog(tmp_path: Path):
    log = RunLog(tmp_path / "runs.duckdb")
    yield log
    log.close()


def task_manager(resources: Resources, runlog: RunLog) -> TaskManager:
    """A task manager whose audits run in this process on ``resources``."""
    return TaskManager(resources.settings, runlog, runtime=LocalRuntime(None, resources=resources))


async def audit(resources: Resources, request: dict[str, Any]) -> AuditReport:
    """One audit run in this process on ``resources``, its events dropped."""
    runtime = LocalRuntime(None, resources=resources)
    return await run_audit(request, lambda event: None, runtime=runtime, settings=resources.settings)


# -- task ids ----------------------------------------------------------------------------------------------------


def test_a_task_id_is_a_uuid_in_its_32_hex_form():
    assert check_task_id(HEX) == HEX
    assert check_task_id(DASHED) == HEX
    assert check_task_id(str(uuid.UUID(HEX))) == HEX


@pytest.mark.parametrize("bad", [*BAD_IDS, "", None, 42])
def test_anything_else_is_refused_as_a_task_id(bad):
    with pytest.raises(TargetError) as refused:
        check_task_id(bad)
    assert refused.value.code == "invalid_task_id" and "UUID" in str(refused.value)


@pytest.mark.parametrize("bad", ["../escaped", "/etc", "a/b"])
async def test_the_graph_refuses_a_path_as_task_id_before_touching_files(resources, root, tmp_path, monkeypatch, bad):
    touched: list[str] = []
    monkeypatch.setattr(repo_audit, "check_target", lambda *a: touched.append("check_target"))
    monkeypatch.setattr(repo_audit, "clone_target", lambda *a, **k: touched.append("clone"))
    with pytest.raises(TargetError) as refused:
        await audit(resources, {"repo": str(root / "clean-lib"), "task_id": bad})
    assert refused.value.code == "invalid_task_id"
    assert touched == []
    assert not resources.settings.audit_path.exists() and not (tmp_path / "home" / "escaped").exists()


async def test_the_dashed_form_is_normalised_and_an_empty_id_gets_a_fresh_one(resources, root):
    report = await audit(resources, {"repo": str(root / "clean-lib"), "task_id": DASHED})
    assert report.task_id == HEX
    fresh = await audit(resources, {"repo": str(root / "clean-lib"), "task_id": ""})
    assert check_task_id(fresh.task_id) == fresh.task_id != HEX


def test_cleanup_never_reaches_outside_the_audit_folder(resources, tmp_path):
    audit_path = resources.settings.audit_path
    audit_path.mkdir(parents=True)
    victims = [tmp_path / "home" / "victim", tmp_path / "elsewhere"]
    for victim in victims:
        victim.mkdir(parents=True)
        (victim / "keep.txt").write_text("mine")
    for bad in ["../victim", str(tmp_path / "elsewhere"), "..", "", "."]:
        repo_audit.cleanup(bad, resources.settings)
        with pytest.raises(TargetError):
            repo_audit._checkout_dir(bad, resources.settings)
    assert all((victim / "keep.txt").exists() for victim in victims) and audit_path.is_dir()
    (audit_path / HEX).mkdir()
    repo_audit.cleanup(DASHED, resources.settings)
    assert not (audit_path / HEX).exists()


# -- the task manager's bounds -------------------------------------------------------------------------------------


class FakeAudits:
    """Stands in for ``run_audit``: each audit starts, waits for ``gate``, then reports (or raises ``error``)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.running = asyncio.Event()
        self.error: Exception | None = None

    async def __call__(self, request: dict[str, Any], on_event, **kwargs: Any) -> AuditReport:
        on_event({"type": "task.started", "repo": request["repo"], "ref": None, "agents": ["explorer"]})
        self.running.set()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        on_event({"type": "task.completed", "status": "completed", "counts": {}, "summary": "done"})
        return AuditReport(task_id=request["task_id"], repo=request["repo"], summary=f"report {request['task_id']}")


@pytest.fixture
def fake(monkeypatch) -> FakeAudits:
    audits = FakeAudits()
    monkeypatch.setattr(tasks_module, "run_audit", audits)
    return audits


async def test_a_task_beyond_the_queue_limit_is_refused_while_the_others_wait(resources, runlog, root, fake):
    manager = task_manager(resources, runlog)
    repo = str(root / "clean-lib")
    running = manager.create(repo)
    await fake.running.wait()
    waiting = [manager.create(repo) for _ in range(resources.settings.audit_max_queued)]
    assert resources.settings.audit_max_queued == 16
    assert {t.record.status for t in waiting} == {"queued"} and running.record.status == "running"
    with pytest.raises(TooManyTasks) as refused:
        manager.create(repo)
    assert refused.value.code == "too_many_tasks" and "wait for a running audit to finish" in str(refused.value)
    assert len(manager._tasks) == 17
    fake.gate.set()
    await asyncio.gather(*(t.runner for t in [running, *waiting] if t.runner))
    later = manager.create(repo)  # room again once they have finished
    assert later.runner is not None
    await later.runner
    assert later.record.status == "completed"


async def test_finished_tasks_beyond_the_limit_leave_memory_and_are_served_from_the_run_log(
    resources, runlog, root, fake
):
    fake.gate.set()
    manager = task_manager(resources, runlog)
    finished = []
    for _ in range(resources.settings.audit_tasks_kept + 2):
        task = manager.create(str(root / "clean-lib"))
        assert task.runner is not None
        await task.runner
        finished.append(task)
    assert len(manager._tasks) == resources.settings.audit_tasks_kept
    evicted, kept = finished[0], finished[-1]
    task_id = evicted.record.task_id
    assert manager.get(task_id) is None and manager.get(kept.record.task_id) is kept
    status = await manager.status(task_id)
    assert status is not None and status["status"] == "completed" and status["progress"] == 100
    report = await manager.report(task_id)
    assert report is not None and report.summary == f"report {task_id}"
    assert [e async for e in manager.subscribe(task_id)] == evicted.events
    assert await manager.known(task_id)
    assert task_id in {item["task_id"] for item in await manager.recent(10)}


async def test_an_unexpected_failure_is_reported_without_its_class_or_paths(resources, runlog, root, fake, caplog):
    fake.gate.set()
    fake.error = RuntimeError("boom in /srv/secret/checkout")
    manager = task_manager(resources, runlog)
    task = manager.create(str(root / "clean-lib"))
    assert task.runner is not None
    with caplog.at_level(logging.ERROR, logger="workbench.tasks.manager"):
        await task.runner
    task_id = task.record.task_id
    error = task.record.error or ""
    assert task.record.status == "failed"
    assert error == f"the audit failed; the server log has the details for task {task_id}"
    event = task.events[-1]
    assert event["type"] == "task.error" and event["code"] == "audit_failed" and event["message"] == error
    assert "RuntimeError" not in str(task.events) and "/srv" not in str(task.events)
    assert "boom in /srv/secret/checkout" in caplog.text  # the details stay in the server log


async def test_the_projects_own_errors_keep_their_code_and_message(resources, runlog, root, fake):
    fake.gate.set()
    fake.error = CloneError("clone_timeout", "The checkout took longer than audit_clone_timeout_s.")
    manager = task_manager(resources, runlog)
    task = manager.create(str(root / "clean-lib"))
    assert task.runner is not None
    await task.runner
    assert task.record.error == "The checkout took longer than audit_clone_timeout_s."
    assert task.events[-1]["code"] == "clone_timeout"


def test_the_rest_route_answers_429_when_the_queue_is_full():
    class FullManager:
        def create(self, *args: Any, **kwargs: Any) -> None:
            raise TooManyTasks("16 audits are already waiting; wait for a running audit to finish, then try again.")

    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_task_manager] = FullManager
    response = TestClient(app).post("/api/tasks/", json={"repo": "https://github.com/o/r"})
    assert response.status_code == 429
    detail = response.json()["detail"]
    assert detail["code"] == "too_many_tasks" and "wait for a running audit to finish" in detail["message"]


# -- error texts that name no server path ------------------------------------------------------------------------


def test_an_occupied_checkout_folder_is_refused_without_naming_it(tmp_path):
    from workbench.audit.checkout_tree import prepare_dest

    dest = tmp_path / "audits" / HEX
    dest.mkdir(parents=True)
    (dest / "x").write_text("")
    with pytest.raises(CloneError) as refused:
        prepare_dest(dest, None)
    assert str(tmp_path) not in str(refused.value) and "start a new task" in str(refused.value)


HOLD_FILE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


async def test_reading_tasks_while_the_run_log_is_held_elsewhere_never_stalls_the_event_loop(resources, tmp_path):
    """The reads wait for the run log's writer (flush) and DuckDB's file lock off the loop: the loop keeps ticking."""
    path = tmp_path / "held.duckdb"
    runlog = RunLog(path, lock_timeout=0.5)
    manager = task_manager(resources, runlog)
    await manager.start()
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_FILE, str(path), "3", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and (await holder.stdout.readline()).strip() == b"holding"
        runlog.log_run(RunRecord("r1", "chat"))  # the writer now waits for the lock: a flush waits with it
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        rows = await manager.recent()  # waits for the writer, then for the file: about 3 s
        assert await manager.status(uuid.uuid4().hex) is None
        elapsed = time.monotonic() - started
        ticker.cancel()
        assert elapsed > 2 and rows == []
        assert ticks >= 0.25 * elapsed / 0.01, "the loop kept running while the reads waited"
    finally:
        with contextlib.suppress(ProcessLookupError):
            holder.kill()
        await holder.wait()
        runlog.close()


# -- events ------------------------------------------------------------------------------------------------------


async def test_every_event_of_a_real_audit_is_a_typed_task_event_sent_as_recorded(resources, runlog, root):
    """None is dropped on its way to a watcher (the socket sends the typed events), and each fits the schema."""
    server = {"$ref": "#/$defs/server", "$defs": TASKS_SCHEMA["$defs"]}
    manager = task_manager(resources, runlog)
    task = manager.create(str(root / "clean-lib"))
    assert task.runner is not None
    await task.runner
    recorded = [event async for event in manager.subscribe(task.record.task_id)]
    assert {"task.started", "task.progress", "task.agent_result", "task.completed"} <= {e["type"] for e in recorded}
    for event in recorded:
        sent = wire(TASK_EVENTS.validate_python(event))
        assert sent == event
        jsonschema.validate(sent, server)

"""``/api/tasks``: create a repo audit, read its status, fetch its results as JSON, SARIF or Markdown."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute

from workbench.audit.report import to_json, to_markdown, to_sarif
from workbench.audit.safety import InvalidRequest, TargetError
from workbench.errors import StorageUnavailable
from workbench.server.dependencies import get_task_manager
from workbench.server.protocol_tasks import CreateTask, TaskCreated, TaskInfo
from workbench.tasks.manager import TaskManager, TooManyTasks


class StorageRoute(APIRoute):
    """A route whose store (the run log holding the tasks) cannot be read answers 503 with what to do."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except StorageUnavailable as exc:
                return JSONResponse({"detail": {"code": exc.code, "message": str(exc)}}, status_code=503)

        return handle


router = APIRouter(prefix="/api/tasks", tags=["tasks"], route_class=StorageRoute)
Manager = Annotated[TaskManager, Depends(get_task_manager)]


def _links(task_id: str) -> dict[str, str]:
    return {
        "status": f"/api/tasks/{task_id}",
        "results": f"/api/tasks/{task_id}/results",
        "events": f"/ws/tasks/{task_id}",
    }


@router.post("/", status_code=202, response_model=TaskCreated)
async def create_task(body: CreateTask, tasks: Manager) -> dict[str, Any]:
    """Queue an audit and return its id at once. A refused target is a 400 and starts nothing; a 429 when
    ``audit_max_queued`` audits already wait."""
    try:
        task = tasks.create(
            body.repo,
            body.ref,
            list(body.agents) if body.agents is not None else None,
            agent_timeouts={str(k): v for k, v in (body.agent_timeouts or {}).items()},
            model=body.model,
        )
    except (TargetError, InvalidRequest) as exc:
        raise HTTPException(400, {"code": getattr(exc, "code", "invalid_request"), "message": str(exc)}) from exc
    except TooManyTasks as exc:
        raise HTTPException(429, {"code": exc.code, "message": str(exc)}) from exc
    return {"task_id": task.record.task_id, "status": task.record.status, "links": _links(task.record.task_id)}


@router.get("/", response_model=list[TaskInfo])
async def list_tasks(tasks: Manager, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
    """Recent tasks, newest first."""
    return await tasks.recent(limit)


@router.get("/{task_id}", response_model=TaskInfo)
async def get_task(task_id: str, tasks: Manager) -> dict[str, Any]:
    status = await tasks.status(task_id)
    if status is None:
        raise HTTPException(404, {"code": "task_not_found", "message": f"no task {task_id!r}"})
    return status


@router.get("/{task_id}/results", response_model=None)
async def get_results(task_id: str, tasks: Manager, format: Literal["json", "sarif", "md"] = "json") -> Response:
    """The report once the task has ended: JSON (default), ``?format=sarif`` or ``?format=md``.

    409 while the task is still running, 404 for an unknown task; a failed task has no report (409 too).
    """
    report = await tasks.report(task_id)
    if report is None:
        status = await tasks.status(task_id)
        if status is None:
            raise HTTPException(404, {"code": "task_not_found", "message": f"no task {task_id!r}"})
        raise HTTPException(
            409,
            {
                "code": "no_results",
                "message": f"task {task_id} is {status['status']}"
                + (f": {status['error']}" if status["error"] else ""),
                "status": status["status"],
            },
        )
    if format == "md":
        return PlainTextResponse(
            to_markdown(report),
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="audit-{task_id}.md"'},
        )
    if format == "sarif":
        return JSONResponse(
            to_sarif(report),
            media_type="application/sarif+json",
            headers={"Content-Disposition": f'inline; filename="audit-{task_id}.sarif"'},
        )
    return JSONResponse(to_json(report))

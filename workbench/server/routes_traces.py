"""A run's trace: ``GET /api/runs/{run_id}/trace`` (its row, spans, critical path and roll-up as JSON) and
``GET /runs/{run_id}/trace``, the page that draws it (the static files of ``workbench/ui/static/trace``).

Both sit behind the same guards as every other route (:mod:`workbench.server.security`). A run id is only ever a
SQL parameter, checked for its shape first; the page's files are served by name from a fixed set, never by a path a
client sends. The page's own policy lets it load nothing but its files and the JSON above, so a span's text, which
may hold anything a model or a document said, can never become script.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from workbench.runlog import get_runlog
from workbench.runlog.queries import get_trace
from workbench.runlog.trace import build_tree, critical_path, rollup
from workbench.server.routes_tasks import StorageRoute
from workbench.ui.trace_links import RUN_ID

STATIC = Path(__file__).resolve().parents[1] / "ui" / "static" / "trace"
ASSETS = {"trace.js": "text/javascript", "trace.css": "text/css"}
"""The page's files besides its HTML, by the name the page asks for them."""
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'"
)
"""The trace page's Content-Security-Policy (the framing policy is added to every response by the guards)."""
HIDDEN_RUN_FIELDS = ("owner",)
"""Run columns the page has no use for: which host and process wrote the row."""

router = APIRouter(tags=["traces"], route_class=StorageRoute)


def checked(run_id: str) -> str:
    """``run_id`` when it has the shape of a run id (at most 128 of ``A-Za-z0-9._:-``); a 400 otherwise."""
    if not RUN_ID.fullmatch(run_id):
        raise HTTPException(
            400, {"code": "invalid_run_id", "message": "a run id is 1 to 128 letters, digits and '._:-'"}
        )
    return run_id


def trace_payload(trace: dict[str, Any]) -> dict[str, Any]:
    """What the page draws: the run row, its spans, the ids on the critical path and the run's roll-up."""
    spans = trace["spans"]
    run = {key: value for key, value in trace["run"].items() if key not in HIDDEN_RUN_FIELDS}
    return {"run": run, "spans": spans, "critical_path": critical_path(build_tree(spans)), "rollup": rollup(spans)}


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _read(request: Request, run_id: str) -> dict[str, Any] | None:
    trace = get_trace(request.app.state.resources.settings.runlog_path, run_id)
    return None if trace is None else trace_payload(trace)


@router.get("/api/runs/{run_id}/trace")
async def run_trace(run_id: str, request: Request) -> Response:
    """The run's trace as JSON (times as ISO 8601 strings); 404 for a run the log does not hold."""
    checked(run_id)
    await get_runlog().aflush()  # a turn that just ended is in the file before it is read
    payload = await asyncio.to_thread(_read, request, run_id)
    if payload is None:
        raise HTTPException(404, {"code": "run_not_found", "message": f"no run {run_id!r} in the run log"})
    # json.dumps with a default is several times faster than FastAPI's encoder on a 10,000-span trace
    body = json.dumps(payload, default=_iso, ensure_ascii=False)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/runs/{run_id}/trace", response_class=FileResponse)
async def trace_page(run_id: str) -> FileResponse:
    """The trace page; it reads the run id from its own address and fetches the JSON above."""
    checked(run_id)
    return FileResponse(STATIC / "trace.html", headers={"Content-Security-Policy": PAGE_POLICY})


@router.get("/trace-static/{name}", response_class=FileResponse)
async def trace_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, {"code": "not_found", "message": f"no file {name!r}"})
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

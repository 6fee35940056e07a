"""``GET /health`` and ``GET /ready``.

``/health`` is liveness, open to every client (no token), so it says little about the server's setup: ``ok``, or
``degraded`` with the names of the failing components. ``/ready`` is for operators (behind the token when one is
set): every dependency (the run log, the disk holding the home, session checkpoints and leases, the vector store, a
LangGraph Server) as ok or failing with a reason that says what to do; 503 while any fails. Both stay cheap: the
probes that touch a file or another process run at most once a second, each bounded in time.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from workbench.health import Check, failing, ok

router = APIRouter()
PROBE_TIMEOUT_S = 2.0
CACHE_S = 1.0


def disk(app_state: Any) -> Check:
    """Free space on the disk holding the home, against ``min_free_disk_mb``."""
    settings = app_state.resources.settings
    try:
        free_mb = shutil.disk_usage(settings.home).free // 2**20
    except OSError:
        return failing("disk", "the workbench's home folder cannot be read; check that it exists and is readable")
    if free_mb < settings.min_free_disk_mb:
        return failing(
            "disk",
            f"{free_mb} MB free on the disk holding WORKBENCH_HOME (at least {settings.min_free_disk_mb} MB are kept "
            "free); free space on it",
        )
    return ok("disk")


async def _bounded(name: str, probe: Any) -> list[Check]:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            result = await probe
    except TimeoutError:
        return [failing(name, f"did not answer within {PROBE_TIMEOUT_S:.0f} s")]
    except Exception:
        return [failing(name, "its probe failed; the server log has the details")]
    return result if isinstance(result, list) else [result]


async def checks(request: Request) -> list[Check]:
    """Every component's state, probed at most once per :data:`CACHE_S` (concurrent callers share a probe)."""
    state = request.app.state
    cached = getattr(state, "ready_checks", None)
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return await asyncio.shield(cached[1])
    probe = asyncio.ensure_future(_probe(state))
    state.ready_checks = (time.monotonic(), probe)
    return await asyncio.shield(probe)


async def _probe(state: Any) -> list[Check]:
    if getattr(state, "chat", None) is None:
        return [failing("server", "the server is starting or stopping")]
    found = [state.chat.callback.runlog.health(), await asyncio.to_thread(disk, state)]
    found += await _bounded("graph_runtime", state.chat.runtime.health())
    found += await _bounded("vector_store", asyncio.to_thread(state.resources.store_health))
    return found


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    failing_now = [check.name for check in await checks(request) if not check.ok]
    return {"status": "degraded", "failing": failing_now} if failing_now else {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    found = await checks(request)
    ready_now = all(check.ok for check in found)
    body = {"status": "ok" if ready_now else "failing", "checks": [check.as_dict() for check in found]}
    return JSONResponse(body, status_code=200 if ready_now else 503)

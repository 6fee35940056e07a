"""The FastAPI application: protocols, health, and the Gradio UI mounted at ``/``, behind the guards of
:mod:`workbench.server.security` (Host allowlist, Origin check, API token).

Everything shared (vector store, models, checkpointer, run log) is built in the lifespan, never at import.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from workbench.resources import Resources
from workbench.server import security
from workbench.services import open_services
from workbench.settings import Settings, get_settings

# MLflow's import holds the GIL for seconds: begun at once, it would slow the first page's own load events (a
# browser opened with the server) by as much. The Evals tab starts it itself when it needs it sooner.
MLFLOW_WARM_DELAY_S = 5.0


def create_app(
    settings: Settings | None = None,
    resources: Resources | None = None,
    *,
    ui: bool = True,
    bind_host: str | None = None,
) -> FastAPI:
    """Build the application; without ``resources`` the lifespan builds them from ``settings`` (default: the
    environment's) and closes them at the end. ``bind_host``, the address the server listens on, is a Host name it
    answers to besides the loopback and configured ones."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = resources or Resources(settings or get_settings())
        try:
            async with open_services(active, warm=True) as services:
                app.state.resources = active
                app.state.chat = services.chat
                app.state.voice = services.voice
                app.state.tasks = services.tasks
                warming = None
                if ui:  # the Evals tab's first open should not wait seconds for MLflow: load it soon, aside
                    from workbench.evals.tracking import warm_in_background

                    warming = asyncio.get_running_loop().call_later(
                        MLFLOW_WARM_DELAY_S, warm_in_background, active.settings
                    )
                try:
                    yield
                finally:
                    if warming is not None:
                        warming.cancel()
        finally:
            if resources is None:
                active.close()

    app = FastAPI(title="Agent Workbench", version="0.1.0", lifespan=lifespan)
    guarded = settings or (resources.settings if resources else get_settings())

    from workbench.server import (
        routes_health,
        routes_login,
        routes_tasks,
        routes_threads,
        routes_traces,
        ws_assistant,
        ws_chat,
        ws_tasks,
    )

    app.include_router(routes_health.router)
    app.include_router(routes_login.router)
    app.include_router(routes_tasks.router)
    app.include_router(routes_traces.router)
    app.include_router(routes_threads.router)
    app.include_router(ws_tasks.router)
    app.include_router(ws_chat.router)
    app.include_router(ws_assistant.router)
    if ui:
        from workbench.ui.app import mount_ui

        mount_ui(app, guarded)
    security.install(app, guarded, bind_host)
    return app

"""The FastAPI application: protocols, health, and the Gradio UI mounted at ``/``.

Everything shared (vector store, models, checkpointer, run log) is built in the lifespan, never at import.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from workbench.chat.service import ChatService
from workbench.resources import Resources, get_resources, set_resources
from workbench.runlog import get_runlog
from workbench.settings import Settings

log = logging.getLogger(__name__)
SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "datasets" / "corpus"


def corpus_dir(settings: Settings) -> Path | None:
    """The folder indexed on first start: the configured one, else the bundled sample corpus."""
    folder = settings.corpus_dir or SAMPLE_CORPUS
    return folder if folder.is_dir() else None


async def index_corpus_if_empty(resources: Resources) -> None:
    """Index the sample corpus when the default collection has nothing in it yet."""
    from workbench.ingest.pipeline import ingest_paths

    settings = resources.settings
    store = resources.store
    folder = corpus_dir(settings)
    if folder is None:
        return
    collections = await asyncio.to_thread(store.collections)
    if settings.collection in collections:
        points = await asyncio.to_thread(store.count, settings.collection)
        if points > 0:
            return
    report = await asyncio.to_thread(ingest_paths, store, [folder], settings.collection)
    log.info("indexed %s into %r: %s", folder, settings.collection, report.summary())


def create_app(settings: Settings | None = None, resources: Resources | None = None, *, ui: bool = True) -> FastAPI:
    """Build the application; ``settings`` and ``resources`` default to the process-wide ones."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if resources is not None:
            active = resources
        elif settings is not None:
            active = Resources(settings)
        else:
            active = get_resources()
        previous = set_resources(active)
        active.settings.home.mkdir(parents=True, exist_ok=True)
        await index_corpus_if_empty(active)
        async with AsyncSqliteSaver.from_conn_string(str(active.settings.checkpoints_path)) as saver:
            app.state.resources = active
            app.state.chat = ChatService(active.settings, saver)
            try:
                yield
            finally:
                get_runlog().flush()
                set_resources(previous)
                if resources is None:
                    active.close()

    app = FastAPI(title="Agent Workbench", version="0.1.0", lifespan=lifespan)

    from workbench.server import routes_health, ws_chat

    app.include_router(routes_health.router)
    app.include_router(ws_chat.router)
    if ui:
        from workbench.ui.app import mount_ui

        mount_ui(app)
    return app

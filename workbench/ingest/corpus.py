"""The folder a fresh home is indexed from: the configured corpus, else the bundled sample corpus (the guide)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from workbench.ingest.pipeline import ingest_paths
from workbench.providers.vectorstore import VectorStore
from workbench.settings import Settings

log = logging.getLogger(__name__)
SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "datasets" / "corpus"


def corpus_dir(settings: Settings) -> Path | None:
    """The folder indexed on first start: the configured one, else the bundled sample corpus."""
    folder = settings.corpus_dir or SAMPLE_CORPUS
    return folder if folder.is_dir() else None


async def index_corpus_if_empty(store: VectorStore, settings: Settings) -> None:
    """Index the corpus into the default collection when it has nothing in it yet."""
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

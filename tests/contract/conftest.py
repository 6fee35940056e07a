"""Every vector store / embedder combination that can run here, for the contract suites.

- in-memory Qdrant + fake embeddings (unit speed);
- local Qdrant on disk (``path=``) + fake embeddings;
- local Qdrant on disk + the bundled MiniLM model (``integration``);
- Qdrant Edge on disk (the embedded default) + fake embeddings, and + MiniLM (``integration``);
- a Qdrant server, only when ``WORKBENCH_TEST_QDRANT_URL`` is set (``WORKBENCH_TEST_QDRANT_API_KEY`` optional).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings
from qdrant_client import QdrantClient

from workbench.providers.edge_store import EdgeStore
from workbench.providers.fake_embeddings import FakeEmbeddings
from workbench.providers.qdrant_store import QdrantStore

REMOTE_URL = os.environ.get("WORKBENCH_TEST_QDRANT_URL")


def minilm() -> Embeddings:
    from workbench.providers.minilm import MiniLMEmbeddings

    return MiniLMEmbeddings()


Store = QdrantStore | EdgeStore


@dataclass
class StoreUnderTest:
    """A store, a fresh collection name in it, how to reopen the same storage (None: not reopenable), and how to
    see the same storage as another process would, with other embeddings (the store itself may close)."""

    store: Store
    collection: str
    real_model: bool
    reopen: Callable[[], Store] | None
    view: Callable[[Embeddings], Store]


STORE_KINDS = [
    pytest.param("memory-fake", id="memory-fake"),
    pytest.param("local-fake", id="local-fake"),
    pytest.param("local-minilm", id="local-minilm", marks=pytest.mark.integration),
    pytest.param("edge-fake", id="edge-fake"),
    pytest.param("edge-minilm", id="edge-minilm", marks=pytest.mark.integration),
    pytest.param(
        "remote-fake",
        id="remote-fake",
        marks=pytest.mark.skipif(not REMOTE_URL, reason="set WORKBENCH_TEST_QDRANT_URL to test a Qdrant server"),
    ),
]


@pytest.fixture(params=STORE_KINDS)
def store_under_test(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    kind: str = request.param
    collection = f"contract_{uuid.uuid4().hex[:10]}"
    embeddings = minilm() if kind.endswith("-minilm") else FakeEmbeddings()
    opened: list[Store] = []

    def open_store(with_embeddings: Embeddings = embeddings) -> Store:
        store: Store
        if kind == "memory-fake" and opened:  # the same in-memory client, another store over it
            store = QdrantStore(opened[0].client, with_embeddings)  # type: ignore[union-attr]
            opened.append(store)
            return store
        for previous in opened:
            previous.close()
        if kind == "memory-fake":
            store = QdrantStore.in_memory(with_embeddings)
        elif kind.startswith("local"):
            store = QdrantStore(QdrantClient(path=str(tmp_path / "qdrant")), with_embeddings)
        elif kind.startswith("edge"):
            store = EdgeStore(tmp_path / "edge", with_embeddings)
        else:
            api_key = os.environ.get("WORKBENCH_TEST_QDRANT_API_KEY")
            store = QdrantStore(QdrantClient(url=REMOTE_URL, api_key=api_key, timeout=30), with_embeddings)
        opened.append(store)
        return store

    store = open_store()
    reopen = None if kind == "memory-fake" else open_store
    yield StoreUnderTest(store, collection, kind.endswith("-minilm"), reopen, open_store)
    last = opened[-1]
    if kind == "remote-fake" and isinstance(last, QdrantStore) and last.client.collection_exists(collection):
        last.client.delete_collection(collection)
    last.close()

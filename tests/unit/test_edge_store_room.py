"""The embedded vector store never writes into a hole of its memory-mapped files that the disk cannot back (a write
there kills the process with SIGBUS): it refuses to open or write with ``StorageUnavailable`` and its files stay
intact. (tests/integration/test_faults_disk.py fills a real file system.)"""

from __future__ import annotations

import shutil
import uuid
from collections import namedtuple
from pathlib import Path

import pytest

from workbench.documents import Chunk
from workbench.errors import StorageUnavailable
from workbench.providers import edge_store
from workbench.providers.edge_store import EdgeStore, unbacked_bytes
from workbench.providers.fake_embeddings import FakeEmbeddings

Usage = namedtuple("Usage", "total used free")
MB = 2**20


def chunks(n: int, source: str = "a.md") -> list[Chunk]:
    return [
        Chunk(
            chunk_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{i}")),
            text=f"passage {i} about the data folder",
            source=source,
            title="A",
            section=None,
            page=None,
            ingested_at="2025-01-01T00:00:00+00:00",
            position=i,
            content_hash="h1",
        )
        for i in range(n)
    ]


def test_unbacked_bytes_counts_the_holes_of_sparse_files(tmp_path: Path) -> None:
    with open(tmp_path / "sparse.dat", "wb") as f:
        f.truncate(32 * MB)
    (tmp_path / "dense.dat").write_bytes(b"x" * MB)
    assert 31 * MB < unbacked_bytes(tmp_path) <= 32 * MB


def test_writes_and_opens_are_refused_while_the_disk_cannot_back_the_store(tmp_path: Path, monkeypatch) -> None:
    free = {"bytes": 10 * 2**30}
    monkeypatch.setattr(edge_store.shutil, "disk_usage", lambda _: Usage(0, 0, free["bytes"]))
    store = EdgeStore(tmp_path / "edge", FakeEmbeddings(), min_free_bytes=64 * MB)
    store.upsert("docs", chunks(3))
    holes = unbacked_bytes(tmp_path / "edge" / "docs")
    assert holes > 0, "Edge's files are sparse"

    free["bytes"] = holes + 10 * MB  # less than the holes plus the margin
    with pytest.raises(StorageUnavailable) as refused:
        store.upsert("docs", chunks(2, "b.md"))
    message = str(refused.value)
    assert "free space" in message and str(tmp_path) not in message
    assert not store.health().ok
    store.close()
    with pytest.raises(StorageUnavailable):  # a store reopened on that disk refuses to open the collection
        EdgeStore(tmp_path / "edge", FakeEmbeddings(), min_free_bytes=64 * MB).count("docs")

    free["bytes"] = holes + 65 * MB  # room again: the same files open, nothing was lost
    reopened = EdgeStore(tmp_path / "edge", FakeEmbeddings(), min_free_bytes=64 * MB)
    try:
        assert reopened.count("docs") == 3 and reopened.health().ok
        reopened.upsert("docs", chunks(2, "b.md"))
        assert reopened.count("docs") == 5
    finally:
        reopened.close()
        shutil.rmtree(tmp_path / "edge")

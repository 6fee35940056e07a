"""A collection as a file: exported from one store, imported into another with the same ids, vectors and
payloads; a broken or foreign file is refused, naming the line, before anything is written."""

from __future__ import annotations

import io
import json

import pytest
from qdrant_client import QdrantClient

from tests.contract.test_vectorstore_contract import CHUNKS
from workbench.providers.edge_store import EdgeStore
from workbench.providers.fake_embeddings import FakeEmbeddings
from workbench.providers.index_file import IndexFileError, export_collection, import_collection
from workbench.providers.qdrant_store import QdrantStore


@pytest.fixture
def edge(tmp_path):
    store = EdgeStore(tmp_path / "edge", FakeEmbeddings(), embeddings_id="fake")
    store.upsert("docs", CHUNKS)
    yield store
    store.close()


def exported(store) -> str:
    out = io.StringIO()
    assert export_collection(store, "docs", out, "fake", store.dim) == len(CHUNKS)
    return out.getvalue()


def test_an_exported_collection_imports_into_another_store_unchanged(edge, tmp_path):
    text = exported(edge)
    header = json.loads(text.splitlines()[0])
    assert header == {"format": "workbench-index", "version": 1, "collection": "docs", "embeddings": "fake", "dim": 64}
    local = QdrantStore(QdrantClient(path=str(tmp_path / "local")), FakeEmbeddings(), embeddings_id="fake")
    try:
        assert import_collection(local, io.StringIO(text), "fake", local.dim, "copy") == ("copy", len(CHUNKS))
        originals = {p.id: p for p in edge.points("docs")}
        copies = {p.id: p for p in local.points("copy")}
        assert copies.keys() == originals.keys() == {c["chunk_id"] for c in CHUNKS}
        for point_id, copy in copies.items():
            original = originals[point_id]
            assert copy.payload == original.payload
            assert copy.dense == pytest.approx(original.dense, abs=1e-6)
            assert (copy.sparse is None) == (original.sparse is None)
            if copy.sparse is not None and original.sparse is not None:
                assert list(copy.sparse.indices) == list(original.sparse.indices)
        query = "chat runs model tokens DuckDB"
        assert [d["chunk_id"] for d in local.search("copy", query, k=3)] == [
            d["chunk_id"] for d in edge.search("docs", query, k=3)
        ]
    finally:
        local.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda lines: ["not json", *lines[1:]], "line 1: not a workbench index file"),
        (lambda lines: [*lines[:3], "{", *lines[3:]], "line 4: not JSON"),
        (
            lambda lines: [*lines[:2], lines[2].replace('"id": "', '"id": "../'), *lines[3:]],
            "line 3: the id is not a UUID",
        ),
        (lambda lines: [*lines[:2], json.dumps({"id": "x"}), *lines[2:]], "line 3: a point has exactly"),
        (lambda lines: [*lines[:1], lines[1].replace("[", "[NaN, ", 1), *lines[2:]], "line 2: dense is not 64 finite"),
    ],
)
def test_a_broken_line_refuses_the_whole_file_before_anything_is_written(edge, tmp_path, change, message):
    lines = exported(edge).splitlines()
    target = EdgeStore(tmp_path / "other", FakeEmbeddings(), embeddings_id="fake")
    try:
        with pytest.raises(IndexFileError, match=message):
            import_collection(target, io.StringIO("\n".join(change(lines)) + "\n"), "fake", target.dim)
        assert target.collections() == []
    finally:
        target.close()


def test_a_file_of_another_embedding_model_or_a_bad_collection_name_is_refused(edge, tmp_path):
    text = exported(edge)
    target = EdgeStore(tmp_path / "other", FakeEmbeddings(), embeddings_id="other/model")
    try:
        with pytest.raises(IndexFileError, match=r"another embedding model \(fake, 64 dimensions"):
            import_collection(target, io.StringIO(text), "other/model", target.dim)
        with pytest.raises(IndexFileError, match="collection name"):
            import_collection(target, io.StringIO(text), "fake", target.dim, "../escape")
        assert target.collections() == []
    finally:
        target.close()

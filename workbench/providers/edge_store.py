"""Qdrant Edge as the embedded vector store: Qdrant's Rust engine in this process, one shard per collection.

The same chunks, point ids, payloads, dense and sparse (BM25, IDF modifier) vectors and RRF fusion as
:class:`~workbench.providers.qdrant_store.QdrantStore`, so results agree with qdrant-client's local mode and with a
Qdrant server, and an index moves between them (``workbench index export`` / ``import``). Where qdrant-client's
local mode scans every point in Python, Edge searches in native code: a hybrid query stays in the low
milliseconds at tens of thousands of chunks (``bench/retrieval.py``, docs/benchmarks.md).

Layout under the store's folder: ``<collection>/shard/`` (the Edge shard) and ``<collection>/collection.json``
(the embedding model and dimension it was built with). The folder is one process's at a time, and the store never
writes more than its disk can back (:mod:`workbench.providers.edge_folder`); how it creates and opens shards and
the requests it sends them are :mod:`workbench.providers.edge_shard`.

Search is exact below :data:`HNSW_MIN_POINTS` points, where an HNSW index saves nothing (measured at 20,000
chunks: a hybrid query takes 2.6 ms exact, 2.8 ms with HNSW). A write that leaves a collection above it builds the
index before it returns (about 18 s for 100,000 chunks, once; later writes index what they added), which halves an
unfiltered hybrid query at 100,000 chunks (9.3 ms to 4.8 ms; filtered queries stay near 4 ms either way). All
methods are synchronous and serialized by one lock (a search waits for an index build).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from workbench.documents import COLLECTION_RULE, RetrievedDoc, SearchMode, is_collection_name
from workbench.errors import StorageUnavailable
from workbench.health import Check, failing, ok
from workbench.providers.edge_folder import StoreInUse, check_room, lock_folder, unbacked_bytes
from workbench.providers.edge_shard import create_shard, fused, load_shard, match, nearest
from workbench.providers.sparse import SparseEncoder, SparseVector
from workbench.providers.vectorstore import (
    DEFAULT_CANDIDATES,
    DENSE,
    KEYWORD_FIELDS,
    SPARSE,
    EmbeddingStore,
    IndexedPoint,
    _doc,
    check_query,
    embedder_mismatch,
    fused_docs,
    make_filter,
    source_hashes_of,
)

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

HNSW_MIN_POINTS = 50_000
"""From this many points on, a collection is indexed with HNSW after each write (see the module docstring)."""
META = "collection.json"
__all__ = ["HNSW_MIN_POINTS", "META", "EdgeStore", "StoreInUse", "unbacked_bytes"]


class EdgeStore(EmbeddingStore):
    """Chunks in Qdrant Edge shards (one per collection), searchable by dense, sparse (BM25) or hybrid (RRF)."""

    kind = "edge"

    def __init__(
        self,
        root: Path,
        embeddings: Embeddings,
        sparse: SparseEncoder | None = None,
        *,
        embeddings_id: str | None = None,
        min_free_bytes: int = 64 * 2**20,
    ) -> None:
        """Open (creating it if needed) the store in ``root``; :class:`StoreInUse` when another process has it."""
        self.root = root
        self.min_free_bytes = min_free_bytes
        self.embeddings = embeddings
        self.sparse = sparse or SparseEncoder()
        self.embeddings_id = embeddings_id
        self.local = True
        root.mkdir(parents=True, exist_ok=True)
        self._lock_file = lock_folder(root)
        self._guard = threading.RLock()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._indexed: dict[str, int] = {}
        self._ready: set[str] = set()
        self.hnsw_min_points = HNSW_MIN_POINTS
        self._dim: int | None = None
        self._closed = False

    # --- collections --------------------------------------------------------------------------------------------

    def _folder(self, name: str) -> Path:
        if not is_collection_name(name):
            raise ValueError(COLLECTION_RULE)
        return self.root / name

    def _exists(self, name: str) -> bool:
        return (self._folder(name) / META).is_file()

    def _shard(self, name: str) -> qe.EdgeShard:
        """The open shard of an existing collection (loaded on first use)."""
        shard = self._shards.get(name)
        if shard is None:
            self._check_room(name, "open")
            shard = self._shards[name] = load_shard(self._folder(name) / "shard", name)
        return shard

    def ensure_collection(self, name: str) -> None:
        """Create the collection if it is missing; check that an existing one fits the embedder. Idempotent."""
        if name in self._ready:
            return
        dim = self.dim
        with self._guard:
            if self._exists(name):
                self._check_collection(name)
                self._ready.add(name)
                return
            folder = self._folder(name)
            if folder.exists():  # an earlier create that stopped before its metadata was written
                shutil.rmtree(folder)
            self._check_room(name, "create")
            self._shards[name] = create_shard(folder / "shard", dim)
            meta = {"embeddings": self.embeddings_id, "dim": dim, "dense": DENSE, "sparse": SPARSE}
            tmp = folder / f"{META}.tmp"
            tmp.write_text(json.dumps(meta))
            os.replace(tmp, folder / META)
            self._ready.add(name)

    def _check_collection(self, name: str) -> None:
        meta = json.loads((self._folder(name) / META).read_text())
        built_with, size = meta.get("embeddings"), int(meta.get("dim") or 0)
        if size != self.dim or (built_with and self.embeddings_id and built_with != self.embeddings_id):
            raise embedder_mismatch(name, built_with, size, self.embeddings_id, self.dim)

    def collections(self) -> list[str]:
        """Names of every collection, sorted."""
        with self._guard:
            return sorted(p.name for p in self.root.iterdir() if (p / META).is_file())

    def count(self, name: str) -> int:
        """Number of chunks in a collection (0 when it does not exist)."""
        with self._guard:
            if not self._exists(name):
                return 0
            return int(self._shard(name).count(qe.CountRequest(exact=True)))

    def source_hashes(self, name: str) -> dict[str, str]:
        """Each indexed source's content hash (see :func:`source_hashes_of`)."""
        return source_hashes_of(payload for _, payload in self._scroll(name, list(KEYWORD_FIELDS), with_vector=False))

    def _scroll(self, name: str, with_payload: bool | list[str], *, with_vector: bool) -> Iterator[tuple[Any, dict]]:
        offset: Any = None
        while True:
            with self._guard:
                if not self._exists(name):
                    return
                request = qe.ScrollRequest(
                    offset=offset, limit=1024, with_payload=with_payload, with_vector=with_vector
                )
                records, offset = self._shard(name).scroll(request)
            for record in records:
                yield record, dict(record.payload or {})
            if offset is None:
                return

    def delete_source(self, name: str, source: str, *, keep_hash: str | None = None) -> None:
        """Delete a source's chunks (but those with content hash ``keep_hash``, when given)."""
        keep: list[Any] | None = [match("content_hash", keep_hash)] if keep_hash is not None else None
        selector = qe.Filter(must=[match("source", source)], must_not=keep)
        with self._guard:
            if self._exists(name):
                shard = self._shard(name)
                self._check_room(name, "change")
                shard.update(qe.UpdateOperation.delete_points_by_filter(selector))
                shard.flush()

    def health(self) -> Check:
        """Failing while a collection could not be opened or written for want of disk space (see the module
        docstring); cheap: it reads file sizes, never the shards."""
        try:
            for name in self.collections():
                self._check_room(name, "write to")
        except StorageUnavailable as exc:
            return failing("vector_store", str(exc))
        except OSError:
            return failing("vector_store", "the vector store's folder cannot be read; check WORKBENCH_HOME")
        return ok("vector_store")

    # --- writing ------------------------------------------------------------------------------------------------

    def _check_room(self, name: str, action: str) -> None:
        """Refuse (:class:`StorageUnavailable`) to ``action`` collection ``name`` unless the disk can back it
        (:func:`~workbench.providers.edge_folder.check_room`)."""
        check_room(self.root, self._folder(name), self.min_free_bytes, name, action)

    def _write(self, name: str, points: Sequence[IndexedPoint]) -> None:
        edge_points = []
        for point in points:
            vector: dict[str, Any] = {DENSE: list(point.dense)}
            if point.sparse is not None and point.sparse.indices:
                vector[SPARSE] = qe.SparseVector(list(point.sparse.indices), list(point.sparse.values))
            edge_points.append(qe.Point(point.id, vector, point.payload))
        with self._guard:
            shard = self._shard(name)
            self._check_room(name, "write to")
            shard.update(qe.UpdateOperation.upsert_points(edge_points))

    def _written(self, name: str) -> None:
        """Persist the shard's segments once per write call (its write-ahead log already holds every update; a
        flush per batch cost two thirds of ingest), and index a collection that has grown past
        :attr:`hnsw_min_points` by a tenth since it was last indexed."""
        with self._guard:
            shard = self._shard(name)
            shard.flush()
            count = int(shard.count(qe.CountRequest(exact=True)))
            if count >= self.hnsw_min_points and count * 10 >= self._indexed.get(name, 0) * 11:
                shard.optimize()
                shard.flush()
                self._indexed[name] = count

    def points(self, name: str) -> Iterator[IndexedPoint]:
        """Every point of a collection with its vectors and payload (for export)."""
        for record, payload in self._scroll(name, True, with_vector=True):
            vectors = record.vector if isinstance(record.vector, dict) else {}
            sparse = vectors.get(SPARSE)
            yield IndexedPoint(
                str(record.id),
                list(vectors[DENSE]),
                SparseVector(list(sparse.indices), list(sparse.values)) if sparse else None,
                payload,
            )

    # --- searching ----------------------------------------------------------------------------------------------

    def search(
        self,
        name: str,
        query: str,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: SearchMode = "hybrid",
        candidates: int | None = None,
    ) -> list[RetrievedDoc]:
        """The ``k`` best chunks for ``query`` (the contract of :meth:`VectorStore.search`)."""
        check_query(k, mode)
        query_filter = make_filter(filters, qe)
        with self._guard:
            if not self._exists(name):
                return []
        self.ensure_collection(name)  # checks it was built with this embedder
        limit = max(candidates or DEFAULT_CANDIDATES, k)
        if mode == "dense":
            request = nearest(DENSE, self.embeddings.embed_query(query), k, query_filter)
            return [_doc(p, p.score, dense=p.score) for p in self._query(name, [request])[0]]
        sparse_query = self.sparse.encode_query(query)
        sparse = qe.SparseVector(list(sparse_query.indices), list(sparse_query.values))
        if mode == "sparse":
            if not sparse_query.indices:
                return []
            return [
                _doc(p, p.score, sparse=p.score)
                for p in self._query(name, [nearest(SPARSE, sparse, k, query_filter)])[0]
            ]
        lists: list[tuple[str, Any]] = [(DENSE, self.embeddings.embed_query(query))]
        if sparse_query.indices:
            lists.append((SPARSE, sparse))
        hits, *candidate_lists = self._query(name, fused(lists, limit, query_filter))
        return fused_docs(hits, candidate_lists, k)

    def _query(self, name: str, requests: list[qe.QueryRequest]) -> list[list[qe.ScoredPoint]]:
        with self._guard:
            return self._shard(name).query_batch(qe.QueryBatchRequest(requests))

    def close(self) -> None:
        """Flush and close every shard and release the folder."""
        with self._guard:
            if self._closed:
                return
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()
            self._closed = True
            self._lock_file.close()  # releases the lock

"""Qdrant Edge as the embedded vector store: Qdrant's Rust engine in this process, one shard per collection.

The same chunks, point ids, payloads, dense and sparse (BM25, IDF modifier) vectors and RRF fusion as
:class:`~workbench.providers.qdrant_store.QdrantStore`, so results agree with qdrant-client's local mode and with a
Qdrant server, and an index moves between them (``workbench index export`` / ``import``). Where qdrant-client's
local mode scans every point in Python, Edge searches in native code: a hybrid query stays in the low
milliseconds at tens of thousands of chunks (``bench/retrieval.py``, docs/benchmarks.md).

Layout under the store's folder: ``<collection>/shard/`` (the Edge shard) and ``<collection>/collection.json``
(the embedding model and dimension it was built with). The folder belongs to one process at a time: the store
takes a lock on ``.lock`` when it opens, and a second process is refused with a clear error (Edge itself refuses
to open a shard whose write-ahead log another process holds, and opening one without its log while another
process writes corrupts it; measured, see docs/benchmarks.md).

Search is exact below :data:`HNSW_MIN_POINTS` points, where an HNSW index saves nothing (measured at 20,000
chunks: a hybrid query takes 2.6 ms exact, 2.8 ms with HNSW). A write that leaves a collection above it builds the
index before it returns (about 18 s for 100,000 chunks, once; later writes index what they added), which halves an
unfiltered hybrid query at 100,000 chunks (9.3 ms to 4.8 ms; filtered queries stay near 4 ms either way). All
methods are synchronous and serialized by one lock (a search waits for an index build).

Disk space: Edge maps its files into memory, and they are sparse (a write-ahead log segment or a page file is 32 MB
long from its creation, backed by the disk only as it is written). A write into a hole when the disk is full kills
the process with SIGBUS, with no chance to report it, and a store that filled the disk would then crash every
process that opens it (its log is replayed on open). So before opening a shard or writing to it, the store checks
that the disk has room for every hole its files still hold plus ``min_free_bytes`` (``WORKBENCH_MIN_FREE_DISK_MB``)
for the files a write may add, and refuses with :class:`~workbench.errors.StorageUnavailable` otherwise: its files
stay intact, and once space is freed it opens and writes as before.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from workbench.documents import COLLECTION_PATTERN, RetrievedDoc, SearchMode
from workbench.errors import ConfigurationError, StorageUnavailable
from workbench.health import Check, failing, ok
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
RRF_K = 2
"""RRF's ranking constant: Qdrant's default, which qdrant-client's local mode and a Qdrant server use too."""
_RRF: Any = qe.Fusion.Rrf(k=RRF_K)  # (the package's stubs type a fusion as Fusion, not its Rrf)
META = "collection.json"


class StoreInUse(ConfigurationError):
    """Another process holds the store's folder."""


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
        self._lock_file = open(root / ".lock", "a+")  # noqa: SIM115 (held for the store's life)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise StoreInUse(
                f"the vector store in {root.name}/ is in use by another workbench process (one process at a time "
                "opens an embedded store): stop it, or set QDRANT_URL to share a Qdrant server"
            ) from None
        self._guard = threading.RLock()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._indexed: dict[str, int] = {}
        self._ready: set[str] = set()
        self.hnsw_min_points = HNSW_MIN_POINTS
        self._dim: int | None = None
        self._closed = False

    # --- collections --------------------------------------------------------------------------------------------

    def _folder(self, name: str) -> Path:
        if not re.fullmatch(COLLECTION_PATTERN, name):
            raise ValueError("a collection name is 1-63 letters, digits, '_', '-' or '.'")
        return self.root / name

    def _exists(self, name: str) -> bool:
        return (self._folder(name) / META).is_file()

    def _shard(self, name: str) -> qe.EdgeShard:
        """The open shard of an existing collection (loaded on first use)."""
        shard = self._shards.get(name)
        if shard is None:
            self._check_room(name, "open")
            try:
                shard = qe.EdgeShard.load(str(self._folder(name) / "shard"))
            except Exception as exc:  # Edge raises plain exceptions with its own messages
                raise ConfigurationError(
                    f"collection {name!r} cannot be opened ({_reason(exc)}): another process may hold it, or its "
                    "files are damaged (re-ingest into a new collection)"
                ) from None
            self._shards[name] = shard
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
            config = qe.EdgeConfig(
                vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
                sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            )
            shard = qe.EdgeShard.create(str(folder / "shard"), config)
            for field in KEYWORD_FIELDS:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
            shard.flush()
            self._shards[name] = shard
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
        keep: list[Any] | None = [_match("content_hash", keep_hash)] if keep_hash is not None else None
        selector = qe.Filter(must=[_match("source", source)], must_not=keep)
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
        """Refuse (:class:`StorageUnavailable`) to ``action`` collection ``name`` unless the disk can back every
        hole of its files plus :attr:`min_free_bytes` (see the module docstring)."""
        needed = unbacked_bytes(self._folder(name)) + self.min_free_bytes
        free = shutil.disk_usage(self.root).free
        if free < needed:
            raise StorageUnavailable(
                f"the vector store needs about {_mb(needed)} MB free on the disk holding WORKBENCH_HOME to {action} "
                f"collection {name!r} safely, and {_mb(free)} MB are free: free space on that disk (the index is "
                "intact and is used again once there is room)"
            )

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
            request = _nearest(DENSE, self.embeddings.embed_query(query), k, query_filter)
            return [_doc(p, p.score, dense=p.score) for p in self._query(name, [request])[0]]
        sparse_query = self.sparse.encode_query(query)
        sparse = qe.SparseVector(list(sparse_query.indices), list(sparse_query.values))
        if mode == "sparse":
            if not sparse_query.indices:
                return []
            return [
                _doc(p, p.score, sparse=p.score)
                for p in self._query(name, [_nearest(SPARSE, sparse, k, query_filter)])[0]
            ]
        lists: list[tuple[str, Any]] = [(DENSE, self.embeddings.embed_query(query))]
        if sparse_query.indices:
            lists.append((SPARSE, sparse))
        fused = qe.QueryRequest(
            limit=limit * len(lists),  # every candidate: fused_docs() breaks ties, then keeps k
            query=_RRF,
            prefetches=[
                qe.Prefetch(limit=limit, query=qe.Query.Nearest(q, using=u), filter=query_filter) for u, q in lists
            ],
            filter=query_filter,
            with_payload=True,
        )
        # The candidate lists again, ids and scores only, to report why each fused hit ranked where it did.
        parts = [_nearest(using, q, limit, query_filter, with_payload=False) for using, q in lists]
        hits, *candidate_lists = self._query(name, [fused, *parts])
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


def _nearest(using: str, vector: Any, limit: int, query_filter: Any, *, with_payload: bool = True) -> qe.QueryRequest:
    return qe.QueryRequest(
        limit=limit, query=qe.Query.Nearest(vector, using=using), filter=query_filter, with_payload=with_payload
    )


def _match(field: str, value: str) -> qe.FieldCondition:
    return qe.FieldCondition(key=field, match=qe.MatchValue(value))


def unbacked_bytes(folder: Path) -> int:
    """Bytes of ``folder``'s files that the disk does not back yet (the holes of sparse files)."""
    total = 0
    for path in folder.rglob("*") if folder.is_dir() else ():
        try:
            stat = path.lstat()
        except OSError:
            continue
        if path.is_file():
            total += max(0, stat.st_size - stat.st_blocks * 512)
    return total


def _mb(count: int) -> int:
    return -(-count // 2**20)


def _reason(exc: Exception) -> str:
    """Edge's message without the paths it names."""
    return re.sub(r"/\S+", "…", str(exc))[:200]

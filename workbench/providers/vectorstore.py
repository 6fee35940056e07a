"""Qdrant as the vector store: dense (embeddings) and sparse (BM25) vectors per chunk, fused by Qdrant's RRF.

qdrant-client's local mode (``path=`` on disk, or ``":memory:"``) and a Qdrant server or cluster (``QDRANT_URL``)
are the same :class:`QdrantStore` over a different ``QdrantClient``; Qdrant Edge, the embedded default, is
:class:`~workbench.providers.edge_store.EdgeStore` (the same contract, payloads, point ids and vectors). An
embedded store locks its folder for one process, so :func:`open_store` is meant to be called once per process.

All methods are synchronous (callers on an event loop run them in a thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qdrant_client import QdrantClient, models

from workbench.documents import Chunk, RetrievedDoc, SearchMode
from workbench.errors import ConfigurationError
from workbench.providers.sparse import SparseEncoder

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from workbench.settings import Settings

DENSE = "dense"
"""Name of the dense vector in every collection."""
SPARSE = "sparse"
"""Name of the sparse (BM25) vector in every collection."""
DEFAULT_CANDIDATES = 20
"""Candidates each of dense and sparse search hands to the fusion, unless the caller says otherwise."""
REMOTE_TIMEOUT_S = 30
log = logging.getLogger(__name__)
_KEYWORD_FIELDS = ("source", "content_hash")
_SCALARS = (str, int, bool)


@dataclass(frozen=True)
class IndexedPoint:
    """One chunk as a store holds it: its id, dense and sparse (BM25) vectors, and payload (the chunk's fields).
    The same in every store, so an index moves between them without embedding again."""

    id: str
    dense: Sequence[float]
    sparse: models.SparseVector | None
    payload: dict[str, Any]


class QdrantStore:
    """Chunks in Qdrant collections, searchable by dense, sparse (BM25) or hybrid (RRF) retrieval."""

    def __init__(
        self,
        client: QdrantClient,
        embeddings: Embeddings,
        sparse: SparseEncoder | None = None,
        *,
        embeddings_id: str | None = None,
    ) -> None:
        """``embeddings_id`` (e.g. ``"local/minilm-l6-int8"``) is recorded in new collections and checked against
        existing ones."""
        self.client = client
        self.embeddings = embeddings
        self.sparse = sparse or SparseEncoder()
        self.embeddings_id = embeddings_id
        options = client.init_options
        self.local = bool(options.get("path")) or options.get("location") == ":memory:"
        """Qdrant's local mode (in this process) rather than a server."""
        # Local mode is plain Python without locks: one call at a time. A server client is thread-safe.
        self._guard: AbstractContextManager[Any] = threading.RLock() if self.local else nullcontext()
        self._dim: int | None = None
        self._ready: set[str] = set()

    @classmethod
    def in_memory(cls, embeddings: Embeddings, *, embeddings_id: str | None = None) -> QdrantStore:
        """A store that lives and dies with the process (tests, throwaway experiments)."""
        return cls(QdrantClient(location=":memory:"), embeddings, embeddings_id=embeddings_id)

    @property
    def dim(self) -> int:
        """Size of the embedder's vectors, found by embedding a probe once."""
        if self._dim is None:
            self._dim = len(self.embeddings.embed_query("dimension probe"))
        return self._dim

    def ensure_collection(self, name: str) -> None:
        """Create the collection if it is missing; check that an existing one fits the embedder. Idempotent."""
        if name in self._ready:
            return
        dim = self.dim
        with self._guard:
            if not self.client.collection_exists(name):
                self.client.create_collection(
                    name,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                    metadata={"embeddings": self.embeddings_id} if self.embeddings_id else None,
                )
                if not self.local:  # local mode has no payload indexes (and warns when asked for one)
                    for field in _KEYWORD_FIELDS:
                        self.client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD, wait=True)
            else:
                self._check_collection(name)
        self._ready.add(name)

    def _check_collection(self, name: str) -> None:
        config = self.client.get_collection(name).config
        vectors = config.params.vectors
        dense = vectors.get(DENSE) if isinstance(vectors, Mapping) else None
        if dense is None or SPARSE not in (config.params.sparse_vectors or {}):
            raise ConfigurationError(
                f"collection {name!r} was not created by the workbench (it lacks the {DENSE!r} and {SPARSE!r} "
                "vectors): choose another collection"
            )
        built_with = (config.metadata or {}).get("embeddings")
        if dense.size != self.dim or (built_with and self.embeddings_id and built_with != self.embeddings_id):
            raise embedder_mismatch(name, built_with, dense.size, self.embeddings_id, self.dim)

    def collections(self) -> list[str]:
        """Names of every collection, sorted."""
        with self._guard:
            return sorted(c.name for c in self.client.get_collections().collections)

    def count(self, name: str) -> int:
        """Number of chunks in a collection (0 when it does not exist)."""
        with self._guard:
            if not self.client.collection_exists(name):
                return 0
            return self.client.count(name, exact=True).count

    def source_hashes(self, name: str) -> dict[str, str]:
        """Each indexed source's content hash. A source whose chunks disagree (an interrupted re-ingest) maps
        to ``""``, so it never looks unchanged."""
        hashes: dict[str, str] = {}
        offset: models.ExtendedPointId | None = None
        while True:
            with self._guard:
                if not self.client.collection_exists(name):
                    return hashes
                points, offset = self.client.scroll(
                    name, limit=1024, offset=offset, with_payload=list(_KEYWORD_FIELDS), with_vectors=False
                )
            for point in points:
                payload = point.payload or {}
                source, content_hash = payload.get("source"), payload.get("content_hash", "")
                if isinstance(source, str):
                    hashes[source] = content_hash if hashes.get(source, content_hash) == content_hash else ""
            if offset is None:
                return hashes

    def delete_source(self, name: str, source: str, *, keep_hash: str | None = None) -> None:
        """Delete a source's chunks (but those with content hash ``keep_hash``, when given)."""
        keep = _match("content_hash", keep_hash) if keep_hash is not None else None
        selector = models.FilterSelector(filter=models.Filter(must=_match("source", source), must_not=keep))
        with self._guard:
            if self.client.collection_exists(name):
                self.client.delete(name, points_selector=selector, wait=True)

    def upsert(self, name: str, chunks: Sequence[Chunk], batch_size: int = 256) -> int:
        """Embed (dense and sparse) and write chunks in batches; the point id is the chunk id. Returns the count."""
        self.ensure_collection(name)
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start : start + batch_size]
            texts = [chunk["text"] for chunk in batch]
            self.write(name, batch, self.embeddings.embed_documents(texts), self.sparse.encode_documents(texts))
        return len(chunks)

    def write(
        self, name: str, chunks: Sequence[Chunk], dense: Sequence[list[float]], sparse: Sequence[models.SparseVector]
    ) -> None:
        """Write chunks whose vectors are already computed (one dense and one sparse vector each)."""
        self.put(
            name, [IndexedPoint(c["chunk_id"], d, s, dict(c)) for c, d, s in zip(chunks, dense, sparse, strict=True)]
        )

    def put(self, name: str, points: Sequence[IndexedPoint], batch_size: int = 256) -> None:
        """Write points as they are (an imported index, a copy from another store)."""
        self.ensure_collection(name)
        for start in range(0, len(points), batch_size):
            self._put(name, points[start : start + batch_size])

    def _put(self, name: str, points: Sequence[IndexedPoint]) -> None:
        structs = [
            models.PointStruct(
                id=p.id,
                vector={DENSE: list(p.dense), SPARSE: p.sparse}
                if p.sparse and p.sparse.indices
                else {DENSE: list(p.dense)},
                payload=p.payload,
            )
            for p in points
        ]
        with self._guard:
            self.client.upsert(name, points=structs, wait=True)

    def points(self, name: str, batch: int = 512) -> Iterator[IndexedPoint]:
        """Every point of a collection with its vectors and payload (for export)."""
        offset: models.ExtendedPointId | None = None
        while True:
            with self._guard:
                if not self.client.collection_exists(name):
                    return
                records, offset = self.client.scroll(
                    name, limit=batch, offset=offset, with_payload=True, with_vectors=True
                )
            for record in records:
                vectors = record.vector if isinstance(record.vector, dict) else {}
                sparse = vectors.get(SPARSE)
                yield IndexedPoint(
                    str(record.id),
                    list(vectors[DENSE]),  # type: ignore[arg-type]
                    sparse if isinstance(sparse, models.SparseVector) else None,
                    record.payload or {},
                )
            if offset is None:
                return

    def search(
        self,
        name: str,
        query: str,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: SearchMode = "hybrid",
        candidates: int | None = None,
    ) -> list[RetrievedDoc]:
        """The ``k`` best chunks for ``query``; ``[]`` when the collection does not exist, :class:`ConfigurationError`
        when it was built with another embedding model.

        ``hybrid`` fuses the dense and sparse candidate lists (``candidates`` each) with Qdrant's RRF and reports
        each hit's dense and sparse score where it was among that list's candidates. ``filters`` maps payload
        fields to a value or a list of accepted values (``{"source": "a.md", "page": [1, 2]}``).
        """
        check_query(k, mode)
        query_filter = build_filter(filters)
        if name not in self._ready:
            with self._guard:
                if not self.client.collection_exists(name):
                    return []
            self.ensure_collection(name)  # checks it was built with this embedder
        limit = max(candidates or DEFAULT_CANDIDATES, k)
        if mode == "dense":
            request = self._request(DENSE, self.embeddings.embed_query(query), k, query_filter)
            return [_doc(p, p.score, dense=p.score) for p in self._query(name, [request])[0]]
        sparse_query = self.sparse.encode_query(query)
        if mode == "sparse":
            if not sparse_query.indices:
                return []
            request = self._request(SPARSE, sparse_query, k, query_filter)
            return [_doc(p, p.score, sparse=p.score) for p in self._query(name, [request])[0]]
        return self._hybrid(name, self.embeddings.embed_query(query), sparse_query, k, limit, query_filter)

    def _hybrid(
        self,
        name: str,
        dense_query: list[float],
        sparse_query: models.SparseVector,
        k: int,
        limit: int,
        query_filter: models.Filter | None,
    ) -> list[RetrievedDoc]:
        lists = [(DENSE, dense_query)] + ([(SPARSE, sparse_query)] if sparse_query.indices else [])
        fused = models.QueryRequest(
            prefetch=[models.Prefetch(query=q, using=using, limit=limit) for using, q in lists],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=limit * len(lists),  # every candidate: fused_docs() breaks ties, then keeps k
            filter=query_filter,
            with_payload=True,
        )
        # The candidate lists again, ids and scores only, to report why each fused hit ranked where it did.
        parts = [self._request(using, q, limit, query_filter, with_payload=False) for using, q in lists]
        hits, *candidate_lists = self._query(name, [fused, *parts])
        return fused_docs(hits, candidate_lists, k)

    @staticmethod
    def _request(
        using: str, query: Any, limit: int, query_filter: models.Filter | None, *, with_payload: bool = True
    ) -> models.QueryRequest:
        return models.QueryRequest(
            query=query, using=using, limit=limit, filter=query_filter, with_payload=with_payload
        )

    def _query(self, name: str, requests: list[models.QueryRequest]) -> list[list[models.ScoredPoint]]:
        with self._guard:
            responses = self.client.query_batch_points(name, requests=requests)
        return [response.points for response in responses]

    def close(self) -> None:
        """Release the client (and, in local mode, the folder lock)."""
        with self._guard:
            self.client.close()


def build_filter(filters: Mapping[str, Any] | None, ns: Any = models) -> Any:
    """A Qdrant filter requiring every field to equal its value, or one of its values when given a list.

    Values must be str, int or bool, or non-empty lists of them; anything else raises ``ValueError``. ``ns`` is
    where the filter classes come from: ``qdrant_client.models`` (the default), or the ``qdrant_edge`` module,
    whose classes have the same names and fields.
    """
    if not filters:
        return None
    return ns.Filter(must=[_condition(field, value, ns) for field, value in filters.items()])


def _condition(field: str, value: Any, ns: Any = models) -> Any:
    if isinstance(value, _SCALARS):
        return _match(field, value, ns)
    if isinstance(value, list | tuple | set | frozenset) and value and all(isinstance(v, _SCALARS) for v in value):
        values = list(value)
        if all(isinstance(v, str) for v in values) or not any(isinstance(v, bool | str) for v in values):
            return ns.FieldCondition(key=field, match=ns.MatchAny(any=values))
        return ns.Filter(should=[_match(field, v, ns) for v in values])  # MatchAny takes only all-str or all-int
    raise ValueError(f"filter {field!r}: expected a str, int or bool or a non-empty list of them, got {value!r}")


def _match(field: str, value: str | int | bool, ns: Any = models) -> Any:
    return ns.FieldCondition(key=field, match=ns.MatchValue(value=value))


def check_query(k: int, mode: str) -> None:
    """Refuse a search that asks for no hits or for a mode no store has."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if mode not in ("hybrid", "dense", "sparse"):
        raise ValueError(f"unknown search mode {mode!r}: choose hybrid, dense or sparse")


def embedder_mismatch(
    name: str, built_with: str | None, size: int, current: str | None, dim: int
) -> ConfigurationError:
    """The error for a collection built with another embedding model than the store's."""
    return ConfigurationError(
        f"collection {name!r} was built with another embedding model ({built_with or 'unknown'}, "
        f"{size} dimensions; now {current or 'the current embedder'}, {dim}): "
        "ingest into a new collection or switch WORKBENCH_EMBEDDINGS back"
    )


def fused_docs(hits: Sequence[Any], candidate_lists: Sequence[Sequence[Any]], k: int) -> list[RetrievedDoc]:
    """The `k` best of RRF's fused hits, each with its dense and sparse score where it was a candidate.

    RRF scores only ranks, so hits tie often (rank 1 of one list and rank 1 of the other); a tie goes to the
    higher dense score, then the higher sparse score, then the lower id, so every store ranks alike."""
    scores = [{str(p.id): p.score for p in points} for points in candidate_lists]
    dense_scores, sparse_scores = scores[0], scores[1] if len(scores) > 1 else {}

    def key(point: Any) -> tuple[float, float, float, str]:
        dense, sparse = dense_scores.get(str(point.id)), sparse_scores.get(str(point.id))
        return (
            -point.score,
            -(dense if dense is not None else -2.0),
            -(sparse if sparse is not None else -1.0),
            str(point.id),
        )

    ranked = sorted(hits, key=key)[:k]
    return [_doc(p, p.score, dense=dense_scores.get(str(p.id)), sparse=sparse_scores.get(str(p.id))) for p in ranked]


def _doc(point: Any, score: float, *, dense: float | None = None, sparse: float | None = None) -> RetrievedDoc:
    """A scored point (of qdrant-client or of Qdrant Edge) as a retrieved document."""
    payload = point.payload or {}
    return RetrievedDoc(
        chunk_id=str(point.id),
        source=payload.get("source", ""),
        title=payload.get("title", ""),
        section=payload.get("section"),
        page=payload.get("page"),
        text=payload.get("text", ""),
        score=float(score),
        dense_score=dense,
        sparse_score=sparse,
    )


class VectorStore(Protocol):
    """What the workbench asks of a vector store (:class:`QdrantStore`, or
    :class:`~workbench.providers.edge_store.EdgeStore`): the vector-store contract suite holds each to it."""

    embeddings: Embeddings
    embeddings_id: str | None
    local: bool

    @property
    def dim(self) -> int: ...
    def ensure_collection(self, name: str) -> None: ...
    def collections(self) -> list[str]: ...
    def count(self, name: str) -> int: ...
    def source_hashes(self, name: str) -> dict[str, str]: ...
    def delete_source(self, name: str, source: str, *, keep_hash: str | None = None) -> None: ...
    def upsert(self, name: str, chunks: Sequence[Chunk], batch_size: int = 256) -> int: ...
    def put(self, name: str, points: Sequence[IndexedPoint], batch_size: int = 256) -> None: ...
    def points(self, name: str) -> Iterator[IndexedPoint]: ...
    def search(
        self,
        name: str,
        query: str,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: SearchMode = "hybrid",
        candidates: int | None = None,
    ) -> list[RetrievedDoc]: ...
    def close(self) -> None: ...


def copy_collection(source: VectorStore, target: VectorStore, name: str, batch: int = 512) -> int:
    """Copy a collection's points, vectors and payloads as they are (no embedding); returns how many."""
    copied, pending = 0, []
    for point in source.points(name):
        pending.append(point)
        if len(pending) == batch:
            target.put(name, pending)
            copied, pending = copied + len(pending), []
    if pending or not copied:
        target.put(name, pending) if pending else target.ensure_collection(name)
        copied += len(pending)
    return copied


def open_store(
    settings: Settings, embeddings: Embeddings | None = None, *, embeddings_id: str | None = None
) -> VectorStore:
    """The process's store: a Qdrant server when ``settings.qdrant_url`` is set, else the embedded store that
    ``settings.vector_store`` names: Qdrant Edge under ``settings.edge_path`` (the default), or qdrant-client's
    local mode under ``settings.qdrant_path``. Call it once per process (an embedded store's folder belongs to one).

    A new Edge store copies the collections a local-mode store of the same home holds (vectors and payloads as
    they are), once, so a home indexed before Edge was the default keeps its index.

    ``embeddings`` defaults to ``settings.embeddings``; ``embeddings_id``, recorded in new collections and checked
    against existing ones, defaults to ``settings.embeddings`` as well.
    """
    embeddings_id = embeddings_id or settings.embeddings
    if embeddings is None:
        from workbench.providers.embeddings import load_embeddings

        embeddings = load_embeddings(settings.embeddings, settings)
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        client = QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=REMOTE_TIMEOUT_S)
        return QdrantStore(client, embeddings, embeddings_id=embeddings_id)
    if settings.vector_store == "local":
        return open_local(settings.qdrant_path, embeddings, embeddings_id)
    from workbench.providers.edge_store import EdgeStore

    fresh = not settings.edge_path.exists()
    store = EdgeStore(settings.edge_path, embeddings, embeddings_id=embeddings_id)
    if fresh and (settings.qdrant_path / "collection").is_dir():
        _adopt_local_index(settings, store, embeddings, embeddings_id)
    return store


def open_local(path: Path, embeddings: Embeddings, embeddings_id: str | None = None) -> QdrantStore:
    """qdrant-client's local mode in `path` (one process at a time)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        client = QdrantClient(path=str(path))
    except RuntimeError as exc:
        raise ConfigurationError(
            f"{path.name}/ is in use by another workbench process: stop it, or set QDRANT_URL to share a Qdrant server"
        ) from exc
    return QdrantStore(client, embeddings, embeddings_id=embeddings_id)


def _adopt_local_index(
    settings: Settings, store: VectorStore, embeddings: Embeddings, embeddings_id: str | None
) -> None:
    """Copy the local-mode collections of this home into the new Edge store (the local files are left as they
    are); a local store another process holds is left for ``workbench index export``/``import``."""
    try:
        local = open_local(settings.qdrant_path, embeddings, embeddings_id)
    except ConfigurationError:
        log.warning("the local-mode index of this home is in use; move it with `workbench index export` and `import`")
        return
    try:
        for name in local.collections():
            copied = copy_collection(local, store, name)
            log.info("copied collection %r (%d chunks) from local mode into Qdrant Edge", name, copied)
    finally:
        local.close()

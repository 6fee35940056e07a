"""Qdrant through qdrant-client: its local mode (``path=`` on disk, or ``":memory:"``) and a Qdrant server or cluster
(``QDRANT_URL``) are the same :class:`QdrantStore` over a different ``QdrantClient``.

Imported only when one of them is chosen (qdrant-client takes half a second to import): the embedded default is
:class:`~workbench.providers.edge_store.EdgeStore`. All methods are synchronous (callers on an event loop run them in
a thread).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from qdrant_client import QdrantClient, models

from workbench.documents import RetrievedDoc, SearchMode
from workbench.errors import ConfigurationError
from workbench.providers.sparse import SparseEncoder, SparseVector
from workbench.providers.vectorstore import (
    DEFAULT_CANDIDATES,
    DENSE,
    KEYWORD_FIELDS,
    REMOTE_TIMEOUT_S,
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

    from workbench.settings import Settings


def build_filter(filters: Mapping[str, Any] | None) -> models.Filter | None:
    """:func:`~workbench.providers.vectorstore.make_filter` in qdrant-client's classes."""
    filter_: models.Filter | None = make_filter(filters, models)
    return filter_


def server_client(settings: Settings) -> QdrantClient:
    """A client of the Qdrant server ``settings.qdrant_url`` names."""
    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=REMOTE_TIMEOUT_S)


def _match(field: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=field, match=models.MatchValue(value=value))


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _ours(vector: models.SparseVector) -> SparseVector:
    return SparseVector(list(vector.indices), list(vector.values))


class QdrantStore(EmbeddingStore):
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
                    for field in KEYWORD_FIELDS:
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
        """Each indexed source's content hash (see :func:`source_hashes_of`)."""
        return source_hashes_of(self._payloads(name))

    def _payloads(self, name: str) -> Iterator[dict[str, Any]]:
        offset: models.ExtendedPointId | None = None
        while True:
            with self._guard:
                if not self.client.collection_exists(name):
                    return
                points, offset = self.client.scroll(
                    name, limit=1024, offset=offset, with_payload=list(KEYWORD_FIELDS), with_vectors=False
                )
            for point in points:
                yield point.payload or {}
            if offset is None:
                return

    def delete_source(self, name: str, source: str, *, keep_hash: str | None = None) -> None:
        """Delete a source's chunks (but those with content hash ``keep_hash``, when given)."""
        keep = _match("content_hash", keep_hash) if keep_hash is not None else None
        selector = models.FilterSelector(filter=models.Filter(must=_match("source", source), must_not=keep))
        with self._guard:
            if self.client.collection_exists(name):
                self.client.delete(name, points_selector=selector, wait=True)

    def _write(self, name: str, points: Sequence[IndexedPoint]) -> None:
        structs = [
            models.PointStruct(
                id=p.id,
                vector={DENSE: list(p.dense), SPARSE: _sparse(p.sparse)}
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
                    SparseVector(list(sparse.indices), list(sparse.values))
                    if isinstance(sparse, models.SparseVector)
                    else None,
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
            request = self._request(SPARSE, _sparse(sparse_query), k, query_filter)
            return [_doc(p, p.score, sparse=p.score) for p in self._query(name, [request])[0]]
        return self._hybrid(name, self.embeddings.embed_query(query), sparse_query, k, limit, query_filter)

    def _hybrid(
        self,
        name: str,
        dense_query: list[float],
        sparse_query: SparseVector,
        k: int,
        limit: int,
        query_filter: models.Filter | None,
    ) -> list[RetrievedDoc]:
        lists = [(DENSE, dense_query)] + ([(SPARSE, _sparse(sparse_query))] if sparse_query.indices else [])
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

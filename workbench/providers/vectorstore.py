"""The vector store's contract and the pieces every store shares: dense (embeddings) and sparse (BM25) vectors
per chunk, fused by Qdrant's RRF.

Two stores implement :class:`VectorStore`: :class:`~workbench.providers.edge_store.EdgeStore` (Qdrant Edge, the
embedded default) and :class:`~workbench.providers.qdrant_store.QdrantStore` (qdrant-client: its local mode, or a
Qdrant server with ``QDRANT_URL``), with the same payloads, point ids and vectors;
:func:`~workbench.providers.stores.open_store` picks one from the settings (an embedded store locks its folder for
one process, so it is meant to be called once per process). This module does not import qdrant-client (half a
second of every command's start).

All store methods are synchronous (callers on an event loop run them in a thread).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from workbench.documents import Chunk, RetrievedDoc, SearchMode
from workbench.errors import ConfigurationError
from workbench.health import Check, failing, ok
from workbench.providers.sparse import SparseEncoder, SparseVector

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings


DENSE = "dense"
"""Name of the dense vector in every collection."""
SPARSE = "sparse"
"""Name of the sparse (BM25) vector in every collection."""
DEFAULT_CANDIDATES = 20
"""Candidates each of dense and sparse search hands to the fusion, unless the caller says otherwise."""
REMOTE_TIMEOUT_S = 30
log = logging.getLogger(__name__)
KEYWORD_FIELDS = ("source", "content_hash")
"""Payload fields every store indexes (deleting a source, checking its hash)."""
_SCALARS = (str, int, bool)


@dataclass(frozen=True)
class IndexedPoint:
    """One chunk as a store holds it: its id, dense and sparse (BM25) vectors, and payload (the chunk's fields).
    The same in every store, so an index moves between them without embedding again."""

    id: str
    dense: Sequence[float]
    sparse: SparseVector | None
    payload: dict[str, Any]


class EmbeddingStore:
    """What every store does the same way: finds its embedder's dimension, embeds chunks in batches, and writes
    points through :meth:`_write` (one batch) and :meth:`_written` (once the call's batches are in: a store that
    makes writes durable in one step does it there). Subclasses set ``embeddings``, ``sparse``, ``embeddings_id``
    and ``_dim = None``, and implement ``ensure_collection`` and :meth:`_write`."""

    embeddings: Embeddings
    sparse: SparseEncoder
    embeddings_id: str | None
    _dim: int | None

    @property
    def dim(self) -> int:
        """Size of the embedder's vectors, found by embedding a probe once."""
        if self._dim is None:
            self._dim = len(self.embeddings.embed_query("dimension probe"))
        return self._dim

    def ensure_collection(self, name: str) -> None:
        raise NotImplementedError

    def health(self) -> Check:
        """Whether the store answers now (it lists its collections), for ``/ready``."""
        try:
            self.collections()
        except Exception as exc:
            log.warning("vector store health check failed: %s", exc)
            return failing("vector_store", "the vector store does not answer; the server log has the details")
        return ok("vector_store")

    def collections(self) -> list[str]:
        raise NotImplementedError

    def upsert(self, name: str, chunks: Sequence[Chunk], batch_size: int = 256) -> int:
        """Embed (dense and sparse) and write chunks in batches; the point id is the chunk id. Returns the count."""
        self.ensure_collection(name)
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start : start + batch_size]
            texts = [chunk["text"] for chunk in batch]
            self._write(
                name, as_points(batch, self.embeddings.embed_documents(texts), self.sparse.encode_documents(texts))
            )
        self._written(name)
        return len(chunks)

    def write(
        self, name: str, chunks: Sequence[Chunk], dense: Sequence[list[float]], sparse: Sequence[SparseVector]
    ) -> None:
        """Write chunks whose vectors are already computed (one dense and one sparse vector each)."""
        self.put(name, as_points(chunks, dense, sparse))

    def put(self, name: str, points: Sequence[IndexedPoint], batch_size: int = 256) -> None:
        """Write points as they are (an imported index, a copy from another store)."""
        self.ensure_collection(name)
        for start in range(0, len(points), batch_size):
            self._write(name, points[start : start + batch_size])
        self._written(name)

    def _write(self, name: str, points: Sequence[IndexedPoint]) -> None:
        raise NotImplementedError

    def _written(self, name: str) -> None:
        """After a call's batches are written (nothing, unless the store has more to do)."""


def as_points(
    chunks: Sequence[Chunk], dense: Sequence[list[float]], sparse: Sequence[SparseVector]
) -> list[IndexedPoint]:
    """Chunks with their vectors as points: the chunk id is the point id, the chunk its payload."""
    return [IndexedPoint(c["chunk_id"], d, s, dict(c)) for c, d, s in zip(chunks, dense, sparse, strict=True)]


def source_hashes_of(payloads: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each source's content hash from its chunks' payloads; ``""`` for a source whose chunks disagree (an
    interrupted re-ingest), so it never looks unchanged."""
    hashes: dict[str, str] = {}
    for payload in payloads:
        source, content_hash = payload.get("source"), payload.get("content_hash", "")
        if isinstance(source, str):
            hashes[source] = content_hash if hashes.get(source, content_hash) == content_hash else ""
    return hashes


def make_filter(filters: Mapping[str, Any] | None, ns: Any) -> Any:
    """A Qdrant filter requiring every field to equal its value, or one of its values when given a list.

    Values must be str, int or bool, or non-empty lists of them; anything else raises ``ValueError``. ``ns`` is
    where the filter classes come from: ``qdrant_client.models``, or the ``qdrant_edge`` module, whose classes have
    the same names and fields.
    """
    if not filters:
        return None
    return ns.Filter(must=[_condition(field, value, ns) for field, value in filters.items()])


def _condition(field: str, value: Any, ns: Any) -> Any:
    if isinstance(value, _SCALARS):
        return _match(field, value, ns)
    if isinstance(value, list | tuple | set | frozenset) and value and all(isinstance(v, _SCALARS) for v in value):
        values = list(value)
        if all(isinstance(v, str) for v in values) or not any(isinstance(v, bool | str) for v in values):
            return ns.FieldCondition(key=field, match=ns.MatchAny(any=values))
        return ns.Filter(should=[_match(field, v, ns) for v in values])  # MatchAny takes only all-str or all-int
    raise ValueError(f"filter {field!r}: expected a str, int or bool or a non-empty list of them, got {value!r}")


def _match(field: str, value: str | int | bool, ns: Any) -> Any:
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
    """What the workbench asks of a vector store (:class:`~workbench.providers.qdrant_store.QdrantStore`, or
    :class:`~workbench.providers.edge_store.EdgeStore`): the vector-store contract suite holds each to it."""

    embeddings: Embeddings
    embeddings_id: str | None
    local: bool

    @property
    def dim(self) -> int: ...
    def ensure_collection(self, name: str) -> None: ...
    def collections(self) -> list[str]: ...
    def health(self) -> Check: ...
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
    ) -> list[RetrievedDoc]:
        """The ``k`` best chunks for ``query``; ``[]`` when the collection does not exist, ConfigurationError when it
        was built with another embedding model. ``hybrid`` fuses ``candidates`` dense and sparse hits each with RRF
        (ties ordered by :func:`fused_docs`) and reports each hit's dense and sparse score where it was a candidate;
        ``filters`` maps payload fields to a value or a list of accepted values."""
        ...

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

"""Qdrant Edge shards as the embedded store uses them: how a collection's shard is created and opened, and the
requests it is sent (nearest-neighbour lists, their RRF fusion, filters).

A shard holds a dense and a sparse (BM25, IDF modifier) vector per point and keyword indexes on the fields
filters use, as a Qdrant server's collection does; fusion uses RRF with Qdrant's default constant, as
qdrant-client's local mode and a Qdrant server do, so the three stores rank alike.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from workbench.errors import ConfigurationError
from workbench.providers.vectorstore import DENSE, KEYWORD_FIELDS, SPARSE

RRF_K = 2
"""RRF's ranking constant: Qdrant's default, which qdrant-client's local mode and a Qdrant server use too."""
_RRF: Any = qe.Fusion.Rrf(k=RRF_K)  # (the package's stubs type a fusion as Fusion, not its Rrf)


def nearest(using: str, vector: Any, limit: int, query_filter: Any, *, with_payload: bool = True) -> qe.QueryRequest:
    """The ``limit`` points nearest ``vector`` in the named vector ``using``."""
    return qe.QueryRequest(
        limit=limit, query=qe.Query.Nearest(vector, using=using), filter=query_filter, with_payload=with_payload
    )


def fused(lists: list[tuple[str, Any]], limit: int, query_filter: Any) -> list[qe.QueryRequest]:
    """The RRF fusion of ``limit`` candidates from each (vector name, query) of ``lists``, then the candidate lists
    again, ids and scores only, to report why each fused hit ranked where it did."""
    fusion = qe.QueryRequest(
        limit=limit * len(lists),  # every candidate: fused_docs() breaks ties, then keeps k
        query=_RRF,
        prefetches=[
            qe.Prefetch(limit=limit, query=qe.Query.Nearest(q, using=u), filter=query_filter) for u, q in lists
        ],
        filter=query_filter,
        with_payload=True,
    )
    return [fusion, *(nearest(using, q, limit, query_filter, with_payload=False) for using, q in lists)]


def match(field: str, value: str) -> qe.FieldCondition:
    """The condition that payload ``field`` is ``value``."""
    return qe.FieldCondition(key=field, match=qe.MatchValue(value))


def create_shard(path: Path, dim: int) -> qe.EdgeShard:
    """A new empty shard in ``path`` for ``dim``-dimensional dense vectors, its keyword fields indexed."""
    config = qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
    )
    shard = qe.EdgeShard.create(str(path), config)
    for field in KEYWORD_FIELDS:
        shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
    shard.flush()
    return shard


def load_shard(path: Path, name: str) -> qe.EdgeShard:
    """The shard of collection ``name`` in ``path``; :class:`ConfigurationError` saying what to do when Edge
    cannot open it."""
    try:
        return qe.EdgeShard.load(str(path))
    except Exception as exc:  # Edge raises plain exceptions with its own messages
        raise ConfigurationError(
            f"collection {name!r} cannot be opened ({_reason(exc)}): another process may hold it, or its "
            "files are damaged (re-ingest into a new collection)"
        ) from None


def _reason(exc: Exception) -> str:
    """Edge's message without the paths it names."""
    return re.sub(r"/\S+", "…", str(exc))[:200]

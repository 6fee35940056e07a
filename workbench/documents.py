"""The document types shared by ingestion, the vector store, the chat graph and the protocols."""

from __future__ import annotations

import re
from typing import Literal, TypedDict

SearchMode = Literal["hybrid", "dense", "sparse"]
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"
"""What a collection name may be (clients name collections; Qdrant local mode makes each a folder)."""
COLLECTION_RULE = "a collection name is 1-63 letters, digits, '_', '-' or '.'"
"""What a client or operator whose collection name does not match :data:`COLLECTION_PATTERN` is told."""


def is_collection_name(name: str) -> bool:
    """Whether ``name`` may name a collection (:data:`COLLECTION_PATTERN`)."""
    return re.fullmatch(COLLECTION_PATTERN, name) is not None


class Chunk(TypedDict):
    """One indexed piece of a source file, as stored in the vector store's payload."""

    chunk_id: str
    """Stable id: a UUID derived from the source, the content hash and the chunk's position."""
    source: str
    """The file's path relative to the folder holding what was ingested (``corpus/install.md``), or an upload's
    name; never a server path."""
    title: str
    """The document's title (first heading, PDF title, or the file name)."""
    section: str | None
    """Heading path of the chunk ("Install > Linux") or None."""
    page: int | None
    """1-based page for PDFs, else None."""
    text: str
    ingested_at: str
    """ISO-8601 UTC time of ingestion."""
    content_hash: str
    """sha256 of the whole source file's bytes: unchanged files are skipped on re-ingest."""
    position: int
    """0-based order of the chunk within its source."""


class RetrievedDoc(TypedDict):
    """A chunk returned by a search, with every score that led to it."""

    chunk_id: str
    source: str
    title: str
    section: str | None
    page: int | None
    text: str
    score: float
    """The score the ranking used: fused RRF score in hybrid mode, else the mode's own score."""
    dense_score: float | None
    """Cosine similarity to the query, when the chunk was among the dense candidates."""
    sparse_score: float | None
    """BM25 score, when the chunk was among the sparse candidates."""

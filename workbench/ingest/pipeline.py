"""Ingestion: files or uploads into chunks into the vector store, skipping what has not changed.

A source (a file's path relative to the folder holding what was ingested, or an upload's name) is identified by the
sha256 of its bytes. On re-ingest an unchanged source costs one hash and no writes; a changed one has its new chunks
written first and its old chunks deleted after, so a failure half-way never leaves the source missing from the index.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.documents import Chunk
from workbench.errors import IngestError, WorkbenchError
from workbench.ingest.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, split_text
from workbench.ingest.loaders import check_supported, is_supported, load_document

if TYPE_CHECKING:
    from workbench.providers.vectorstore import VectorStore

_CHUNK_NAMESPACE = uuid.UUID("6f1c1d52-7a8e-4c51-9d0c-2b7f6a3e9b10")


@dataclass(frozen=True)
class IngestProgress:
    """Sent after each file."""

    file_index: int
    """1-based number of the file just processed."""
    total_files: int
    path: str
    chunks_written: int
    """Chunks written so far in this run."""


@dataclass
class IngestReport:
    """What one ingestion did."""

    files_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    """Source -> what went wrong, for each file that failed (the others were still ingested)."""
    chunks_written: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        """Number of files that failed."""
        return len(self.failures)

    @property
    def chunks_per_s(self) -> float:
        """Ingestion throughput over the whole run (hashing, parsing, embedding and writing)."""
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line for people: ``"3 files: 1 added, 1 updated, 1 unchanged, 0 failed; 42 chunks in 1.2 s"``."""
        return (
            f"{self.files_seen} files: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.failed} failed; {self.chunks_written} chunks in {self.seconds:.1f} s"
        )


def expand_sources(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """Files to ingest (each file as given, each folder searched recursively for supported files, sorted, hidden
    files and folders skipped, duplicates dropped), each with its source name: the path relative to the folder
    holding what was given (``corpus/install.md`` for the folder ``datasets/corpus``, ``install.md`` for the file
    itself). Sources are what clients see and filter on, so they never hold the server's own folders."""
    found: dict[Path, str] = {}
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden and is_supported(child.name):
                    found.setdefault(child, child.relative_to(path.parent).as_posix())
        else:
            found.setdefault(path, path.name)
    return list(found.items())


def build_chunks(
    source: str,
    data: bytes,
    *,
    name: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
) -> list[Chunk]:
    """The chunks of one document (``name`` picks the format; default: ``source``)."""
    content_hash = hashlib.sha256(data).hexdigest()
    ingested_at = datetime.now(UTC).isoformat(timespec="seconds")
    chunks: list[Chunk] = []
    for section in load_document(name or source, data):
        for text in split_text(section.text, chunk_size, overlap):
            position = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=str(uuid.uuid5(_CHUNK_NAMESPACE, f"{source}\n{content_hash}\n{position}")),
                    source=source,
                    title=section.title,
                    section=section.heading_path,
                    page=section.page,
                    text=text,
                    ingested_at=ingested_at,
                    content_hash=content_hash,
                    position=position,
                )
            )
    return chunks


def ingest_paths(
    store: VectorStore,
    paths: Iterable[str | Path],
    collection: str,
    *,
    progress: Callable[[IngestProgress], None] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
) -> IngestReport:
    """Ingest files and folders into ``collection``; one bad file is reported and the rest go on."""
    started = time.perf_counter()
    report = IngestReport()
    files = expand_sources(paths)
    store.ensure_collection(collection)
    known = store.source_hashes(collection)
    for index, (path, source) in enumerate(files, start=1):
        try:
            if not path.is_file():
                raise IngestError(f"{source}: no such file")
            check_supported(path.name)
            _ingest_one(store, collection, source, path.read_bytes(), path.name, known, report, chunk_size, overlap)
            if str(path) in known:  # indexed under its absolute path by an earlier version: that copy goes
                store.delete_source(collection, str(path))
                del known[str(path)]
        except (WorkbenchError, OSError) as exc:
            report.failures[source] = str(exc)
        if progress is not None:
            progress(IngestProgress(index, len(files), source, report.chunks_written))
    report.files_seen = len(files)
    report.seconds = time.perf_counter() - started
    return report


def ingest_bytes(
    store: VectorStore,
    name: str,
    data: bytes,
    collection: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
) -> IngestReport:
    """Ingest one upload; its ``name`` is the source and picks the format. Errors go into the report."""
    started = time.perf_counter()
    report = IngestReport(files_seen=1)
    try:
        store.ensure_collection(collection)
        known = store.source_hashes(collection)
        _ingest_one(store, collection, name, data, name, known, report, chunk_size, overlap)
    except WorkbenchError as exc:
        report.failures[name] = str(exc)
    report.seconds = time.perf_counter() - started
    return report


def _ingest_one(
    store: VectorStore,
    collection: str,
    source: str,
    data: bytes,
    name: str,
    known: dict[str, str],
    report: IngestReport,
    chunk_size: int,
    overlap: int,
) -> None:
    content_hash = hashlib.sha256(data).hexdigest()
    previous = known.get(source)
    if previous == content_hash:
        report.unchanged += 1
        return
    try:
        chunks = build_chunks(source, data, name=name, chunk_size=chunk_size, overlap=overlap)
    except IngestError:
        raise
    except Exception as exc:  # a parser failing on one odd file must not stop the others
        raise IngestError(f"{source}: could not be read ({type(exc).__name__}: {exc})") from exc
    if not chunks:
        raise IngestError(f"{source}: no text to index")
    report.chunks_written += store.upsert(collection, chunks)
    if previous is None:
        report.added += 1
    else:
        store.delete_source(collection, source, keep_hash=content_hash)
        report.updated += 1
    known[source] = content_hash

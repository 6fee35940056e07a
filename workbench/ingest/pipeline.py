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
from workbench.ingest.pdf import CancelSignal, IngestCancelled

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


@dataclass(frozen=True)
class _Limits:
    """How one run chunks, and what bounds and stops it."""

    chunk_size: int
    overlap: int
    max_pdf_content_bytes: int | None
    cancel: CancelSignal | None

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise IngestCancelled("indexing was cancelled")


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
    max_pdf_content_bytes: int | None = None,
    cancel: CancelSignal | None = None,
) -> list[Chunk]:
    """The chunks of one document (``name`` picks the format; default: ``source``). See
    :func:`~workbench.ingest.loaders.load_document` for the PDF budget and ``cancel``."""
    content_hash = hashlib.sha256(data).hexdigest()
    ingested_at = datetime.now(UTC).isoformat(timespec="seconds")
    chunks: list[Chunk] = []
    sections = load_document(name or source, data, max_pdf_content_bytes=max_pdf_content_bytes, cancel=cancel)
    for section in sections:
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
    max_pdf_content_bytes: int | None = None,
    cancel: CancelSignal | None = None,
) -> IngestReport:
    """Ingest files and folders into ``collection``; one bad file is reported and the rest go on.

    A set ``cancel`` stops the run between files and between a PDF's pages with
    :class:`~workbench.ingest.pdf.IngestCancelled` (files done before it stay indexed)."""
    limits = _Limits(chunk_size, overlap, max_pdf_content_bytes, cancel)
    started = time.perf_counter()
    report = IngestReport()
    files = expand_sources(paths)
    store.ensure_collection(collection)
    known = store.source_hashes(collection)
    for index, (path, source) in enumerate(files, start=1):
        limits.check_cancel()
        try:
            if not path.is_file():
                raise IngestError(f"{source}: no such file")
            check_supported(path.name)
            _ingest_one(store, collection, source, path.read_bytes(), path.name, known, report, limits)
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
    max_pdf_content_bytes: int | None = None,
    cancel: CancelSignal | None = None,
) -> IngestReport:
    """Ingest one upload; its ``name`` is the source and picks the format. Errors go into the report; a set
    ``cancel`` raises :class:`~workbench.ingest.pdf.IngestCancelled` (nothing of the file was written)."""
    started = time.perf_counter()
    report = IngestReport(files_seen=1)
    limits = _Limits(chunk_size, overlap, max_pdf_content_bytes, cancel)
    try:
        store.ensure_collection(collection)
        known = store.source_hashes(collection)
        _ingest_one(store, collection, name, data, name, known, report, limits)
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
    limits: _Limits,
) -> None:
    content_hash = hashlib.sha256(data).hexdigest()
    previous = known.get(source)
    if previous == content_hash:
        report.unchanged += 1
        return
    try:
        chunks = build_chunks(source, data, name=name, chunk_size=limits.chunk_size, overlap=limits.overlap,
                              max_pdf_content_bytes=limits.max_pdf_content_bytes, cancel=limits.cancel)  # fmt: skip
    except (IngestError, IngestCancelled):
        raise
    except Exception as exc:  # a parser failing on one odd file must not stop the others
        raise IngestError(f"{source}: could not be read ({type(exc).__name__}: {exc})") from exc
    if not chunks:
        raise IngestError(f"{source}: no text to index")
    limits.check_cancel()
    report.chunks_written += store.upsert(collection, chunks)
    if previous is None:
        report.added += 1
    else:
        store.delete_source(collection, source, keep_hash=content_hash)
        report.updated += 1
    known[source] = content_hash

"""Files into titled sections: Markdown by heading, plain text whole, PDF page by page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from workbench.errors import IngestError
from workbench.ingest.chunking import markdown_title, split_markdown
from workbench.ingest.pdf import CancelSignal, pdf_pages

MARKDOWN_EXTENSIONS = (".md", ".markdown")
SUPPORTED_EXTENSIONS = (*MARKDOWN_EXTENSIONS, ".txt", ".pdf")
"""File name endings ingestion reads (case-insensitive)."""


@dataclass(frozen=True)
class Section:
    """A stretch of a document that chunks may not cross."""

    title: str
    """The document's title: first level-1 heading, PDF title, or the file name."""
    heading_path: str | None
    """``"Install > Linux"`` for Markdown, else None."""
    page: int | None
    """1-based page number for PDFs, else None."""
    text: str


def is_supported(name: str) -> bool:
    """Whether ingestion reads files with this name."""
    return PurePath(name).suffix.lower() in SUPPORTED_EXTENSIONS


def check_supported(name: str) -> None:
    """Raise :class:`IngestError` naming the supported types unless ingestion reads files with this name."""
    if not is_supported(name):
        suffix = PurePath(name).suffix.lower() or "(none)"
        raise IngestError(f"{name}: unsupported file type {suffix}; supported: {', '.join(SUPPORTED_EXTENSIONS)}")


def load_document(
    name: str, data: bytes, *, max_pdf_content_bytes: int | None = None, cancel: CancelSignal | None = None
) -> list[Section]:
    """The sections of a document, by its name's extension. Raises :class:`IngestError` for an unsupported
    extension, undecodable text, a PDF without extractable text or one over ``max_pdf_content_bytes`` (default:
    ``WORKBENCH_INGEST_PDF_MAX_CONTENT_BYTES``; see :mod:`workbench.ingest.pdf`), and
    :class:`~workbench.ingest.pdf.IngestCancelled` once ``cancel`` is set."""
    check_supported(name)
    suffix = PurePath(name).suffix.lower()
    stem = PurePath(name).stem or name
    if suffix == ".pdf":
        if max_pdf_content_bytes is None:
            from workbench.settings import get_settings

            max_pdf_content_bytes = get_settings().ingest_pdf_max_content_bytes
        return _pdf(name, data, stem, max_pdf_content_bytes, cancel)
    text = _decode(name, data)
    if suffix in MARKDOWN_EXTENSIONS:
        return [Section(markdown_title(text) or stem, s.heading_path, None, s.text) for s in split_markdown(text)]
    return [Section(stem, None, None, text.strip())] if text.strip() else []


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{name}: not UTF-8 text (byte {exc.start}); convert it to UTF-8 and ingest again") from exc


def _pdf(name: str, data: bytes, stem: str, max_content_bytes: int, cancel: CancelSignal | None) -> list[Section]:
    metadata_title, pages = pdf_pages(name, data, max_content_bytes=max_content_bytes, cancel=cancel)
    title = (metadata_title or "").strip() or stem
    sections = [Section(title, None, number, text.strip()) for number, text in pages if text.strip()]
    if not sections:
        raise IngestError(f"{name}: the PDF has no extractable text (a scan?); run OCR on it first")
    return sections

"""Ingestion: read files (Markdown, text, PDF), chunk them and index the chunks in the vector store."""

from workbench.ingest.loaders import SUPPORTED_EXTENSIONS
from workbench.ingest.pipeline import IngestProgress, IngestReport, build_chunks, ingest_bytes, ingest_paths

__all__ = ["SUPPORTED_EXTENSIONS", "IngestProgress", "IngestReport", "build_chunks", "ingest_bytes", "ingest_paths"]

"""A collection moved between stores through a file (:mod:`workbench.providers.index_file` holds the format):
what ``workbench index export`` and ``import`` do, with the errors a user can act on."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import ConfigurationError
from workbench.providers.index_file import IndexFileError, export_collection, import_collection
from workbench.providers.vectorstore import VectorStore


class UnknownCollection(ConfigurationError):
    """The store has no collection by that name."""


def export_to_file(store: VectorStore, collection: str, path: Path) -> int:
    """Write ``collection`` of ``store`` to ``path``; how many points. :class:`UnknownCollection` names the
    collections there are."""
    collections = store.collections()
    if collection not in collections:
        raise UnknownCollection(f"no collection {collection[:64]!r}; collections: {', '.join(collections) or 'none'}")
    with path.open("w") as out:
        return export_collection(store, collection, out, store.embeddings_id, store.dim)


def import_from_file(store: VectorStore, path: Path, collection: str | None = None) -> tuple[str, int]:
    """Read an exported collection into ``store`` (as ``collection``, default the file's): its name and how many
    points. A file that is missing, not UTF-8 text or not an index file is refused before anything is written."""
    if not path.is_file():
        raise IndexFileError(f"no file {path.name!r}")
    try:
        with path.open() as source:
            return import_collection(store, source, store.embeddings_id, store.dim, collection)
    except UnicodeDecodeError:
        raise IndexFileError("the file is not UTF-8 text") from None

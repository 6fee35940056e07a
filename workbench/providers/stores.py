"""Which vector store a process opens: :func:`open_store` picks one from the settings (a Qdrant server, Qdrant Edge or
qdrant-client's local mode). The contract and the shared pieces live in :mod:`workbench.providers.vectorstore`, each
store in a module of its own that imports them; this factory sits above all three, so none imports another back.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import ConfigurationError
from workbench.providers.vectorstore import VectorStore, copy_collection

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from workbench.settings import Settings

log = logging.getLogger(__name__)


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
        from workbench.providers.qdrant_store import QdrantStore, server_client

        return QdrantStore(server_client(settings), embeddings, embeddings_id=embeddings_id)
    if settings.vector_store == "local":
        return open_local(settings.qdrant_path, embeddings, embeddings_id)
    from workbench.providers.edge_store import EdgeStore

    fresh = not settings.edge_path.exists()
    store = EdgeStore(
        settings.edge_path, embeddings, embeddings_id=embeddings_id, min_free_bytes=settings.min_free_disk_mb * 2**20
    )
    if fresh and (settings.qdrant_path / "collection").is_dir():
        _adopt_local_index(settings, store, embeddings, embeddings_id)
    return store


def open_local(path: Path, embeddings: Embeddings, embeddings_id: str | None = None) -> VectorStore:
    """qdrant-client's local mode in `path` (one process at a time)."""
    from qdrant_client import QdrantClient

    from workbench.providers.qdrant_store import QdrantStore

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

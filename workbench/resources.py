"""The process's shared clients (vector store, models), built lazily on first use and then reused.

Graph nodes reach them through :func:`get_resources`, so the same graph module works in the server, the CLI,
``langgraph dev`` and tests; tests install fakes with :func:`set_resources`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from workbench.health import Check, ok
from workbench.providers.llm import ModelRegistry
from workbench.settings import Settings, get_settings

if TYPE_CHECKING:
    from workbench.providers.vectorstore import VectorStore
    from workbench.voice.engines import SpeechEngines


class Resources:
    """Shared, lazily built clients for one process."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: VectorStore | None = None,
        models: ModelRegistry | None = None,
        speech: SpeechEngines | None = None,
    ) -> None:
        self.settings = settings
        self.models = models or ModelRegistry(settings)
        self._store = store
        self._speech = speech
        self._parent: Resources | None = None
        self._lock = threading.Lock()

    def with_settings(self, settings: Settings) -> Resources:
        """The same clients (models, store, speech engines, built now or later) under other settings."""
        view = Resources(settings, store=self._store, models=self.models, speech=self._speech)
        view._parent = self
        return view

    @property
    def speech(self) -> SpeechEngines:
        """Speech-to-text and text-to-speech engines (models load on first use)."""
        if self._parent is not None:
            return self._parent.speech
        with self._lock:
            if self._speech is None:
                from workbench.voice.engines import SpeechEngines

                self._speech = SpeechEngines(self.settings)
            return self._speech

    @property
    def store(self) -> VectorStore:
        """The vector store (Qdrant local files under WORKBENCH_HOME, or QDRANT_URL)."""
        if self._parent is not None:
            return self._parent.store
        with self._lock:
            if self._store is None:
                from workbench.providers.embeddings import load_embeddings
                from workbench.providers.stores import open_store

                embeddings = load_embeddings(self.settings.embeddings, self.settings)
                self._store = open_store(self.settings, embeddings)
            return self._store

    def store_health(self) -> Check:
        """The vector store's state for ``/ready``: not opened yet counts as ok (it opens on first use)."""
        if self._parent is not None:
            return self._parent.store_health()
        store = self._store
        return ok("vector_store") if store is None else store.health()

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


_current: Resources | None = None
_current_lock = threading.Lock()


_scoped: ContextVar[Resources | None] = ContextVar("workbench_resources", default=None)


def get_resources() -> Resources:
    """The resources in scope (see :func:`use_resources`), else the process-wide ones, built on first call."""
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    global _current
    with _current_lock:
        if _current is None:
            _current = Resources(get_settings())
        return _current


def set_resources(resources: Resources | None) -> Resources | None:
    """Install ``resources`` as the process-wide ones (``None`` resets); returns the previous ones."""
    global _current
    with _current_lock:
        previous, _current = _current, resources
        return previous


@contextmanager
def use_resources(resources: Resources) -> Iterator[Resources]:
    """Make ``resources`` the ones :func:`get_resources` returns in this context only: the tasks and threads it
    starts (a graph run's nodes) see them, other requests of the process keep the process-wide ones."""
    token = _scoped.set(resources)
    try:
        yield resources
    finally:
        _scoped.reset(token)

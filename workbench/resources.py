"""The clients a process works with (vector store, models, speech engines), built lazily on first use and reused.

A process builds one :class:`Resources` from its settings where it starts (the server's lifespan, a CLI command, the
``langgraph dev`` graphs, a benchmark, a test's fixture) and hands it down: services take it, the in-process runtime
puts it in every run's context, and graph nodes read it from there (:mod:`graphs.context`). There is no global: a
run that needs other settings (an eval case) gets a view of the same clients under them, :meth:`with_settings`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from workbench.health import Check, ok
from workbench.providers.llm import ModelRegistry
from workbench.settings import Settings

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

"""Embedding models, chosen by a ``"provider/model"`` string (langchain_core ``Embeddings`` interface)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import ConfigurationError, ProviderUnavailable

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from workbench.settings import Settings

DEFAULT_EMBEDDINGS = "local/minilm-l6-int8"
CHOICES = (DEFAULT_EMBEDDINGS, "openai/<model>", "fake")
"""The specs :func:`load_embeddings` understands."""


def load_embeddings(spec: str | None = None, settings: Settings | None = None) -> Embeddings:
    """The embedder named by ``spec`` (default: ``settings.embeddings``).

    - ``"local/minilm-l6-int8"``: all-MiniLM-L6-v2 int8 ONNX, on this machine (384 dimensions);
    - ``"openai/<model>"``: OpenAI embeddings, or any OpenAI-compatible server when a base URL is set;
    - ``"fake"``: deterministic hashing embeddings for tests (64 dimensions).

    Raises :class:`ConfigurationError` for an unknown spec and :class:`ProviderUnavailable` when a cloud provider
    has no API key. Nothing is loaded until the first embedding call.
    """
    if settings is None:
        from workbench.settings import get_settings

        settings = get_settings()
    spec = (spec or settings.embeddings).strip()
    match spec.split("/", 1):
        case ["local", "minilm-l6-int8"]:
            from workbench.providers.minilm import MiniLMEmbeddings

            return MiniLMEmbeddings()
        case ["openai", model] if model:
            if not settings.openai_api_key:  # Settings maps an empty key to None
                raise ProviderUnavailable(f"set OPENAI_API_KEY or choose {DEFAULT_EMBEDDINGS}")
            from langchain_openai import OpenAIEmbeddings

            return OpenAIEmbeddings(
                model=model,
                api_key=settings.openai_api_key,
                base_url=settings.openai_base_url,
                # Counting tokens needs tiktoken's encodings (a download) and only fits OpenAI's own models.
                check_embedding_ctx_length=settings.openai_base_url is None,
            )
        case ["fake"]:
            from workbench.providers.fake_embeddings import FakeEmbeddings

            return FakeEmbeddings()
        case _:
            raise ConfigurationError(f"unknown embeddings {spec!r}: choose one of {', '.join(CHOICES)}")

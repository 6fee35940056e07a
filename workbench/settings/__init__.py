"""Process-level settings: paths, keys and URLs. Per-run knobs live in each graph's context.

Built once, on first use, never at import: call :func:`get_settings`. The fields of the server's edges, of voice
and of the repository audit are groups of their own (:mod:`.edges`, :mod:`.speech`, :mod:`.audit`), joined here
into the one ``Settings`` every caller reads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from workbench.settings.audit import AuditSettings
from workbench.settings.bundled_models import BUNDLED
from workbench.settings.edges import EdgeSettings
from workbench.settings.speech import SpeechSettings


class ModelIdsSource(PydanticBaseSettingsSource):
    """``WORKBENCH_MODEL_<ID>=provider/model`` variables as ``agent_models`` (the logical model ids agent specs name),
    leaving out those that are settings of their own (``WORKBENCH_MODEL_CACHE_SIZE``)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        ids = environment_model_ids(self.settings_cls.model_fields)
        return {"agent_models": ids} if ids else {}


def environment_model_ids(fields: Mapping[str, object] | None = None) -> dict[str, str]:
    """The ``WORKBENCH_MODEL_<ID>`` variables of the environment now, by lower-case id, without those that name a
    setting (``fields``, default Settings'): cheap enough for a check that runs every turn."""
    fields = Settings.model_fields if fields is None else fields
    ids = {}
    for key, value in os.environ.items():
        found = re.fullmatch(r"WORKBENCH_MODEL_([A-Z0-9_]+)", key)
        if found and value.strip() and f"model_{found.group(1).lower()}" not in fields:
            ids[found.group(1).lower()] = value.strip()
    return ids


class Settings(EdgeSettings, SpeechSettings, AuditSettings, BaseSettings):
    """Every process-level setting of the workbench (environment prefix ``WORKBENCH_``)."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".workbench"), description="Where Qdrant, the run log and checkpoints live.")
    min_free_disk_mb: int = Field(
        default=64,
        ge=0,
        description="Free space (MB) the disk holding home must keep: below it, writes to the embedded vector store "
        "are refused with what to do (a native store that runs out of disk mid-write would crash the process), and "
        "/ready reports the disk as failing.",
    )

    # Models
    llm: str = Field(
        default="auto", description='"auto", "openai/<model>", "groq/<model>", "local/<bundled model>" or "extractive".'
    )
    local_model: str = Field(
        default="qwen2.5-coder-1.5b",
        description='The bundled model "auto" answers chat with offline (no cloud key): "qwen2.5-coder-1.5b", or the '
        'low-memory "qwen2.5-coder-0.5b"; when it is not installed, "auto" answers extractively.',
    )
    voice_local_model: str = Field(
        default="qwen2.5-coder-0.5b",
        description='The bundled model "auto" answers voice turns with offline (the first sentence comes sooner); '
        "when it is not installed, the chat one.",
    )
    embeddings: str = Field(default="local/minilm-l6-int8", description='"local/minilm-l6-int8" or "openai/<model>".')
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("WORKBENCH_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("WORKBENCH_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    groq_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("WORKBENCH_GROQ_API_KEY", "GROQ_API_KEY")
    )
    agent_models: dict[str, str] = Field(
        default_factory=dict,
        description="Logical model ids of agent specs pointed elsewhere than workbench/agents/models.yaml says, "
        "each from WORKBENCH_MODEL_<ID> (WORKBENCH_MODEL_SMART=openai/gpt-4o-mini).",
    )
    llm_timeout_s: float = Field(default=30.0, description="Connect/read timeout for cloud LLM calls.")
    local_llm_threads: int | None = Field(
        default=None, description="CPU threads for the local GGUF model (default: half the cores, 1 to 4)."
    )
    local_llm_temperature: float = Field(
        default=0.0,
        ge=0.0,
        le=2.0,
        description="Sampling temperature of the bundled chat model; 0: greedy, the same answer to the same prompt "
        "every time, so that an eval comparison measures the change under test and not the sampling.",
    )
    local_llm_prompt_lookup: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Tokens the bundled model drafts per step by prompt lookup (copied from the prompt, checked in "
        "one batch); 0: off. Off by default: on two cores it made the first token later (bench/chat_ttft.py).",
    )

    # Vector store
    qdrant_url: str | None = Field(default=None, validation_alias=AliasChoices("WORKBENCH_QDRANT_URL", "QDRANT_URL"))
    qdrant_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("WORKBENCH_QDRANT_API_KEY", "QDRANT_API_KEY")
    )
    vector_store: Literal["edge", "local"] = Field(
        default="edge",
        description="The embedded store when QDRANT_URL is unset: edge (Qdrant Edge, native) or local "
        "(qdrant-client's local mode, pure Python).",
    )
    collection: str = Field(default="docs", description="Default collection for chat and ingest.")
    corpus_dir: Path | None = Field(
        default=None, description="Folder indexed on first start (default: the bundled sample corpus)."
    )

    # Graph runtime
    graph_server: str | None = Field(
        default=None,
        description="URL of a LangGraph Server (`langgraph dev`, LangGraph Platform, self-hosted) that runs the "
        "graphs; unset: they run in this process.",
    )
    graph_server_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("WORKBENCH_GRAPH_SERVER_API_KEY", "LANGGRAPH_API_KEY", "LANGSMITH_API_KEY"),
        description="API key sent to the LangGraph Server (x-api-key).",
    )
    graph_server_timeout_s: float = Field(
        default=10.0, gt=0, description="Connect limit for the LangGraph Server, and for each of its answers."
    )
    checkpointer_url: str | None = Field(
        default=None,
        description="postgresql://... to keep in-process sessions in Postgres (several gateway processes share them); "
        "unset: SQLite under home.",
    )
    checkpointer_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="How long a turn waits for the Postgres checkpointer (a pooled connection, a new connection) "
        "before it ends with storage_unavailable.",
    )

    # Chat
    top_k: int = Field(default=5, ge=1, le=50)
    warm_chat: bool = Field(
        default=True,
        description="At server start, load the default chat model if it is a bundled one and read its fixed "
        "instructions, so that the first turn does not wait for either.",
    )
    local_context_tokens: int = Field(
        default=160,
        ge=0,
        description="Tokens of the retrieved chunks a bundled model reads per turn: the sentences that rank best for "
        "the question, under their citation numbers (reading the prompt is most of its time to first token); 0: the "
        "chunks whole. Cloud models and the extractive baseline read the chunks whole.",
    )
    max_generation_s: float = Field(default=120.0, gt=0, description="Hard limit on one chat run.")
    max_history_tokens: int = Field(default=1500, ge=100, description="Conversation history kept in the prompt.")

    # Indexing and model caches
    ingest_pdf_max_content_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Page content one PDF may make indexing read: the decompressed bytes of each page's content "
        "streams, a stream shared by several pages counted once per page; a PDF over it is refused before its text "
        "is extracted.",
    )
    model_cache_size: int = Field(default=8, ge=1, description="Chat models kept built at once (least recent go).")
    testing: bool = Field(default=False, description="Offer the scripted fake/ models (tests and benchmarks only).")

    @field_validator("local_model", "voice_local_model")
    @classmethod
    def _bundled_name(cls, value: str) -> str:
        """A bundled model's name (``local/`` optional): a typo fails at start, not silently as extractive."""
        name = value.strip().removeprefix("local/")
        if name not in BUNDLED:
            raise ValueError(f"{value[:60]!r} is not a bundled model; choose one of {', '.join(BUNDLED)}")
        return name

    @field_validator(
        "openai_api_key",
        "groq_api_key",
        "qdrant_api_key",
        "openai_base_url",
        "qdrant_url",
        "api_token",
        "graph_server",
        "graph_server_api_key",
        "checkpointer_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``OPENAI_API_KEY=""`` means no key, not an empty one."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("graph_server")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value.strip()):
            raise ValueError(f"{value[:80]!r} is not a LangGraph Server URL like http://127.0.0.1:2024")
        return value.strip().rstrip("/") if value is not None else None

    @field_validator("checkpointer_url")
    @classmethod
    def _checkpointer_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("checkpointer_url is a postgresql://user@host:port/database URL (unset: SQLite)")
        return value

    @property
    def qdrant_path(self) -> Path:
        """qdrant-client's local-mode folder (``WORKBENCH_VECTOR_STORE=local``)."""
        return self.home / "qdrant"

    @property
    def edge_path(self) -> Path:
        """Qdrant Edge's folder (the embedded default)."""
        return self.home / "qdrant-edge"

    @property
    def runlog_path(self) -> Path:
        return self.home / "runs.duckdb"

    @property
    def audit_path(self) -> Path:
        """Where audit checkouts live while a task runs."""
        return self.home / "audits"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, ModelIdsSource(settings_cls), dotenv_settings, file_secret_settings

    @property
    def checkpoints_path(self) -> Path:
        return self.home / "checkpoints.sqlite"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built on first call."""
    return Settings()

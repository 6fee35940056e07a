"""Process-level settings: paths, keys and URLs. Per-run knobs live in each graph's context.

Built once, on first use, never at import: call :func:`get_settings`.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split(value: object, separators: str) -> object:
    """A list given in the environment: JSON, or parts between ``separators`` (a regex), blanks dropped."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in re.split(separators, value) if part.strip()]
    return value


class Settings(BaseSettings):
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
    llm_timeout_s: float = Field(default=30.0, description="Connect/read timeout for cloud LLM calls.")
    local_llm_threads: int | None = Field(
        default=None, description="CPU threads for the local GGUF model (default: half the cores, 1 to 4)."
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
    max_generation_s: float = Field(default=120.0, gt=0, description="Hard limit on one chat run.")
    max_history_tokens: int = Field(default=1500, ge=100, description="Conversation history kept in the prompt.")

    # Voice
    stt_model: str = Field(
        default="local/tiny.en",
        description='"local/tiny.en" (bundled), a faster-whisper model folder or size name, "groq/<model>", '
        '"openai/<model>".',
    )
    stt_language: str | None = Field(default="en", description="Spoken language; None lets Whisper detect it.")
    stt_beam_size: int = Field(default=1, ge=1, le=10)
    stt_vad_filter: bool = Field(default=True, description="Skip silence with Silero VAD before decoding.")
    stt_compute_type: str = Field(default="int8", description="CTranslate2 compute type for local Whisper.")
    tts_voice: str = Field(
        default="piper/joe-us", description='"piper/joe-us" (bundled), "piper/<path.onnx>", "gtts/<language>".'
    )
    tts_timeout_s: float = Field(default=10.0, gt=0, description="Network limit for a cloud voice before falling back.")
    voice_persona: str = Field(default="assistant", description="Persona used when a turn names none.")
    personas_dir: Path | None = Field(default=None, description="Extra persona YAML files (override bundled ones).")
    voice_max_history: int = Field(default=20, ge=2, description="Messages kept per voice session.")
    voice_session_ttl_s: float = Field(default=3600.0, gt=0, description="Idle time after which a session restarts.")
    warm_speech: bool = Field(default=True, description="Load the speech models in the background at server start.")
    max_audio_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest audio input accepted.")
    max_audio_s: float = Field(default=120.0, gt=0, description="Longest audio input accepted, in seconds.")

    # Repository audit
    audit_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=["github.com", "gitlab.com", "bitbucket.org", "codeberg.org"],
        description="Hosts whose https:// URLs may be audited (comma-separated in the environment).",
    )
    audit_allowed_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders under which local paths may be audited (os.pathsep- or comma-separated); "
        "none: local paths are refused.",
    )
    audit_model: str | None = Field(default=None, description="Chat model for triage; default: the llm setting.")
    audit_clone_depth: int = Field(default=50, ge=1, le=10_000, description="Commits fetched (history and churn).")
    audit_clone_timeout_s: float = Field(default=120.0, gt=0, description="Limit on one clone.")
    audit_max_repo_bytes: int = Field(default=200 * 1024 * 1024, ge=1024, description="Largest checkout accepted.")
    audit_max_files: int = Field(default=20_000, ge=1, description="Most files a checkout may hold.")
    audit_agent_timeout_s: float = Field(default=300.0, gt=0, description="Limit on one specialist agent.")
    audit_max_concurrent: int = Field(default=2, ge=1, le=32, description="Audit tasks running at once.")
    audit_llm_reviews: int = Field(default=5, ge=0, le=100, description="Findings per agent the LLM triages.")
    audit_benchmark: Path | None = Field(
        default=None,
        description="A BenchmarkPython folder the audit eval suite adds as a case, read in place (external data).",
    )
    audit_trace_reviews: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Taint traces the triage model reviews per audit (0: none; with the bundled 1.5B model it "
        "raised precision but lowered the benchmark score, at 13.5 s a trace: see docs/benchmarks.md).",
    )
    audit_ruff_extend_select: str = Field(
        default="",
        pattern=r"^[A-Z0-9, ]*$",
        description="Ruff rules the bug hunter adds to its bug-only set, comma-separated (e.g. E722,S110,S112 for "
        "bare and silently swallowed exceptions).",
    )

    # Protocols and their limits
    max_message_bytes: int = Field(default=64 * 1024, ge=1024, description="Largest WebSocket text message accepted.")
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest file accepted by the UI upload (documents, audio)."
    )
    max_upload_files: int = Field(default=20, ge=1, le=1000, description="Most files one UI upload may index.")
    max_messages_per_s: float = Field(default=10.0, gt=0, description="Sustained messages per second per socket.")
    max_message_burst: int = Field(default=30, ge=1, description="Messages a socket may send at once above the rate.")
    max_turns_per_client: int = Field(
        default=4, ge=1, description="Turns one client address may run at once, over all its sockets."
    )
    audit_max_queued: int = Field(default=16, ge=1, description="Audits waiting for a slot before new ones get 429.")
    audit_tasks_kept: int = Field(default=100, ge=1, description="Finished audits kept in memory (older: run log).")
    model_cache_size: int = Field(default=8, ge=1, description="Chat models kept built at once (least recent go).")
    speech_cache_size: int = Field(default=4, ge=1, description="Speech engines of each kind kept loaded at once.")

    # Speech models on offer, indexing and eval bounds
    stt_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Speech-to-text models clients may choose besides local/tiny.en and stt_model (faster-whisper "
        "folders or cached sizes, comma-separated); a client names one exactly as written here.",
    )
    tts_voices: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Voices clients may choose besides piper/joe-us, gTTS, tts_voice and the personas' voices "
        "(comma-separated, e.g. piper//srv/voices/amy.onnx); a client names one exactly as written here.",
    )
    ingest_pdf_max_content_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Page content one PDF may make indexing read: the decompressed bytes of each page's content "
        "streams, a stream shared by several pages counted once per page; a PDF over it is refused before its text "
        "is extracted.",
    )
    eval_max_per_client: int = Field(
        default=2, ge=1, le=100, description="Eval runs one client address may have queued or running in the UI."
    )

    @field_validator("stt_models", "tts_voices", mode="before")
    @classmethod
    def _split_specs(cls, value: object) -> object:
        """Model and voice specs: ``a,b`` (a spec may hold colons and slashes) or JSON."""
        return _split(value, r",")

    # Security
    api_token: SecretStr | None = Field(
        default=None,
        description="Token for /api, /ws and the UI (Authorization: Bearer, ?token= or the login cookie); "
        "optional on loopback, required to serve on any other address.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers to besides the loopback ones (DNS-rebinding guard); "
        "'*' turns the check off.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose pages may open sockets and send requests, besides the "
        "server's own.",
    )
    testing: bool = Field(default=False, description="Offer the scripted fake/ models (tests and benchmarks only).")

    # The server's edges: request bodies, framing, logins
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest HTTP request body on any route (REST, /login, the UI's own calls): a larger declared "
        "Content-Length gets 413 before anything is read, a streamed body 413 once it passes the limit. The UI's "
        "file upload takes max_upload_files × max_upload_bytes.",
    )
    frame_ancestors: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose pages may show the server's pages in a frame; none: no "
        "page may (Content-Security-Policy frame-ancestors 'none' and X-Frame-Options: DENY).",
    )
    session_ttl_s: int = Field(
        default=12 * 3600, ge=1, description="How long a browser stays logged in after /login, in seconds."
    )
    auth_max_failures: int = Field(
        default=10,
        ge=1,
        description="Wrong API tokens (Bearer, ?token=, /login) one client address may send within auth_lockout_s; "
        "past that its attempts get 429 with Retry-After until the oldest of them is auth_lockout_s old.",
    )
    auth_lockout_s: float = Field(
        default=60.0, gt=0, description="The window, in seconds, in which auth_max_failures wrong tokens lock out."
    )

    @field_validator("frame_ancestors", mode="before")
    @classmethod
    def _frame_ancestors(cls, value: object) -> object:
        """Origins as for allowed_origins (``a,b`` or JSON), kept without a trailing slash."""
        value = _split(value, r"[,\s]+")
        if isinstance(value, list):
            for origin in value:
                if not isinstance(origin, str) or not re.fullmatch(r"https?://[^/\s;']+/?", origin):
                    raise ValueError(f"{str(origin)[:80]!r} is not an origin like https://portal.example.com")
            return [origin.rstrip("/").lower() for origin in value]
        return value

    @field_validator("audit_allowed_hosts", "audit_allowed_roots", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Environment values may be plain lists: ``a,b`` or ``/x:/y`` as well as JSON."""
        return _split(value, f"[,{re.escape(os.pathsep)}]")

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        """Host names and origins: ``a,b`` (origins hold colons, so only commas and spaces separate) or JSON."""
        return _split(value, r"[,\s]+")

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        """An origin is ``scheme://host[:port]`` with nothing after it; kept without a trailing slash."""
        for origin in value:
            if not re.fullmatch(r"https?://[^/\s]+/?", origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return [origin.rstrip("/").lower() for origin in value]

    @field_validator("local_model", "voice_local_model")
    @classmethod
    def _bundled_name(cls, value: str) -> str:
        """A bundled model's name (``local/`` optional): a typo fails at start, not silently as extractive."""
        from workbench.providers.bundled import BUNDLED

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

    @property
    def checkpoints_path(self) -> Path:
        return self.home / "checkpoints.sqlite"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built on first call."""
    return Settings()

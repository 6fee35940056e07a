"""Messages of the ``/ws/chat`` protocol, validated on the way in and written as JSON Schema in ``protocols/``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from workbench.documents import COLLECTION_PATTERN

SessionId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
CollectionName = Annotated[str, Field(pattern=COLLECTION_PATTERN)]
FilterValue = Annotated[str, Field(max_length=512)] | Annotated[int, Field(ge=-(2**53), le=2**53)] | bool
FilterKey = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")]
Filters = Annotated[
    dict[FilterKey, FilterValue | Annotated[list[FilterValue], Field(min_length=1, max_length=50)]],
    Field(max_length=16),
]


class UserMessage(BaseModel):
    """A user's turn. Knobs beyond the required fields are optional extras."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["user_message"]
    content: Annotated[str, Field(min_length=1)]
    session_id: SessionId
    metadata: Filters = Field(
        default_factory=dict, description="Retrieval filters: a payload field to a value or a non-empty list of them."
    )
    model: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description='A "provider/model" string this server offers; default: the server setting.'
    )
    collection: CollectionName | None = None
    top_k: Annotated[int, Field(ge=1, le=50)] | None = None
    search_mode: Literal["hybrid", "dense", "sparse"] | None = Field(
        default=None, description="Default: hybrid on the chat graph, the spec's own search on an agent."
    )
    prompt_version: Annotated[str, Field(max_length=40)] = Field(
        default="v1", description="A version of the answer prompt (v1, v2); others are refused (invalid_config)."
    )
    agent: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = Field(
        default=None,
        description="An agent spec by name (`workbench agents list`) to run instead of the chat graph; one the "
        "server does not have, or whose spec has problems, is refused (invalid_config). A session's conversation "
        "is kept per agent.",
    )


class Abort(BaseModel):
    """Stop the running turn of this socket."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["abort"]


ClientMessage = TypeAdapter(Annotated[UserMessage | Abort, Field(discriminator="type")])
CLIENT_TYPES = ("user_message", "abort")


def _require_tag(schema: dict[str, Any]) -> None:
    """Server messages carry their tag always: make ``type`` (and a token's ``role``) required in the schema,
    though the models give them defaults, so an object without a tag matches no message."""
    required = schema.setdefault("required", [])
    for tag in ("role", "type"):
        if tag in schema.get("properties", {}) and tag not in required:
            required.insert(0, tag)


class ServerMessage(BaseModel):
    """Base of every message the server sends."""

    model_config = ConfigDict(json_schema_extra=_require_tag)


class Token(ServerMessage):
    role: Literal["assistant"] = "assistant"
    content: str


class Document(BaseModel):
    source: str
    chunk_id: str
    score: float
    dense_score: float | None
    sparse_score: float | None
    title: str
    section: str | None
    page: int | None
    text: str


class Retrieval(ServerMessage):
    type: Literal["retrieval"] = "retrieval"
    run_id: str
    query: str | None = None
    documents: list[Document]


class Done(ServerMessage):
    type: Literal["done"] = "done"
    run_id: str | None = None
    status: Literal["ok", "aborted", "error"] = "ok"
    model: str | None = None
    citations: list[int] = Field(default_factory=list, description="1-based indexes into the retrieval's documents.")
    citation_mode: Literal["explicit", "attributed"] | None = Field(
        default=None, description="explicit: the model wrote [n]; attributed: matched from the answer's sentences."
    )


class Aborted(ServerMessage):
    type: Literal["aborted"] = "aborted"
    run_id: str | None = None


ErrorCode = Literal[
    "invalid_json",
    "invalid_message",
    "unknown_type",
    "binary_not_supported",
    "message_too_large",
    "rate_limited",
    "busy",
    "nothing_to_abort",
    "timeout",
    "model_unavailable",
    "invalid_config",
    "internal_error",
    "storage_unavailable",
]


class Error(ServerMessage):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    run_id: str | None = None


SERVER_MESSAGES: tuple[type[BaseModel], ...] = (Token, Retrieval, Done, Aborted, Error)


def json_schema() -> dict[str, Any]:
    """The protocol as one JSON Schema document: ``client`` and ``server`` message unions."""
    client = ClientMessage.json_schema(ref_template="#/$defs/{model}")
    server = TypeAdapter(Token | Retrieval | Done | Aborted | Error).json_schema(ref_template="#/$defs/{model}")
    defs = {**client.pop("$defs", {}), **server.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://agent-workbench.dev/protocols/chat.schema.json",
        "title": "Agent Workbench /ws/chat protocol",
        "description": "Messages a client sends (client) and the server sends (server) over /ws/chat.",
        "$defs": {**defs, "client": client, "server": server},
        "oneOf": [{"$ref": "#/$defs/client"}, {"$ref": "#/$defs/server"}],
    }

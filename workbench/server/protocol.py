"""Messages of the ``/ws/chat`` protocol: the client's, validated on the way in, and the server's, the turn events of
:mod:`workbench.events`; both written as JSON Schema in ``protocols/``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from graphs.chat_prompts import ANSWER_PROMPTS, DEFAULT_VERSION
from workbench.documents import COLLECTION_PATTERN
from workbench.events import AbortedEvent, ChatDoneEvent, InterruptEvent, RetrievalEvent, TokenEvent, TurnErrorEvent

SessionId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
CollectionName = Annotated[str, Field(pattern=COLLECTION_PATTERN)]
FilterValue = Annotated[str, Field(max_length=512)] | Annotated[int, Field(ge=-(2**53), le=2**53)] | bool
FilterKey = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")]
Filters = Annotated[
    dict[FilterKey, FilterValue | Annotated[list[FilterValue], Field(min_length=1, max_length=50)]],
    Field(max_length=16),
]


class TurnKnobs(BaseModel):
    """The optional knobs of a turn's run, for a new message and for a session run on alike."""

    model_config = ConfigDict(extra="forbid")
    model: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description='A "provider/model" string this server offers; default: the server setting.'
    )
    collection: CollectionName | None = None
    top_k: Annotated[int, Field(ge=1, le=50)] | None = None
    search_mode: Literal["hybrid", "dense", "sparse"] | None = Field(
        default=None, description="Default: hybrid on the chat graph, the spec's own search on an agent."
    )
    prompt_version: Annotated[str, Field(max_length=40)] = Field(
        default=DEFAULT_VERSION,
        description=f"A version of the answer prompt ({', '.join(ANSWER_PROMPTS)}); others are refused "
        "(invalid_config).",
    )
    agent: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = Field(
        default=None,
        description="An agent spec by name (`workbench agents list`) to run instead of the chat graph; one the "
        "server does not have, or whose spec has problems, is refused (invalid_config). A session's conversation "
        "is kept per agent.",
    )


class UserMessage(TurnKnobs):
    """A user's turn. Knobs beyond the required fields are optional extras."""

    type: Literal["user_message"]
    content: Annotated[str, Field(min_length=1)]
    session_id: SessionId
    metadata: Filters = Field(
        default_factory=dict, description="Retrieval filters: a payload field to a value or a non-empty list of them."
    )


class Resume(TurnKnobs):
    """Run the session on from where it stopped: with the answer to the question it waits on (``value``, or
    ``values`` by interrupt id when it waits on several), or without one, a fork's next step."""

    type: Literal["resume"]
    session_id: SessionId
    value: Any = Field(default=None, description="The answer to the pending interrupt (any JSON value).")
    values: Annotated[dict[Annotated[str, Field(max_length=128)], Any], Field(max_length=50)] | None = Field(
        default=None, description="One answer per pending interrupt id, when the session waits on several."
    )


class Abort(BaseModel):
    """Stop the running turn of this socket."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["abort"]


ClientMessage = TypeAdapter(Annotated[UserMessage | Resume | Abort, Field(discriminator="type")])
CLIENT_TYPES = ("user_message", "resume", "abort")


ErrorCode = Literal[
    "invalid_json",
    "invalid_message",
    "unknown_type",
    "binary_not_supported",
    "message_too_large",
    "rate_limited",
    "busy",
    "nothing_to_abort",
    "nothing_to_resume",
    "timeout",
    "model_unavailable",
    "invalid_config",
    "internal_error",
    "storage_unavailable",
]


class ChatErrorEvent(TurnErrorEvent):
    model_config = ConfigDict(title="Error")
    code: ErrorCode  # the codes this protocol sends, for its schema


ServerMessages = TokenEvent | RetrievalEvent | InterruptEvent | ChatDoneEvent | AbortedEvent | ChatErrorEvent


def titled(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each model's definition under its title (``Token``, not the class name ``TokenEvent``): the
    names the published schemas have always used."""
    names = {key: d["title"] for key, d in schema.get("$defs", {}).items() if isinstance(d.get("title"), str)}

    def rename(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in names:
                node = {**node, "$ref": "#/$defs/" + names[ref[8:]]}
            return {key: rename(value) for key, value in node.items()}
        return [rename(item) for item in node] if isinstance(node, list) else node

    renamed = rename(schema)
    if "$defs" in renamed:
        titled_defs = {names.get(key, key): value for key, value in renamed["$defs"].items()}
        renamed["$defs"] = dict(sorted(titled_defs.items()))  # in pydantic's order
    return renamed


def schema_document(name: str, title: str, description: str, adapters: dict[str, TypeAdapter[Any]]) -> dict[str, Any]:
    """One JSON Schema document (``protocols/<name>.schema.json``) with a definition per entry of ``adapters``
    beside the models they use, each under its title (see :func:`titled`)."""
    defs: dict[str, Any] = {}
    roots: dict[str, Any] = {}
    for key, adapter in adapters.items():
        schema = titled(adapter.json_schema(ref_template="#/$defs/{model}"))
        defs.update(schema.pop("$defs", {}))
        roots[key] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://agent-workbench.dev/protocols/{name}.schema.json",
        "title": title,
        "description": description,
        "$defs": {**defs, **roots},
    }


def json_schema() -> dict[str, Any]:
    """The protocol as one JSON Schema document: ``client`` and ``server`` message unions."""
    client = titled(ClientMessage.json_schema(ref_template="#/$defs/{model}"))
    server = titled(TypeAdapter(ServerMessages).json_schema(ref_template="#/$defs/{model}"))
    defs = {**client.pop("$defs", {}), **server.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://agent-workbench.dev/protocols/chat.schema.json",
        "title": "Agent Workbench /ws/chat protocol",
        "description": "Messages a client sends (client) and the server sends (server) over /ws/chat.",
        "$defs": {**defs, "client": client, "server": server},
        "oneOf": [{"$ref": "#/$defs/client"}, {"$ref": "#/$defs/server"}],
    }

"""The threads API's bodies: ``/api/threads`` (a graph's sessions), ``/api/threads/{graph}/{session}/history`` (a
session's checkpoints and what it waits on) and ``.../fork`` (a new session from one checkpoint, edited).

The records are those of :mod:`workbench.runtime.threads` (``as_dict()``), the same on every runtime; these models
describe them for the JSON Schema in ``protocols/threads.schema.json`` and check a fork's request.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from workbench.server.protocol import SessionId, schema_document

CHECKPOINT_ID = r"^[0-9a-fA-F-]{1,64}$"
"""A LangGraph checkpoint id (a UUID, in this process and on a LangGraph Server)."""
MAX_EDITS = 50
"""State fields one fork may write."""

ErrorCode = Literal[
    "invalid_graph",
    "invalid_session_id",
    "unknown_graph",
    "unknown_thread",
    "invalid_fork",
    "body_too_large",
    "histories_unavailable",
    "storage_unavailable",
    "model_unavailable",
]


class Question(BaseModel):
    """A question a session waits on (LangGraph ``interrupt``); answered by resuming the session."""

    model_config = ConfigDict(title="Interrupt")
    id: str
    value: Any = Field(description="What the graph asked, as it asked it (JSON).")
    namespace: str = Field(description='The subgraph it was raised in ("": the graph itself).')


class CheckpointRecord(BaseModel):
    """One saved step of a session."""

    model_config = ConfigDict(title="Checkpoint")
    checkpoint_id: str
    parent_id: str | None
    namespace: str = Field(description='"" for the graph itself, "node:task-id" (joined with "|") in a subgraph.')
    step: int = Field(description="LangGraph's step number (-1: the run's input before any step).")
    source: str = Field(description="input, loop, update or fork.")
    node: str = Field(description="The node(s) whose writes made this checkpoint (input for a run's input).")
    next: list[str] = Field(description="The nodes that run next from here (none: a turn ended here).")
    created_at: str | None
    run_id: str | None
    values: dict[str, Any] = Field(description="The state after this step (messages as {type, content, id}).")
    interrupts: list[Question]
    metadata: dict[str, Any]


class ForkOrigin(BaseModel):
    """The session and checkpoint a fork was made from."""

    session_id: str
    checkpoint_id: str


class ThreadRecord(BaseModel):
    """A session as a list shows it."""

    model_config = ConfigDict(title="Thread")
    graph: str
    session_id: str
    status: Literal["idle", "waiting", "busy", "error"]
    updated_at: str | None
    first_question: str
    checkpoint_id: str | None = Field(description="The session's head.")
    forked_from: ForkOrigin | None
    interrupts: list[Question]


class ThreadList(BaseModel):
    """``GET /api/threads?graph=...``: the graph's sessions, most recently changed first."""

    graph: str
    threads: list[ThreadRecord]


class ThreadHistory(BaseModel):
    """``GET /api/threads/{graph}/{session}/history``: checkpoints newest first (the graph's own, then each
    subgraph namespace's) and the questions the session waits on."""

    graph: str
    session_id: str
    checkpoints: list[CheckpointRecord]
    waiting: list[Question]


class ForkRequest(BaseModel):
    """``POST /api/threads/{graph}/{session}/fork``."""

    model_config = ConfigDict(extra="forbid")
    checkpoint_id: Annotated[str, Field(pattern=CHECKPOINT_ID)] = Field(
        description="A checkpoint of the session's history (not one of a run's input)."
    )
    values: dict[Annotated[str, Field(max_length=64)], Any] | None = Field(
        default=None,
        max_length=MAX_EDITS,
        description="State fields written over the checkpoint's, as its node would have written them (messages "
        "as {type, content, id}; one with an existing id replaces that message).",
    )


class Forked(BaseModel):
    """The new session: run it on over ``/ws/chat`` with ``{"type": "resume", "session_id": ...}``."""

    graph: str
    session_id: SessionId
    forked_from: ForkOrigin
    head: CheckpointRecord


class ApiError(BaseModel):
    model_config = ConfigDict(title="Error")
    code: ErrorCode
    message: str


class ErrorBody(BaseModel):
    """Every refusal of the threads API (a request FastAPI cannot read is its own 422 instead)."""

    detail: ApiError


def json_schema() -> dict[str, Any]:
    """The threads API as one JSON Schema document: each route's response, the fork request, the error body."""
    adapters: dict[str, TypeAdapter[Any]] = {
        "thread_list": TypeAdapter(ThreadList),
        "thread_history": TypeAdapter(ThreadHistory),
        "fork_request": TypeAdapter(ForkRequest),
        "forked": TypeAdapter(Forked),
        "error": TypeAdapter(ErrorBody),
    }
    description = (
        "GET /api/threads?graph= (thread_list), GET /api/threads/{graph}/{session}/history "
        "(thread_history), POST /api/threads/{graph}/{session}/fork (fork_request -> forked); refusals (error)."
    )
    return schema_document("threads", "Agent Workbench threads API", description, adapters)

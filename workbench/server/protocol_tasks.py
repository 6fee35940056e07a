"""The repo-audit protocol: ``/api/tasks`` request and status bodies and the ``/ws/tasks/{task_id}`` events (the task
events of :mod:`workbench.events`).

Every event carries ``type``, ``task_id``, ``seq`` (0, 1, 2... per task: a watcher that connects late gets the
events so far first, then live ones, without gaps or repeats) and ``timestamp`` (ISO 8601, UTC). A socket may send
``{"type": "cancel"}`` to stop the task.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from workbench.events import (
    AgentName,
    AgentStatus,
    ErrorEvent,
    TaskAgentResult,
    TaskCompleted,
    TaskError,
    TaskProgress,
    TaskStarted,
)
from workbench.server.protocol import schema_document

TaskStatus = Literal["queued", "running", "completed", "partial", "failed", "cancelled", "interrupted"]


class CreateTask(BaseModel):
    """``POST /api/tasks/``: what to audit."""

    model_config = ConfigDict(extra="forbid")
    repo: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="An https:// URL on an allowed host, or a local path under WORKBENCH_AUDIT_ALLOWED_ROOTS."
    )
    ref: Annotated[str, Field(max_length=200)] | None = Field(default=None, description="Branch or tag.")
    agents: Annotated[list[AgentName], Field(min_length=1)] | None = Field(
        default=None, description="Default: every agent that applies."
    )
    agent_timeouts: dict[AgentName, Annotated[float, Field(gt=0, le=3600)]] | None = Field(
        default=None, description="Per-agent time limits in seconds."
    )
    model: str | None = Field(default=None, description='Triage model, "provider/model"; "none" skips the LLM.')


class TaskCreated(BaseModel):
    task_id: str
    status: TaskStatus
    links: dict[str, str] = Field(description="status, results, events (the WebSocket path).")


class AgentState(BaseModel):
    status: AgentStatus
    message: str | None = None
    findings: int | None = None
    counts: dict[str, int] | None = None
    summary: str | None = None
    duration_s: float | None = None
    error: str | None = None


class TaskInfo(BaseModel):
    """``GET /api/tasks/{task_id}``."""

    task_id: str
    repo: str
    ref: str | None
    agents: list[str] | None
    status: TaskStatus
    progress: float = Field(description="0 to 100.")
    created_at: str | None
    started_at: str | None
    ended_at: str | None
    error: str | None
    run_id: str | None = Field(description="The run in the DuckDB log.")
    commit: str | None
    agent_states: dict[str, AgentState]
    counts: dict[str, int] | None


class TaskSocketError(ErrorEvent):
    """A protocol error (not a task's): unknown task, bad message."""

    model_config = ConfigDict(title="Error")
    code: Literal[  # the codes this protocol sends, for its schema
        "task_not_found",
        "invalid_json",
        "invalid_message",
        "unknown_type",
        "message_too_large",
        "rate_limited",
        "binary_not_supported",
    ]


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["cancel"]


ClientMessage = TypeAdapter(Annotated[Cancel, Field(discriminator="type")])
ServerMessages = TaskStarted | TaskProgress | TaskAgentResult | TaskCompleted | TaskError | TaskSocketError


def json_schema() -> dict[str, Any]:
    """The protocol as one JSON Schema document: REST bodies, ``client`` and ``server`` socket messages."""
    adapters: dict[str, TypeAdapter[Any]] = {
        "client": ClientMessage,
        "server": TypeAdapter(ServerMessages),
        "create_task": TypeAdapter(CreateTask),
        "task_created": TypeAdapter(TaskCreated),
        "task_info": TypeAdapter(TaskInfo),
    }
    description = (
        "POST /api/tasks/ (create_task -> task_created), GET /api/tasks/{task_id} (task_info), and "
        "the messages a client sends (client) and the server sends (server) over /ws/tasks/{task_id}."
    )
    document = schema_document("tasks", "Agent Workbench repo-audit protocol", description, adapters)
    return {**document, "oneOf": [{"$ref": "#/$defs/client"}, {"$ref": "#/$defs/server"}]}

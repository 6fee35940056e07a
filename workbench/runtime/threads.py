"""A session's history as every runtime reports it: its checkpoints (the graph's state after each saved step, in
every subgraph namespace), what it waits on, and the threads of a graph, newest first.

LangGraph keeps a session as a thread of checkpoints, in this process's checkpointer or on a LangGraph Server; the
runtimes turn either into these JSON-ready records, so the REST API, the UI and the tests see one shape. States are
made JSON-safe here (messages as ``{"type", "content", "id", ...}``, other objects by their fields or their text),
each text bounded, so a hostile state cannot blow up a response.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from pydantic import BaseModel

TEXT_LIMIT = 16_000
"""Characters of one text value of a state kept in a history record (the rest marked as cut)."""
ITEMS_LIMIT = 500
"""Items of one list or mapping of a state kept in a history record."""
FORK_SEPARATOR = ".fork-"
"""Between a session's id and the suffix of a fork made of it (a session id may hold ``.`` and ``-``)."""

FORKED_SESSION, FORKED_CHECKPOINT = "workbench.forked_from.session", "workbench.forked_from.checkpoint"
"""Metadata of a fork's first checkpoint: where it was made from (checkpoint metadata keeps plain values only)."""

INTERRUPTED = "__interrupt__"
"""The key of a run's last state that holds the questions it stopped on (as LangGraph streams them)."""

ThreadStatus = Literal["idle", "waiting", "busy", "error"]


@dataclass(frozen=True)
class Interrupt:
    """A question a run stopped on (LangGraph ``interrupt``): answered by resuming the thread."""

    id: str
    value: Any
    namespace: str = ""
    """The subgraph it was raised in (``""``: the graph itself)."""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "value": jsonable(self.value), "namespace": self.namespace}


@dataclass(frozen=True)
class Checkpoint:
    """One saved step of a session: the state after it, which node(s) wrote it and what runs next."""

    checkpoint_id: str
    parent_id: str | None
    namespace: str
    """``""`` for the graph itself, ``node:task-id`` (joined with ``|`` when nested) inside a subgraph."""
    step: int
    source: str
    """``input`` (the run's input), ``loop`` (a step ran), ``update`` (the state was edited), ``fork``."""
    node: str
    """The node(s) whose writes made this checkpoint (``input`` for the run's input, the edited node for an update)."""
    next: list[str]
    created_at: str | None
    run_id: str | None
    values: dict[str, Any]
    interrupts: list[Interrupt] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checkpoint_id": self.checkpoint_id, "parent_id": self.parent_id, "namespace": self.namespace,
            "step": self.step, "source": self.source, "node": self.node, "next": self.next,
            "created_at": self.created_at, "run_id": self.run_id, "values": self.values,
            "interrupts": [i.as_dict() for i in self.interrupts], "metadata": self.metadata,
        }  # fmt: skip


@dataclass(frozen=True)
class ThreadSummary:
    """A session of a graph as a list shows it."""

    graph: str
    session_id: str
    status: ThreadStatus
    updated_at: str | None
    first_question: str
    checkpoint_id: str | None
    forked_from: dict[str, str] | None = None
    """``{"session_id", "checkpoint_id"}`` of the session and checkpoint a fork was made from."""
    interrupts: list[Interrupt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "graph": self.graph, "session_id": self.session_id, "status": self.status,
            "updated_at": self.updated_at, "first_question": self.first_question,
            "checkpoint_id": self.checkpoint_id, "forked_from": self.forked_from,
            "interrupts": [i.as_dict() for i in self.interrupts],
        }  # fmt: skip


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready data: messages by their fields, models and dataclasses by theirs, texts and
    collections bounded (:data:`TEXT_LIMIT`, :data:`ITEMS_LIMIT`), anything else by its text."""
    if depth > 12:
        return "…[nested too deep]"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT] + f"…[truncated: {len(value)} chars]"
    if isinstance(value, bytes | bytearray):
        return f"[{len(value)} bytes]"
    if isinstance(value, BaseMessage):
        return message_dict(value, depth)
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump(mode="json"), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), depth + 1)
    if isinstance(value, Mapping):
        items = list(value.items())
        kept = {str(k): jsonable(v, depth + 1) for k, v in items[:ITEMS_LIMIT]}
        return kept | ({"…": f"{len(items) - ITEMS_LIMIT} more"} if len(items) > ITEMS_LIMIT else {})
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        kept_items = [jsonable(v, depth + 1) for v in items[:ITEMS_LIMIT]]
        return kept_items + ([f"…{len(items) - ITEMS_LIMIT} more"] if len(items) > ITEMS_LIMIT else [])
    return jsonable(str(value), depth + 1)


def message_dict(message: BaseMessage, depth: int = 0) -> dict[str, Any]:
    """A message as a history record shows it (and as a state edit may give it back)."""
    out: dict[str, Any] = {"type": message.type, "content": jsonable(message.content, depth + 1), "id": message.id}
    if message.name:
        out["name"] = message.name
    for key in ("tool_calls", "tool_call_id"):
        extra = getattr(message, key, None)
        if extra:
            out[key] = jsonable(extra, depth + 1)
    return out


def state_dict(values: Any) -> dict[str, Any]:
    """A checkpoint's state as JSON-ready data (LangGraph's private channels left out)."""
    if not isinstance(values, Mapping):
        return {}
    return {str(k): jsonable(v) for k, v in values.items() if not str(k).startswith("__")}


def pending_questions(items: Any) -> list[dict[str, Any]]:
    """The questions a run stopped on, from its last state's :data:`INTERRUPTED` value (LangGraph ``Interrupt``
    objects in this process, their JSON from a LangGraph Server), as ``{"id", "value", "namespace"}``."""
    questions = []
    for item in items if isinstance(items, list | tuple) else [items]:
        if isinstance(item, Mapping):
            ident, value, namespace = item.get("id"), item.get("value"), item.get("ns") or item.get("namespace")
        else:
            ident, value, namespace = getattr(item, "id", None), getattr(item, "value", item), None
        if isinstance(namespace, list | tuple):
            namespace = "|".join(str(n) for n in namespace)
        questions.append({"id": str(ident or ""), "value": jsonable(value), "namespace": str(namespace or "")})
    return questions


def first_question(values: Any) -> str:
    """The first human message of a state's ``messages`` (what the session was about), bounded."""
    messages = values.get("messages") if isinstance(values, Mapping) else None
    for message in messages or []:
        if isinstance(message, HumanMessage) or (isinstance(message, Mapping) and message.get("type") == "human"):
            content = message.content if isinstance(message, BaseMessage) else message.get("content")
            text = content if isinstance(content, str) else json.dumps(jsonable(content))
            return text[:300]
    return ""


def forked_from(metadata: Mapping[str, Any]) -> dict[str, str] | None:
    """``{"session_id", "checkpoint_id"}`` a fork was made from, read from its first checkpoint's metadata."""
    session, checkpoint = metadata.get(FORKED_SESSION), metadata.get(FORKED_CHECKPOINT)
    return {"session_id": str(session), "checkpoint_id": str(checkpoint)} if session and checkpoint else None


def checked_edits(known: list[str], values: Mapping[str, Any]) -> dict[str, Any]:
    """A fork's edits checked against the graph's state fields ``known``; messages given as ``{"type", "content",
    "id"}`` become LangChain messages (one with the id of an existing message replaces it). ``ValueError`` saying
    what is wrong otherwise."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"no state field {', '.join(unknown)[:200]} in this graph; its fields: {', '.join(known)}")
    edits = dict(values)
    if "messages" in edits:
        if not isinstance(edits["messages"], list):
            raise ValueError("messages must be a list of {type, content, id} objects")
        try:
            edits["messages"] = convert_to_messages(edits["messages"])
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ValueError(f"messages: {str(exc)[:200]}") from None
    return edits


def fork_session(session: str, suffix: str) -> str:
    """The session id of a fork of ``session`` (at most 128 characters, as every session id)."""
    tail = f"{FORK_SEPARATOR}{suffix}"
    return session[: 128 - len(tail)] + tail

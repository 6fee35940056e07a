"""The graph-runtime seam: what the chat, voice and audit services ask of whoever runs their graphs.

A :class:`GraphRun` names a graph (``chat``, ``voice``, ``repo_audit``, or an agent spec by name), the session
it continues (a LangGraph thread), its input, context and run id; :meth:`GraphRuntime.stream` runs it and
yields :data:`RunPart` items, the same on every runtime:

- ``("custom", dict)``: what a node wrote with ``get_stream_writer()`` (retrieval, transcription, task events...);
- ``("token", GraphToken)``: a streamed text chunk of an LLM call, with the node it came from;
- ``("values", dict)``: the graph's state after a step (``messages`` as LangChain messages).

Raises :class:`SessionBusy` when the session already runs a turn (on the runtime's side, not in this process),
the project's own errors as the graph raised them, and :class:`GraphFailed` for anything else. Cancelling the
consumer stops the run where it runs and returns once it has stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

from workbench.health import Check
from workbench.runlog.callback import GATEWAY_RUN_ID

__all__ = [
    "GATEWAY_RUN_ID",
    "GraphFailed",
    "GraphName",
    "GraphRun",
    "GraphRuntime",
    "GraphToken",
    "RunPart",
    "SessionBusy",
]

GraphName = str
"""``chat``, ``voice``, ``repo_audit``, or the name of an agent spec (see :mod:`workbench.agents.catalog`)."""
StreamMode = Literal["custom", "messages", "values"]


class SessionBusy(Exception):
    """A turn is already running in this session."""


class GraphFailed(Exception):
    """A run failed for a reason the runtime does not pass on (its log has the details)."""


@dataclass(frozen=True)
class GraphToken:
    """A streamed text chunk of an LLM call inside a graph, with the node it came from (not a protocol event)."""

    node: str
    text: str


RunPart = tuple[str, Any]


@dataclass
class GraphRun:
    """One run of a graph, as the services describe it to a runtime."""

    graph: GraphName
    input: dict[str, Any]
    run_id: str
    thread: str | None = None
    """The session (LangGraph thread) the run continues; ``None``: a run of its own, without history."""
    context: Any = None
    """The graph's context dataclass (or ``None`` for its defaults)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    stream_mode: Sequence[StreamMode] = ("custom", "messages", "values")
    durability: Literal["sync", "async", "exit"] | None = None
    background: bool = False
    """A long run (an audit): on a server, a background run whose stream is joined."""
    callbacks: list[BaseCallbackHandler] = field(default_factory=list)
    """Handlers of an in-process run (the run log's callback); a remote graph logs itself where it runs."""


class GraphRuntime(ABC):
    """Runs the project's graphs: in this process, or on a LangGraph Server."""

    kind: str
    """ "in-process" or "remote": for the health endpoint and logs, never for branching in the services."""

    @abstractmethod
    def stream(self, run: GraphRun) -> AsyncIterator[RunPart]:
        """Run ``run`` and yield its parts (see the module docstring)."""

    @abstractmethod
    async def state(self, graph: GraphName, thread: str) -> dict[str, Any]:
        """The session's state (``{}`` for a session never used); ``messages`` as LangChain messages."""

    async def messages(self, graph: GraphName, thread: str) -> list[BaseMessage]:
        """The conversation so far in ``thread``."""
        return list((await self.state(graph, thread)).get("messages") or [])

    def logged_elsewhere(self, run_id: str) -> bool:
        """Whether run ``run_id`` reached a process that logs it (a server): then this one must not log its row."""
        return False

    async def check(self) -> None:
        """Raise :class:`~workbench.errors.ProviderUnavailable` when the runtime cannot run graphs now."""
        return None

    async def health(self) -> list[Check]:
        """Cheap probes of what the runtime depends on (checkpoints, session leases, a graph server), for ``/ready``;
        never raises, bounds its own waits."""
        return []

    async def close(self) -> None:
        """Release what the runtime holds (connections); running streams are cancelled by their consumers."""
        return None

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

from workbench.errors import ConfigurationError
from workbench.health import Check
from workbench.runlog.callback import GATEWAY_RUN_ID
from workbench.runtime.threads import Checkpoint, Interrupt, ThreadSummary

__all__ = [
    "GATEWAY_RUN_ID",
    "GraphFailed",
    "GraphName",
    "GraphRun",
    "GraphRuntime",
    "GraphToken",
    "RunPart",
    "SessionBusy",
    "ThreadNotFound",
]

GraphName = str
"""``chat``, ``voice``, ``repo_audit``, or the name of an agent spec (see :mod:`workbench.agents.catalog`)."""
StreamMode = Literal["custom", "messages", "values"]


class SessionBusy(Exception):
    """A turn is already running in this session."""


class ThreadNotFound(LookupError):
    """No such session, or no such checkpoint in it."""


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
    input: dict[str, Any] | None
    """The run's input; None continues the thread from where it stopped (a fork's next step, or see ``resume``)."""
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
    subgraphs: bool = False
    """Stream the tokens and custom events of the subgraphs the graph's nodes run too (an agent whose answer comes
    from a subgraph); the state parts stay the graph's own."""
    resume: Any = None
    """With ``input`` None: the answer to the thread's pending ``interrupt`` (a value, or ``{interrupt id: value}``
    for several), as LangGraph's ``Command(resume=...)``; None continues a thread that waits on no question."""


class GraphRuntime(ABC):
    """Runs the project's graphs: in this process, or on a LangGraph Server."""

    kind: str
    """ "in-process" or "remote": for the health endpoint and logs, never for branching in the services."""
    shares_models: bool
    """Whether the graphs run on this process's models, so that work begun on them here (a reply begun ahead of
    its turn) is found by the run."""

    @abstractmethod
    def stream(self, run: GraphRun) -> AsyncIterator[RunPart]:
        """Run ``run`` and yield its parts (see the module docstring)."""

    @abstractmethod
    async def state(self, graph: GraphName, thread: str) -> dict[str, Any]:
        """The session's state (``{}`` for a session never used); ``messages`` as LangChain messages."""

    async def messages(self, graph: GraphName, thread: str) -> list[BaseMessage]:
        """The conversation so far in ``thread``."""
        return list((await self.state(graph, thread)).get("messages") or [])

    async def threads(self, graph: GraphName, limit: int = 50) -> list[ThreadSummary]:
        """The graph's sessions, most recently changed first."""
        raise ConfigurationError(f"the {self.kind} runtime keeps no thread histories")

    async def history(self, graph: GraphName, thread: str, limit: int = 200) -> list[Checkpoint]:
        """The session's checkpoints, newest first: the graph's own, then each subgraph namespace's."""
        raise ConfigurationError(f"the {self.kind} runtime keeps no thread histories")

    async def waiting(self, graph: GraphName, thread: str) -> list[Interrupt]:
        """The questions the session waits on (``interrupt``), none when it does not wait."""
        return []

    async def abandon(self, graph: GraphName, thread: str) -> bool:
        """Drop the question the session waits on, back to where its last finished turn ended (a client's
        ``abort`` of a waiting turn). False when it waits on nothing."""
        raise ConfigurationError(f"the {self.kind} runtime keeps no thread histories")

    async def fork(
        self, graph: GraphName, thread: str, checkpoint_id: str, values: dict[str, Any] | None = None
    ) -> tuple[str, Checkpoint]:
        """A new session holding ``thread``'s state at ``checkpoint_id``, with ``values`` written over it as the
        node that made that checkpoint would have (LangGraph's ``update_state``), linked to where it came from.
        Returns the new session's id and its head; run it on with a :class:`GraphRun` whose input is None.
        Raises :class:`ThreadNotFound` for an unknown session or checkpoint, ``ValueError`` for a bad edit."""
        raise ConfigurationError(f"the {self.kind} runtime keeps no thread histories")

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

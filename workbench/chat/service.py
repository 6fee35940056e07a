"""One chat turn as a stream of protocol events, whoever asks: the WebSocket route, the UI or the CLI.

The graph runs on the :class:`~workbench.runtime.GraphRuntime` it is given (in this process on a durable
checkpointer, or on a LangGraph Server: ``session_id`` is the session's thread either way), under a time limit, and
is logged to DuckDB by :class:`~workbench.runlog.callback.RunLogCallback` whether it finishes, fails or is aborted.
Cancelling the consumer of :meth:`ChatService.stream` cancels the graph run and the model stream, where it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from graphs.chat import GENERATE
from graphs.chat_prompts import ANSWER_PROMPTS
from graphs.chat_state import ChatContext, ChatInput
from workbench.agents import catalog
from workbench.agents.compiler import SpecContext, answer_nodes
from workbench.citations import cited_numbers, supporting_documents
from workbench.documents import COLLECTION_RULE, RetrievedDoc, SearchMode, is_collection_name
from workbench.errors import ConfigurationError, WorkbenchError
from workbench.resources import get_resources
from workbench.runlog.callback import TEXT_LIMIT, RunLogCallback, unstarted_run
from workbench.runtime import GraphRun, GraphRuntime, SessionBusy, Token
from workbench.settings import Settings

__all__ = ["ChatService", "SessionBusy", "TurnRequest", "public_document"]


@dataclass
class TurnRequest:
    """One user message and the knobs of its run."""

    content: str
    session_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    collection: str | None = None
    top_k: int | None = None
    search_mode: SearchMode | None = None
    """None: hybrid on the chat graph, the spec's own on an agent."""
    prompt_version: str = "v1"
    entry_point: str = "api"
    agent: str | None = None
    """An agent spec (by name) to run instead of the chat graph."""

    @property
    def graph(self) -> str:
        return self.agent or "chat"


def public_document(doc: RetrievedDoc) -> dict[str, Any]:
    """A retrieved document as the protocols send it (an index made before sources were relative holds absolute
    paths: those go out as the file name alone)."""
    return {
        "source": PurePosixPath(doc["source"]).name if doc["source"].startswith("/") else doc["source"],
        "chunk_id": doc["chunk_id"],
        "score": doc["score"],
        "dense_score": doc["dense_score"],
        "sparse_score": doc["sparse_score"],
        "title": doc["title"],
        "section": doc["section"],
        "page": doc["page"],
        "text": doc["text"],
    }


def _model_or_request(spec: str | None) -> str | None:
    """The concrete model ``spec`` runs on, or ``spec`` itself when this server cannot serve it."""
    try:
        return get_resources().models.concrete(spec)
    except WorkbenchError:
        return spec


class ChatService:
    """Runs chat turns of the chat graph on ``runtime``."""

    def __init__(self, settings: Settings, runtime: GraphRuntime, callback: RunLogCallback | None = None):
        self.settings = settings
        self.runtime = runtime
        self.callback = callback or RunLogCallback()

    def check(self, request: TurnRequest) -> catalog.Agent | None:
        """Refuse a turn this server cannot run before anything starts: an unknown model, prompt version or
        collection name raises :class:`ConfigurationError`, a cloud model that is not configured
        :class:`~workbench.errors.ProviderUnavailable`. Returns the agent the turn runs, if it names one."""
        get_resources().models.check(request.model)
        agent = None
        if request.agent is not None:
            agent = catalog.require(request.agent)
            if agent.spec is not None and any(n.kind == "interrupt" for n in agent.spec.nodes.values()):
                raise ConfigurationError(
                    f"agent {request.agent!r} stops for human approval (an interrupt node), which a chat turn cannot "
                    "give; run it in LangGraph Studio or with the LangGraph SDK"
                )
        if request.prompt_version not in ANSWER_PROMPTS:
            known = ", ".join(ANSWER_PROMPTS)
            raise ConfigurationError(f"unknown prompt version {request.prompt_version[:40]!r}; choose one of {known}")
        if request.collection is not None and not is_collection_name(request.collection):
            raise ConfigurationError(COLLECTION_RULE)
        return agent

    async def history(self, session_id: str, agent: str | None = None) -> list[BaseMessage]:
        """The conversation so far in ``session_id`` (of the chat graph, or of `agent`: each has its sessions)."""
        return await self.runtime.messages(agent or "chat", session_id)

    async def stream(self, request: TurnRequest, run_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Yield ``retrieval``, ``token`` and finally ``done`` events for one turn.

        Raises what :meth:`check` raises, :class:`SessionBusy` when the session already has a turn running (in any
        process sharing the sessions),
        ``TimeoutError`` past ``max_generation_s``; cancelling the consumer aborts the run (it is still logged, as
        aborted; call :meth:`settle` after stopping a turn to be sure its row exists even if it never started).
        ``done`` is yielded once the run's row is in the run log's crash journal.
        """
        agent, model = await asyncio.to_thread(self._checked, request)
        async for event in self._run(request, run_id or str(uuid.uuid4()), model, agent):
            yield event

    def _checked(self, request: TurnRequest) -> tuple[catalog.Agent | None, str]:
        """The turn checked: its agent (if any) and the concrete model it runs on."""
        return self.check(request), get_resources().models.concrete(request.model)

    async def settle(
        self, request: TurnRequest, run_id: str, status: str = "aborted", error: str | None = None
    ) -> None:
        """Make sure a turn that did not finish has its row, then wait until the row is crash-safe.

        A turn stopped before its graph started (aborted or disconnected at once) was never seen
        by the run-log callback: it is logged here, with the model it would have run."""
        if self.runtime.logged_elsewhere(run_id):  # the server that ran it logged its row
            await self.callback.runlog.durable()
            return
        model = await asyncio.to_thread(_model_or_request, request.model)
        fields = {
            "entry_point": request.entry_point,
            "session_id": request.session_id,
            "model": model,
            "prompt_version": request.prompt_version,
            "input": request.content[:TEXT_LIMIT],
        }
        self.callback.settle(unstarted_run(run_id, request.graph, status, error or status, **fields))
        await self.callback.runlog.durable()

    async def _run(
        self, request: TurnRequest, run_id: str, model: str, agent: catalog.Agent | None
    ) -> AsyncIterator[dict[str, Any]]:
        context: ChatContext | SpecContext
        if request.agent is None:
            context = ChatContext(
                model=request.model,
                collection=request.collection,
                top_k=request.top_k,
                search_mode=request.search_mode or "hybrid",
                prompt_version=request.prompt_version,
            )
            answering = frozenset({GENERATE})
        else:
            assert agent is not None and agent.spec is not None  # check() found it
            context = SpecContext(
                model=request.model,
                collection=request.collection,
                top_k=request.top_k,
                search_mode=request.search_mode,
            )
            answering = answer_nodes(agent.spec)
        inputs: ChatInput = {"messages": [HumanMessage(request.content)], "metadata": request.metadata}
        run = GraphRun(
            request.graph,
            dict(inputs),
            run_id,
            thread=request.session_id,
            context=context,
            metadata={
                "entry_point": request.entry_point,
                "session_id": request.session_id,
                "prompt_version": request.prompt_version,
                "model": model,
                **({"agent": request.agent} if request.agent else {}),
            },
            callbacks=[self.callback],
        )
        docs: list[RetrievedDoc] = []
        final: dict[str, Any] = {}
        finished = False
        try:
            async with asyncio.timeout(self.settings.max_generation_s):
                async for mode, chunk in self.runtime.stream(run):
                    if mode == "custom" and chunk.get("type") == "retrieval":
                        docs = chunk["documents"]
                        yield {
                            "type": "retrieval",
                            "run_id": run_id,
                            "query": chunk.get("query"),
                            "documents": [public_document(d) for d in docs],
                        }
                    elif mode == "token" and isinstance(chunk, Token) and chunk.node in answering:
                        yield {"type": "token", "content": chunk.text}
                    elif mode == "values":
                        final = chunk
            finished = True
        except TimeoutError:
            # The time limit reaches the graph as a cancellation (logged "aborted"): it is an error.
            self.callback.abort(run_id, status="error", error="timed out")
            raise
        finally:
            if not finished:
                with contextlib.suppress(Exception):
                    self.callback.abort(run_id)
        await self.callback.saved(run_id)  # the finished row survives a crash before the client hears done
        answer = final.get("messages", [])[-1] if final.get("messages") else None
        text = str(answer.content) if isinstance(answer, AIMessage) else ""
        citations, mode = cited_numbers(text, len(docs)), "explicit"
        if not citations:  # small models often forget [n]: attribute sentences to the passages that hold them
            citations, mode = supporting_documents(text, [d["text"] for d in docs]), "attributed"
        yield {
            "type": "done",
            "run_id": run_id,
            "status": "ok",
            "model": final.get("model"),
            "citations": citations,
            "citation_mode": mode,
            "answer": text,
        }

"""One chat or agent turn as a stream of typed events (:mod:`workbench.events`), whoever asks: the WebSocket route,
the UI or the CLI. The turn runs as every turn does (:class:`~workbench.turns.TurnService`); this module says which
graph answers, with which knobs, which nodes' tokens are the answer, and what ``done`` carries.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from graphs.chat import GENERATE
from graphs.chat_prompts import ANSWER_PROMPTS, DEFAULT_VERSION, prompt_messages
from graphs.chat_state import ChatContext, ChatInput
from workbench.agents import catalog
from workbench.agents.compiler import SpecContext, answer_nodes
from workbench.citations import cited_numbers, supporting_documents
from workbench.documents import COLLECTION_RULE, RetrievedDoc, SearchMode, is_collection_name
from workbench.errors import ConfigurationError, WorkbenchError
from workbench.events import (
    ChatDoneEvent,
    Event,
    InterruptEvent,
    PendingQuestion,
    PublicDocument,
    RetrievalEvent,
    TokenEvent,
)
from workbench.runtime import GraphRun, GraphToken, SessionBusy
from workbench.runtime.threads import INTERRUPTED, Interrupt, pending_questions
from workbench.turns.runner import TurnService

if TYPE_CHECKING:
    from workbench.resources import Resources

__all__ = ["ChatService", "SessionBusy", "TurnRequest", "warm_chat_model"]


def warm_chat_model(resources: Resources, spec: str | None = None) -> float | None:
    """Load the chat model ``spec`` names (default: the configured one) and, for a bundled model, read the default
    answer prompt's fixed instructions into its cache, so that a turn reads only its own passages and question;
    with a local embedder, also open the vector store and search it once (loading the embedding model), so that
    the first question does not wait for that either. The seconds it took, or None for a model that needs no
    warming (cloud, extractive)."""
    choice = resources.models.choose(spec)
    warm = getattr(choice.model, "warm", None)
    if not callable(warm):
        return None
    prompt = ANSWER_PROMPTS[DEFAULT_VERSION]
    started = time.perf_counter()
    _warm_retrieval(resources)
    warm(prompt_messages(prompt, prompt.render(context=""), [HumanMessage("")], ""))
    return time.perf_counter() - started


def _warm_retrieval(resources: Resources) -> None:
    if not resources.settings.embeddings.startswith("local/"):
        return  # a cloud embedder would be called (and billed) for nothing
    try:
        resources.store.search(resources.settings.collection, "warm-up", k=1)
    except WorkbenchError:  # a store in use or built by another embedder: the turn says so
        return


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
    prompt_version: str = DEFAULT_VERSION
    context_tokens: int | None = None
    """Tokens of passages the model reads (see ChatContext.context_tokens); None: the model's default."""
    entry_point: str = "api"
    agent: str | None = None
    """An agent spec (by name) to run instead of the chat graph."""
    continues: bool = False
    """Run the session on from where it stopped, with no new message: the answer to the question it waits on
    (``resume``), or the next step of a fork."""
    resume: Any = None
    """The answer to the session's pending interrupt: a value, or ``{interrupt id: value}`` for several."""

    @property
    def graph(self) -> str:
        return self.agent or "chat"


class ChatService(TurnService):
    """Runs chat turns of the chat graph, or of an agent spec, on ``runtime``."""

    def check(self, request: TurnRequest) -> catalog.Agent | None:
        """Refuse a turn this server cannot run before anything starts: an unknown model, prompt version or
        collection name raises :class:`ConfigurationError`, a cloud model that is not configured
        :class:`~workbench.errors.ProviderUnavailable`. Returns the agent the turn runs, if it names one."""
        self.resources.models.check(request.model)
        agent = None
        if request.agent is not None:
            agent = catalog.require(request.agent)
        if request.prompt_version not in ANSWER_PROMPTS:
            known = ", ".join(ANSWER_PROMPTS)
            raise ConfigurationError(f"unknown prompt version {request.prompt_version[:40]!r}; choose one of {known}")
        if request.collection is not None and not is_collection_name(request.collection):
            raise ConfigurationError(COLLECTION_RULE)
        return agent

    async def _placed(self, request: TurnRequest, event: InterruptEvent) -> InterruptEvent:
        """``event`` with the subgraph namespace of each question (a run's stream names the questions, the
        session's state where they were asked)."""
        where = {q.id: q.namespace for q in await self.pending(request)}
        questions = [q.model_copy(update={"namespace": where.get(q.id) or q.namespace}) for q in event.interrupts]
        return event.model_copy(update={"interrupts": questions})

    async def pending(self, request: TurnRequest) -> list[Interrupt]:
        """The questions the request's session waits on (none when it does not wait)."""
        return await self.runtime.waiting(request.graph, request.session_id)

    async def runnable(self, request: TurnRequest) -> bool:
        """Whether the session has steps left to run without an answer (a fork made before its last step)."""
        head = next(iter(await self.runtime.history(request.graph, request.session_id, limit=1)), None)
        return head is not None and bool(head.next) and not head.interrupts

    async def abandon(self, request: TurnRequest) -> bool:
        """Drop the question the session waits on (back to where its last finished turn ended); False when none."""
        return await self.runtime.abandon(request.graph, request.session_id)

    async def history(self, session_id: str, agent: str | None = None) -> list[BaseMessage]:
        """The conversation so far in ``session_id`` (of the chat graph, or of `agent`: each has its sessions)."""
        return await self.messages(agent or "chat", session_id)

    async def stream(self, request: TurnRequest, run_id: str | None = None) -> AsyncIterator[Event]:
        """Yield :class:`RetrievalEvent`, :class:`TokenEvent` and finally :class:`ChatDoneEvent` for one turn.

        Raises what :meth:`check` raises, :class:`SessionBusy` when the session already has a turn running (in any
        process sharing the sessions), ``TimeoutError`` past ``max_generation_s``; cancelling the consumer aborts
        the run (it is still logged, as aborted; call :meth:`settle` after stopping a turn to be sure its row exists
        even if it never started). ``done`` is yielded once the run's row is in the run log's crash journal.
        """
        agent, model = await asyncio.to_thread(self._checked, request)
        async for event in self._run(request, run_id or str(uuid.uuid4()), model, agent):
            if isinstance(event, InterruptEvent):
                event = await self._placed(request, event)
            yield event

    def _checked(self, request: TurnRequest) -> tuple[catalog.Agent | None, str]:
        """The turn checked: its agent (if any) and the concrete model it runs on."""
        return self.check(request), self.resources.models.concrete(request.model)

    def _model_or_request(self, spec: str | None) -> str | None:
        """The concrete model ``spec`` runs on, or ``spec`` itself when this server cannot serve it."""
        try:
            return self.resources.models.concrete(spec)
        except WorkbenchError:
            return spec

    async def settle(
        self, request: TurnRequest, run_id: str, status: str = "aborted", error: str | None = None
    ) -> None:
        """Make sure a turn that did not finish has its row, then wait until the row is crash-safe (a turn stopped
        before its graph started is logged here, with the model it would have run)."""
        await self.settle_turn(
            request.graph,
            run_id,
            status,
            error,
            lambda: self._model_or_request(request.model),
            request.content,
            entry_point=request.entry_point,
            session_id=request.session_id,
            prompt_version=request.prompt_version,
        )

    def _run(self, request: TurnRequest, run_id: str, model: str, agent: catalog.Agent | None) -> AsyncIterator[Event]:
        context: ChatContext | SpecContext
        if request.agent is None:
            context = ChatContext(
                model=request.model,
                collection=request.collection,
                top_k=request.top_k,
                search_mode=request.search_mode or "hybrid",
                prompt_version=request.prompt_version,
                context_tokens=request.context_tokens,
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
            answering = answer_nodes(agent.spec, agent.path.parent)
        inputs: ChatInput = {"messages": [HumanMessage(request.content)], "metadata": request.metadata}
        run = GraphRun(
            request.graph,
            None if request.continues else dict(inputs),
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
            resume=request.resume if request.continues else None,
            subgraphs=request.agent is not None,  # an agent's answer may come from a subgraph it runs
        )
        docs: list[RetrievedDoc] = []

        def parts(mode: str, chunk: Any) -> Iterator[Event]:
            nonlocal docs
            if mode == "custom" and chunk.get("type") == "retrieval":
                docs = chunk["documents"]
                documents = [PublicDocument.of(d) for d in docs]
                yield RetrievalEvent(run_id=run_id, query=chunk.get("query"), documents=documents)
            elif mode == "token" and isinstance(chunk, GraphToken) and chunk.node in answering:
                yield TokenEvent(content=chunk.text)

        def ending(final: dict[str, Any]) -> Iterator[Event]:
            if final.get(INTERRUPTED):
                questions = [PendingQuestion(**q) for q in pending_questions(final[INTERRUPTED])]
                yield InterruptEvent(run_id=run_id, session_id=request.session_id, interrupts=questions)
                return
            answer = final.get("messages", [])[-1] if final.get("messages") else None
            text = str(answer.content) if isinstance(answer, AIMessage) else ""
            mode: Literal["explicit", "attributed"] = "explicit"
            citations = cited_numbers(text, len(docs))
            if not citations:  # small models often forget [n]: attribute sentences to the passages that hold them
                citations, mode = supporting_documents(text, [d["text"] for d in docs]), "attributed"
            yield ChatDoneEvent(
                run_id=run_id, model=final.get("model"), citations=citations, citation_mode=mode, answer=text
            )

        return self.turn(run, parts, ending)

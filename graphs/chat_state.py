"""State and per-run context of the chat graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from graphs.chat_prompts import DEFAULT_VERSION
from graphs.context import GraphContext
from workbench.documents import RetrievedDoc, SearchMode


class ChatInput(TypedDict, total=False):
    """What a caller sends for one turn."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation; a turn adds one human message (the requirements' ``input_history``)."""
    metadata: dict[str, Any]
    """Payload filters for retrieval, e.g. ``{"source": "install.md"}``."""


class ChatState(ChatInput, total=False):
    """The whole state, persisted per session (thread) by the checkpointer."""

    retrieved_docs: list[RetrievedDoc]
    """The documents of the latest retrieval, with dense, sparse and fused scores."""
    query: str
    """The search query of the current turn (the question, or its rewrite)."""
    turn: str
    """Id of the human message the current ``query`` and ``rewrites`` belong to."""
    rewrites: int
    """How many times the current turn's query was rewritten."""
    model: str
    """The model that served the latest answer."""
    route: str
    """Where the latest retrieval said to go: ``rewrite`` (nothing relevant, rewrites left) or ``generate``."""


@dataclass(kw_only=True)
class ChatContext(GraphContext):
    """Per-run knobs; anything left at None falls back to the process settings."""

    model: str | None = None
    """A "provider/model" string: auto, openai/<model>, groq/<model>, local/smollm2-135m, extractive."""
    collection: str | None = None
    """The Qdrant collection to search."""
    top_k: int | None = None
    """How many documents to retrieve."""
    search_mode: SearchMode = "hybrid"
    """hybrid (dense + BM25 fused with RRF), dense or sparse."""
    prompt_version: str = DEFAULT_VERSION
    """Which version of the answer prompt to use (see chat_prompts.ANSWER_PROMPTS)."""
    context_tokens: int | None = None
    """Tokens of the retrieved passages the model reads: their best sentences for the question (0: the chunks
    whole). None: WORKBENCH_LOCAL_CONTEXT_TOKENS for a bundled model, the chunks whole for any other."""
    max_rewrites: int = 1
    """How many times a turn may rewrite its query and retrieve again."""
    min_relevance: float = 0.3
    """Best dense similarity under which the retrieved documents count as off-topic."""
    use_tools: bool = True
    """Offer the tools to models that support tool calls."""
    max_tool_rounds: int = 3
    """Tool calls allowed per turn before the model must answer."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form labels recorded with the run."""

"""The RAG chat graph: retrieve → decide → (rewrite → retrieve | generate ⇄ tools).

``retrieve`` runs hybrid search (dense + BM25 fused with RRF in Qdrant) with the message's metadata as
filters; ``decide`` sends an off-topic retrieval back through ``rewrite`` (bounded by ``max_rewrites``);
``generate`` streams the answer from the versioned prompt, the trimmed history and the numbered context, and
may call tools when the model supports them.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    trim_messages,
)
from langgraph.config import get_stream_writer
from langgraph.graph import START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from graphs.chat_prompts import REWRITE_PROMPT, answer_prompt, prompt_messages
from graphs.chat_state import ChatContext, ChatInput, ChatState
from graphs.chat_tools import TOOLS
from graphs.context import clients
from workbench.citations import format_context, format_passages
from workbench.context_window import approx_tokens, select_passages
from workbench.documents import RetrievedDoc
from workbench.providers.llm import ModelChoice
from workbench.providers.llm_extractive import ExtractiveChatModel
from workbench.reported_errors import reports_errors
from workbench.runlog.callback import RUNLOG_EVENT
from workbench.runlog.semconv import documents
from workbench.runlog.steps import step
from workbench.settings import Settings

GENERATE = "generate"


def _last_human(messages: list[AnyMessage]) -> HumanMessage:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message
    raise ValueError("the chat graph needs a human message in 'messages'")


def _current_turn(messages: list[AnyMessage]) -> list[AnyMessage]:
    """The messages since the last human message (tool calls and results of this turn)."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return messages[i + 1 :]
    return []


def _approx_tokens(messages: list[BaseMessage]) -> int:
    return sum(len(str(m.content)) // 4 + 4 for m in messages)


async def retrieve(state: ChatState, runtime: Runtime[ChatContext]) -> dict:
    """Search the collection with the turn's query (the question, or its rewrite)."""
    question = _last_human(state["messages"])
    same_turn = state.get("turn") == question.id
    query = state["query"] if same_turn and state.get("query") else str(question.content)
    resources = clients(runtime)
    ctx = runtime.context
    collection, top_k = ctx.collection or resources.settings.collection, ctx.top_k or resources.settings.top_k
    filters = state.get("metadata") or None
    request = {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.retrieval.query.text": query,
        "gen_ai.data_source.id": collection,
        "workbench.retrieval.mode": ctx.search_mode,
        "workbench.retrieval.top_k": top_k,
        "workbench.retrieval.filters": filters,
    }
    with step("retrieval", f"retrieval {collection}", request) as span:
        docs = await asyncio.to_thread(  # opening the store on first use does file I/O: keep it off the loop
            lambda: resources.store.search(collection, query, top_k, filters, ctx.search_mode)
        )
        span.set("gen_ai.retrieval.documents", documents(docs)).set("workbench.retrieval.hits", len(docs))
    rewrites = state.get("rewrites", 0) if same_turn else 0
    return {
        "retrieved_docs": docs,
        "query": query,
        "turn": question.id,
        "rewrites": rewrites,
        "route": _route(docs, rewrites, ctx),
    }


def _route(docs: list[RetrievedDoc], rewrites: int, ctx: ChatContext) -> Literal["rewrite", "generate"]:
    """Rewrite and search again when nothing relevant came back and rewrites are left; else answer."""
    best = max((d["dense_score"] for d in docs if d["dense_score"] is not None), default=None)
    relevant = best is not None and best >= ctx.min_relevance
    return "generate" if relevant or rewrites >= ctx.max_rewrites else "rewrite"


def decide(state: ChatState) -> Literal["rewrite", "generate"]:
    """Where the retrieval said to go. The retrieval decides (it has the run's settings), so the route reads only
    the state: a fork's state written as the retrieval's routes without a run."""
    return "rewrite" if state.get("route") == "rewrite" else "generate"


async def rewrite(state: ChatState, runtime: Runtime[ChatContext]) -> dict:
    """Turn the question into a self-contained search query, using the conversation."""
    ctx = runtime.context
    choice = await asyncio.to_thread(clients(runtime).models.choose, ctx.model)
    messages = state["messages"]
    question = str(_last_human(messages).content)
    earlier = [m for m in messages[:-1] if isinstance(m, HumanMessage)][-3:]
    if isinstance(choice.model, ExtractiveChatModel):
        # No language model: widen the query with the user's previous questions.
        query = " ".join([*(str(m.content) for m in earlier), question])
    else:
        conversation = "\n".join(f"user: {m.content}" for m in earlier) or "(none)"
        prompt = REWRITE_PROMPT.render(conversation=conversation, question=question)
        reply = await choice.model.with_config(tags=["rewrite"]).ainvoke([HumanMessage(prompt)])
        query = str(reply.content).strip().splitlines()[0][:300] if str(reply.content).strip() else question
    return {"query": query, "rewrites": state.get("rewrites", 0) + 1}


async def generate(state: ChatState, runtime: Runtime[ChatContext]) -> dict:
    """Stream the answer from the prompt, the trimmed history and the numbered context."""
    ctx = runtime.context
    resources = clients(runtime)
    choice = await asyncio.to_thread(resources.models.choose, ctx.model)
    docs = state.get("retrieved_docs", [])
    turn = _current_turn(state["messages"])
    if not any(isinstance(m, ToolMessage) for m in turn):
        get_stream_writer()({"type": "retrieval", "documents": docs, "query": state.get("query")})
    await adispatch_custom_event(RUNLOG_EVENT, {"model": choice.spec})  # an aborted run names it too
    prompt = answer_prompt(ctx.prompt_version)
    history = trim_messages(
        state["messages"],
        max_tokens=resources.settings.max_history_tokens,
        token_counter=_approx_tokens,
        strategy="last",
        start_on="human",
    )
    tool_rounds = sum(1 for m in turn if isinstance(m, AIMessage) and m.tool_calls)
    model = choice.model
    if ctx.use_tools and choice.supports_tools and tool_rounds < ctx.max_tool_rounds:
        model = model.bind_tools(TOOLS)  # type: ignore[assignment]
    runnable = model.with_fallbacks([choice.fallback]) if choice.fallback is not None else model
    question = str(_last_human(state["messages"]).content)
    # off the loop: counting tokens loads a bundled model on its first use, and sentence splitting is CPU work
    context = await asyncio.to_thread(_context, question, docs, choice, ctx, resources.settings)
    reply = await runnable.ainvoke(prompt_messages(prompt, prompt.render(context=context), history, context))
    served_by = reply.response_metadata.get("model_name") or choice.spec
    reply.response_metadata = {**reply.response_metadata, "model_name": served_by, "prompt": prompt.id}
    return {"messages": [reply], "model": choice.spec}


def _context(question: str, docs: list[RetrievedDoc], choice: ModelChoice, ctx: ChatContext, settings: Settings) -> str:
    """The numbered passages the model reads: the chunks whole, or their best sentences within a token budget (a
    bundled model's by default: reading is most of its time to first token)."""
    budget = ctx.context_tokens
    if budget is None:
        budget = settings.local_context_tokens if choice.spec.startswith("local/") else 0
    if budget <= 0 or not docs:
        return format_context(docs)
    count = getattr(choice.model, "count_tokens", approx_tokens)
    return format_passages(select_passages(question, docs, budget, count))


def after_generate(state: ChatState) -> Literal["tools", "__end__"]:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else "__end__"


builder = StateGraph(ChatState, context_schema=ChatContext, input_schema=ChatInput)
builder.add_node("retrieve", reports_errors(retrieve))
builder.add_node("rewrite", reports_errors(rewrite))
builder.add_node(GENERATE, reports_errors(generate))
builder.add_node("tools", ToolNode(TOOLS))
builder.add_edge(START, "retrieve")
builder.add_conditional_edges("retrieve", decide)
builder.add_edge("rewrite", "retrieve")
builder.add_conditional_edges(GENERATE, after_generate)
builder.add_edge("tools", GENERATE)

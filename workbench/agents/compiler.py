"""Compiling a checked agent spec into a LangGraph graph.

The graph has one node per spec node and one edge per spec edge, so its drawing is the spec's. The state is a
TypedDict of ``messages`` (appended to), ``metadata`` (the turn's retrieval filters) and the spec's fields. What
each kind of node does:

- ``retriever``: searches the collection for the last human message (the turn's ``metadata`` as filters when
  ``filters_from_metadata``) and writes the hits to its ``documents`` field;
- ``llm``: renders its prompt (``{context}`` from its ``documents`` field, ``{question}``, ``{conversation}``),
  calls the model its logical id names, with the history; runs the tool calls the model makes (at most
  ``MAX_TOOL_ROUNDS`` rounds) inside the node; appends the messages, and writes the answer to ``output``;
- ``router``: passes; its conditional edge takes the first route whose condition holds, else the default;
- ``tool``: calls the tool with arguments from state fields, writes the result to ``output``;
- ``interrupt``: asks a human (LangGraph ``interrupt``) and writes the answer to ``output``;
- ``subgraph``: runs another spec or a built-in graph on the messages and appends what it added.

Every node is wrapped in :func:`workbench.reported_errors.reports_errors`, as the built-in graphs' are.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END as GRAPH_END
from langgraph.graph import START as GRAPH_START
from langgraph.graph import StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graphs.chat_prompts import Prompt, prompt_messages
from graphs.context import GraphContext, clients
from workbench.agents import conditions, registry
from workbench.agents.spec import (
    END,
    START,
    AgentSpec,
    InterruptNode,
    LlmNode,
    RetrieverNode,
    RouterNode,
    SearchMode,
    SubgraphNode,
    ToolNode,
)
from workbench.agents.validate import load_spec
from workbench.citations import format_context
from workbench.documents import RetrievedDoc
from workbench.providers.llm import ModelChoice
from workbench.providers.llm_extractive import ExtractiveChatModel
from workbench.reported_errors import reports_errors
from workbench.resources import Resources
from workbench.runlog.callback import RUNLOG_EVENT

MAX_TOOL_ROUNDS = 3
TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "documents": list[RetrievedDoc],
}
NodeFn = Callable[[dict[str, Any], Runtime["SpecContext"]], Awaitable[dict[str, Any]]]


@dataclass(kw_only=True)
class SpecContext(GraphContext):
    """Per-run overrides of a spec's settings (None: what the spec says), as the chat turn's knobs set them."""

    model: str | None = None
    """A ``provider/model`` string every ``llm`` node runs on instead of its logical id's model."""
    collection: str | None = None
    top_k: int | None = None
    search_mode: SearchMode | None = None


def state_schema(spec: AgentSpec) -> type:
    """The graph's state: messages, metadata, the served model, the turn, and the spec's fields."""
    fields: dict[str, Any] = {
        "messages": Annotated[list[AnyMessage], add_messages],
        "metadata": dict[str, Any],
        "model": str,
        "turn": str,
    }
    fields |= {name: TYPES[field.type] for name, field in spec.state.items()}
    return TypedDict(f"{spec.name}_state", fields, total=False)  # type: ignore[operator]


MAX_DEPTH = 5
"""How deep subgraph nodes may nest (a spec that includes itself through another stops here)."""


def answer_nodes(spec: AgentSpec, folder: Path | None = None, depth: int = 0) -> frozenset[str]:
    """The nodes whose model output is the answer the user sees: ``llm`` nodes that append to messages, and those
    of the specs (or the chat graph) its ``subgraph`` nodes run, whose tokens stream under their own node names."""
    found = {n for n, node in spec.nodes.items() if isinstance(node, LlmNode) and node.append_messages}
    for node in spec.nodes.values():
        if not isinstance(node, SubgraphNode) or depth >= MAX_DEPTH:
            continue
        if node.graph == "chat":
            found.add("generate")
        elif node.agent is not None:
            where = folder or registry.AGENTS_DIR
            path = registry.spec_names(where).get(node.agent)
            if path is not None:
                found |= answer_nodes(load_spec(path, registry.known(where)), where, depth + 1)
    return frozenset(found)


def _endpoint(name: str) -> str:
    return {START: GRAPH_START, END: GRAPH_END}.get(name, name)


def _text(message: BaseMessage | None) -> str:
    return "" if message is None else message.content if isinstance(message.content, str) else str(message.content)


def _humans(messages: list[AnyMessage]) -> list[HumanMessage]:
    return [m for m in messages if isinstance(m, HumanMessage)]


def _last_human(messages: list[AnyMessage]) -> str:
    humans = _humans(messages)
    return _text(humans[-1]) if humans else ""


def _values(spec: AgentSpec, state: dict[str, Any]) -> dict[str, Any]:
    """What a condition sees: every state field (its default when unset), last_message and messages."""
    values = {name: state.get(name, field.default) for name, field in spec.state.items()}
    messages = state.get("messages") or []
    return values | {"last_message": _text(messages[-1]) if messages else "", "messages": list(messages)}


def _context(runtime: Runtime[SpecContext]) -> SpecContext:
    """The run's context, with its clients (a missing one raises :class:`ConfigurationError`)."""
    resources = clients(runtime)
    ctx = runtime.context
    return ctx if isinstance(ctx, SpecContext) else SpecContext(resources=resources)


def _retriever(node: RetrieverNode) -> NodeFn:
    async def run(state: dict[str, Any], runtime: Runtime[SpecContext]) -> dict[str, Any]:
        ctx = _context(runtime)
        resources = clients(runtime)
        filters = (state.get("metadata") or None) if node.filters_from_metadata else None
        query = (state.get(node.query) if node.query else None) or _last_human(state.get("messages") or [])
        docs = await asyncio.to_thread(
            lambda: resources.store.search(  # opening the store on first use does file I/O: keep it off the loop
                ctx.collection or node.collection or resources.settings.collection,
                query,
                ctx.top_k or node.top_k,
                filters,
                ctx.search_mode or node.search,
            )
        )
        update: dict[str, Any] = {node.output: docs}
        if node.query:
            update[node.query] = query
        if node.relevance:
            update[node.relevance] = max((d["dense_score"] for d in docs if d["dense_score"] is not None), default=0.0)
        return update

    return run


def _resolve(
    node: LlmNode, override: str | None, resources: Resources
) -> tuple[ModelChoice, Prompt, dict[str, BaseTool]]:
    """The model an llm node runs on (the turn's, else its logical id's), its prompt and its tools."""
    wanted = override or registry.models(resources.settings)[node.model]
    choice = resources.models.choose(None if wanted == "default" else wanted)
    every = registry.tools()
    return choice, registry.prompts()[node.prompt], {name: every[name] for name in node.tools}


def _llm(spec: AgentSpec, node: LlmNode) -> NodeFn:
    # The search query behind the node's documents, for the retrieval event: the field its retriever searches with.
    query_field = next(
        (n.query for n in spec.nodes.values() if isinstance(n, RetrieverNode) and n.output == node.context and n.query),
        None,
    )

    async def run(state: dict[str, Any], runtime: Runtime[SpecContext]) -> dict[str, Any]:
        # The registries read their files (and import configured tools): off the event loop, with the model.
        ctx = _context(runtime)
        choice, prompt, tools = await asyncio.to_thread(_resolve, node, ctx.model, clients(runtime))
        messages: list[AnyMessage] = list(state.get("messages") or [])
        earlier = [_text(m) for m in _humans(messages)][:-1][-3:]
        if node.output and not node.append_messages and isinstance(choice.model, ExtractiveChatModel):
            # The extractive baseline quotes passages and cannot write a rewrite or a plan: give the node what a
            # search needs instead, the question widened with the user's previous ones (as the chat graph does).
            return {node.output: " ".join([*earlier, _last_human(messages)])}
        docs = list(state.get(node.context) or []) if node.context else []
        if node.context and node.append_messages:  # the answer's passages, as the chat graph announces them
            query = state.get(query_field) if query_field else None
            get_stream_writer()({"type": "retrieval", "documents": docs, "query": query or _last_human(messages)})
        await adispatch_custom_event(RUNLOG_EVENT, {"model": choice.spec})  # an aborted run names it too
        fields = {name: str(state.get(name) or "") for name, f in spec.state.items() if f.type == "str"}
        given = {  # PROMPT_VALUES: validation keeps `str` fields off these names
            "context": format_context(docs) if node.context else "",
            "question": _last_human(messages),
            "conversation": "\n".join(f"user: {text}" for text in earlier) or "(none)",
        }
        system = prompt.render(**(fields | given))
        asking = prompt_messages(prompt, system, messages, given["context"])
        model: Any = choice.model.bind_tools(list(tools.values())) if tools and choice.supports_tools else choice.model
        if choice.fallback is not None:
            model = model.with_fallbacks([choice.fallback])
        added: list[AnyMessage] = []
        for _ in range(MAX_TOOL_ROUNDS + 1):
            reply = await model.ainvoke([*asking, *added])
            added.append(reply)
            calls = reply.tool_calls if isinstance(reply, AIMessage) else []
            if not calls or len(added) > 2 * MAX_TOOL_ROUNDS:
                break
            for call in calls:
                tool = tools.get(call["name"])
                result = await tool.ainvoke(call["args"]) if tool else f"unknown tool {call['name']!r}"
                added.append(ToolMessage(str(result), tool_call_id=call["id"]))
        answer = added[-1]
        if isinstance(answer, AIMessage):
            served_by = answer.response_metadata.get("model_name") or choice.spec
            answer.response_metadata = {**answer.response_metadata, "model_name": served_by, "prompt": prompt.id}
        update: dict[str, Any] = {"messages": added, "model": choice.spec} if node.append_messages else {}
        if node.output:
            update[node.output] = _text(answer)
        return update

    return run


def _router() -> NodeFn:
    async def run(state: dict[str, Any], runtime: Runtime[SpecContext]) -> dict[str, Any]:
        return {}

    return run


def _route(spec: AgentSpec, node: RouterNode) -> Callable[[dict[str, Any]], str]:
    def route(state: dict[str, Any]) -> str:
        values = _values(spec, state)
        return next((name for name, cond in node.routes.items() if conditions.evaluate(cond, values)), node.default)

    return route


def _tool(node: ToolNode) -> NodeFn:
    async def run(state: dict[str, Any], runtime: Runtime[SpecContext]) -> dict[str, Any]:
        arguments = {argument: state.get(field) for argument, field in node.arguments.items()}
        return {node.output: await registry.tools()[node.tool].ainvoke(arguments)}

    return run


def _interrupt(node: InterruptNode) -> NodeFn:
    async def run(state: dict[str, Any], runtime: Runtime[SpecContext]) -> dict[str, Any]:
        return {node.output: str(interrupt({"question": node.question}))}

    return run


def _subgraph(node: SubgraphNode, folder: Path, depth: int) -> NodeFn:
    if node.graph is not None:
        from graphs import chat, voice

        builders: dict[str, StateGraph[Any, Any, Any, Any]] = {"chat": chat.builder, "voice": voice.builder}
        inner: Any = builders[node.graph].compile(name=node.graph)
    else:
        path = registry.spec_names(folder)[str(node.agent)]
        inner = compile_spec(load_spec(path, registry.known(folder)), folder=folder, depth=depth + 1)

    async def run(state: dict[str, Any], runtime: Runtime[SpecContext]) -> dict[str, Any]:
        before = list(state.get("messages") or [])
        ctx = _context(runtime)
        context = ctx if node.agent is not None else inner.context_schema(resources=ctx.resources)
        result = await inner.ainvoke({"messages": before, "metadata": state.get("metadata") or {}}, context=context)
        return {"messages": list(result.get("messages") or [])[len(before) :]}

    return run


def _per_turn(spec: AgentSpec, fn: NodeFn, counters: list[str]) -> NodeFn:
    """`fn` on a state whose turn fields are fresh, then 1 added to each of `counters`.

    A session's state outlives its turns (the checkpointer keeps it): the first node of a turn (a new human
    message) starts the spec's fields that do not ``persist`` from their defaults, so a counter or a rewritten
    query of the previous turn never leaks into this one, and those that ``persist`` from their defaults in the
    session's first turn: every node and tool sees each field with a value of its type, never None."""
    fresh = {name: field.default for name, field in spec.state.items() if not field.persist}
    kept = {name: field.default for name, field in spec.state.items() if field.persist}

    async def run(state: dict[str, Any], runtime: Runtime[SpecContext]) -> dict[str, Any]:
        humans = _humans(list(state.get("messages") or []))
        turn = str(humans[-1].id) if humans else ""
        reset: dict[str, Any] = {}
        if state.get("turn") != turn:
            unset = {name: value for name, value in kept.items() if state.get(name) is None}
            reset = {name: copy.deepcopy(value) for name, value in (fresh | unset).items()} | {"turn": turn}
            state = state | reset
        update = reset | await fn(state, runtime)
        return update | {name: int(state.get(name) or 0) + 1 for name in counters}

    return run


def compile_spec(
    spec: AgentSpec,
    *,
    folder: Path = registry.AGENTS_DIR,
    depth: int = 0,
    checkpointer: BaseCheckpointSaver | None = None,
) -> CompiledStateGraph:
    """The spec (checked by :func:`workbench.agents.validate.load_spec`) as a compiled graph named after it."""
    if depth > MAX_DEPTH:
        raise ValueError("subgraphs nest more than 5 deep (does a spec include itself through another?)")
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(state_schema(spec), context_schema=SpecContext)
    for name, node in spec.nodes.items():
        fn: NodeFn
        if isinstance(node, RetrieverNode):
            fn = _retriever(node)
        elif isinstance(node, LlmNode):
            fn = _llm(spec, node)
        elif isinstance(node, RouterNode):
            fn = _router()
        elif isinstance(node, ToolNode):
            fn = _tool(node)
        elif isinstance(node, InterruptNode):
            fn = _interrupt(node)
        else:
            fn = _subgraph(node, folder, depth)
        wrapped: Any = reports_errors(_per_turn(spec, fn, node.increment))  # LangGraph's overloads want a typed state
        builder.add_node(name, wrapped)
    for edge in spec.edges:
        builder.add_edge(_endpoint(edge.source), _endpoint(edge.target))
    for cond in spec.conditional_edges:
        router = spec.nodes[cond.source]
        assert isinstance(router, RouterNode)  # checked by validation
        targets: dict[Hashable, str] = {route: _endpoint(target) for route, target in cond.map.items()}
        choose: Any = _route(spec, router)
        builder.add_conditional_edges(cond.source, choose, targets)
    return builder.compile(checkpointer=checkpointer, name=spec.name)

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

Every node is wrapped in :func:`workbench.runtime.errors.reports_errors`, as the built-in graphs' are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END as GRAPH_END
from langgraph.graph import START as GRAPH_START
from langgraph.graph import StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from workbench.agents import conditions, registry
from workbench.agents.spec import (
    END,
    START,
    AgentSpec,
    InterruptNode,
    LlmNode,
    RetrieverNode,
    RouterNode,
    SubgraphNode,
    ToolNode,
)
from workbench.agents.validate import load_spec
from workbench.citations import format_context
from workbench.documents import RetrievedDoc
from workbench.resources import get_resources
from workbench.runtime.errors import reports_errors

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
NodeFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def state_schema(spec: AgentSpec) -> type:
    """The graph's state: messages, metadata and the spec's fields."""
    fields: dict[str, Any] = {"messages": Annotated[list[AnyMessage], add_messages], "metadata": dict[str, Any]}
    fields |= {name: TYPES[field.type] for name, field in spec.state.items()}
    return TypedDict(f"{spec.name}_state", fields, total=False)  # type: ignore[operator]


def _endpoint(name: str) -> str:
    return {START: GRAPH_START, END: GRAPH_END}.get(name, name)


def _text(message: BaseMessage | None) -> str:
    return "" if message is None else message.content if isinstance(message.content, str) else str(message.content)


def _last_human(messages: list[AnyMessage]) -> str:
    return next((_text(m) for m in reversed(messages) if isinstance(m, HumanMessage)), "")


def _values(spec: AgentSpec, state: dict[str, Any]) -> dict[str, Any]:
    """What a condition sees: every state field (its default when unset), last_message and messages."""
    values = {name: state.get(name, field.default) for name, field in spec.state.items()}
    messages = state.get("messages") or []
    return values | {"last_message": _text(messages[-1]) if messages else "", "messages": list(messages)}


def _retriever(node: RetrieverNode) -> NodeFn:
    async def run(state: dict[str, Any]) -> dict[str, Any]:
        resources = get_resources()
        filters = (state.get("metadata") or None) if node.filters_from_metadata else None
        query = (state.get(node.query) if node.query else None) or _last_human(state.get("messages") or [])
        docs = await asyncio.to_thread(
            resources.store.search,
            node.collection or resources.settings.collection,
            query,
            node.top_k,
            filters,
            node.search,
        )
        update: dict[str, Any] = {node.output: docs}
        if node.relevance:
            update[node.relevance] = max((d["dense_score"] for d in docs if d["dense_score"] is not None), default=0.0)
        return update

    return run


def _llm(node: LlmNode) -> NodeFn:
    async def run(state: dict[str, Any]) -> dict[str, Any]:
        choice = await asyncio.to_thread(get_resources().models.choose, registry.models()[node.model])
        messages: list[AnyMessage] = list(state.get("messages") or [])
        earlier = [_text(m) for m in messages if isinstance(m, HumanMessage)][:-1][-3:]
        system = registry.prompts()[node.prompt].render(
            context=format_context(state.get(node.context) or []) if node.context else "",
            question=_last_human(messages),
            conversation="\n".join(f"user: {text}" for text in earlier) or "(none)",
        )
        tools = {name: registry.tools()[name] for name in node.tools}
        model: Any = choice.model.bind_tools(list(tools.values())) if tools and choice.supports_tools else choice.model
        added: list[AnyMessage] = []
        for _ in range(MAX_TOOL_ROUNDS + 1):
            reply = await model.ainvoke([SystemMessage(system), *messages, *added])
            added.append(reply)
            calls = reply.tool_calls if isinstance(reply, AIMessage) else []
            if not calls or len(added) > 2 * MAX_TOOL_ROUNDS:
                break
            for call in calls:
                tool = tools.get(call["name"])
                result = await tool.ainvoke(call["args"]) if tool else f"unknown tool {call['name']!r}"
                added.append(ToolMessage(str(result), tool_call_id=call["id"]))
        update: dict[str, Any] = {"messages": added} if node.append_messages else {}
        if node.output:
            update[node.output] = _text(added[-1])
        return update

    return run


def _router() -> NodeFn:
    async def run(state: dict[str, Any]) -> dict[str, Any]:
        return {}

    return run


def _route(spec: AgentSpec, node: RouterNode) -> Callable[[dict[str, Any]], str]:
    def route(state: dict[str, Any]) -> str:
        values = _values(spec, state)
        return next((name for name, cond in node.routes.items() if conditions.evaluate(cond, values)), node.default)

    return route


def _tool(node: ToolNode) -> NodeFn:
    async def run(state: dict[str, Any]) -> dict[str, Any]:
        arguments = {argument: state.get(field) for argument, field in node.arguments.items()}
        return {node.output: await registry.tools()[node.tool].ainvoke(arguments)}

    return run


def _interrupt(node: InterruptNode) -> NodeFn:
    async def run(state: dict[str, Any]) -> dict[str, Any]:
        return {node.output: str(interrupt({"question": node.question}))}

    return run


def _subgraph(node: SubgraphNode, folder: Path, depth: int) -> NodeFn:
    if node.graph is not None:
        from graphs import chat, voice

        inner: Any = {"chat": chat.graph, "voice": voice.graph}[node.graph]
    else:
        path = registry.spec_names(folder)[str(node.agent)]
        inner = compile_spec(load_spec(path, registry.known(folder)), folder=folder, depth=depth + 1)

    async def run(state: dict[str, Any]) -> dict[str, Any]:
        before = list(state.get("messages") or [])
        result = await inner.ainvoke({"messages": before, "metadata": state.get("metadata") or {}})
        return {"messages": list(result.get("messages") or [])[len(before) :]}

    return run


def _counting(fn: NodeFn, counters: list[str]) -> NodeFn:
    """`fn`, then 1 added to each of `counters`."""
    if not counters:
        return fn

    async def run(state: dict[str, Any]) -> dict[str, Any]:
        update = await fn(state)
        return update | {name: int(state.get(name) or 0) + 1 for name in counters}

    return run


def compile_spec(spec: AgentSpec, *, folder: Path = registry.AGENTS_DIR, depth: int = 0) -> CompiledStateGraph:
    """The spec (checked by :func:`workbench.agents.validate.load_spec`) as a compiled graph named after it."""
    if depth > 5:
        raise ValueError("subgraphs nest more than 5 deep (does a spec include itself through another?)")
    builder: StateGraph[Any, None, Any, Any] = StateGraph(state_schema(spec))
    for name, node in spec.nodes.items():
        fn: NodeFn
        if isinstance(node, RetrieverNode):
            fn = _retriever(node)
        elif isinstance(node, LlmNode):
            fn = _llm(node)
        elif isinstance(node, RouterNode):
            fn = _router()
        elif isinstance(node, ToolNode):
            fn = _tool(node)
        elif isinstance(node, InterruptNode):
            fn = _interrupt(node)
        else:
            fn = _subgraph(node, folder, depth)
        builder.add_node(name, reports_errors(_counting(fn, node.increment)))  # type: ignore[call-overload]
    for edge in spec.edges:
        builder.add_edge(_endpoint(edge.source), _endpoint(edge.target))
    for cond in spec.conditional_edges:
        router = spec.nodes[cond.source]
        assert isinstance(router, RouterNode)  # checked by validation
        targets = {route: _endpoint(target) for route, target in cond.map.items()}
        builder.add_conditional_edges(cond.source, _route(spec, router), targets)  # type: ignore[arg-type]
    return builder.compile(name=spec.name)

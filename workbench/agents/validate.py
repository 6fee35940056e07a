"""Checking a spec before anything is built: its shape, its graph, its references and its state types.

Every problem is collected, with the file, the line and the node it is about, and raised at once as a
:class:`~workbench.agents.source.SpecError`: unknown node kinds and fields, edges to nodes that do not exist,
nodes that cannot be reached from START or cannot reach END, routers whose conditional map misses a route or
names one they do not have, conditions outside the condition language, models, prompts, tools and agents the
registries do not know, and state fields of the wrong type for where they are used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from workbench.agents import conditions
from workbench.agents.source import SpecError, SpecProblem, SpecSource, read_spec
from workbench.agents.spec import (
    BUILT_IN_GRAPHS,
    END,
    KEPT_FIELDS,
    PROMPT_VALUES,
    START,
    ZERO,
    AgentSpec,
    InterruptNode,
    LlmNode,
    RetrieverNode,
    RouterNode,
    SubgraphNode,
    ToolNode,
)


@dataclass(frozen=True)
class Known:
    """What the registries hold, for checking a spec's references (logical model ids, name@version prompts,
    tools, and the agents and built-in graphs a subgraph may name)."""

    models: frozenset[str] = frozenset()
    prompts: frozenset[str] = frozenset()
    tools: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    prompt_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """The placeholders of each prompt's template."""


_DEFAULT_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "documents": (list,),
}


@dataclass
class _Report:
    source: SpecSource
    problems: list[SpecProblem] = field(default_factory=list)

    def add(self, message: str, *path: str | int, node: str | None = None) -> None:
        self.problems.append(SpecProblem(self.source.file, self.source.line(*path), message, node))


def load_spec(path: Path, known: Known) -> AgentSpec:
    """The spec in `path`, checked; :class:`SpecError` with every problem otherwise."""
    return check(read_spec(path), known)


def check(source: SpecSource, known: Known) -> AgentSpec:
    report = _Report(source)
    data = source.data
    if not isinstance(data, dict):
        raise SpecError([SpecProblem(source.file, 1, "must be a mapping with name, version and nodes")])
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            node = str(loc[1]) if len(loc) > 1 and loc[0] == "nodes" else None
            report.problems.append(SpecProblem(source.file, source.line_of_loc(loc), _say(error), node))
        raise SpecError(report.problems) from None
    if spec.name in BUILT_IN_GRAPHS:
        report.add(f"the name {spec.name!r} is a built-in graph's; choose another", "name")
    _check_graph(spec, report)
    _check_references(spec, report, known)
    _check_state(spec, report)
    if report.problems:
        raise SpecError(sorted(report.problems, key=lambda p: (p.line or 0, p.message)))
    return spec


def _say(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "union_tag_invalid":
        return (
            f"unknown node kind {error['input'].get('kind')!r}; use llm, retriever, tool, router, subgraph or interrupt"
        )
    if kind == "union_tag_not_found":
        return "a node needs a kind: llm, retriever, tool, router, subgraph or interrupt"
    if kind == "extra_forbidden":
        return f"unknown field {loc.rsplit('.', 1)[-1]!r}"
    if kind == "missing":
        return f"missing field {loc.rsplit('.', 1)[-1]!r}"
    return f"{loc}: {error['msg']}"


def _check_graph(spec: AgentSpec, report: _Report) -> None:
    nodes = set(spec.nodes)
    outgoing: dict[str, set[str]] = defaultdict(set)
    for i, edge in enumerate(spec.edges):
        if edge.source != START and edge.source not in nodes:
            report.add(f"edge from unknown node {edge.source!r}", "edges", i, "from")
        if edge.target != END and edge.target not in nodes:
            report.add(f"edge to unknown node {edge.target!r}", "edges", i, "to")
        if isinstance(spec.nodes.get(edge.source), RouterNode):
            report.add("a router's next nodes go in conditional_edges, not edges", "edges", i, node=edge.source)
        outgoing[edge.source].add(edge.target)
    mapped: set[str] = set()
    for i, cond in enumerate(spec.conditional_edges):
        router = spec.nodes.get(cond.source)
        if not isinstance(router, RouterNode):
            report.add(f"conditional edge from {cond.source!r}, which is not a router", "conditional_edges", i)
            continue
        mapped.add(cond.source)
        routes = set(router.routes) | {router.default}
        for route in sorted(routes - set(cond.map)):
            report.add(f"the conditional map misses route {route!r}", "conditional_edges", i, "map", node=cond.source)
        for route in sorted(set(cond.map) - routes):
            report.add(f"route {route!r} is not one of the router's", "conditional_edges", i, "map", route,
                       node=cond.source)  # fmt: skip
        for route, target in cond.map.items():
            if target != END and target not in nodes:
                report.add(f"route {route!r} goes to unknown node {target!r}", "conditional_edges", i, "map", route)
            outgoing[cond.source].add(target)
    for name, node in spec.nodes.items():
        if isinstance(node, RouterNode) and name not in mapped:
            report.add("a router needs a conditional edge mapping its routes", "nodes", name, node=name)
    if not outgoing.get(START):
        report.add("no edge from START: say where the graph begins", "edges")
    reachable = _closure({START}, outgoing)
    incoming: dict[str, set[str]] = defaultdict(set)
    for source, targets in outgoing.items():
        for target in targets:
            incoming[target].add(source)
    finishing = _closure({END}, incoming)
    for name in spec.nodes:
        if name not in reachable:
            report.add("cannot be reached from START", "nodes", name, node=name)
        elif name not in finishing:
            report.add("cannot reach END", "nodes", name, node=name)


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _check_references(spec: AgentSpec, report: _Report, known: Known) -> None:
    for name, node in spec.nodes.items():
        if isinstance(node, LlmNode):
            if node.model not in known.models:
                report.add(f"unknown model {node.model!r}; models: {', '.join(sorted(known.models))}", "nodes", name,
                           "model", node=name)  # fmt: skip
            if node.prompt not in known.prompts:
                report.add(f"unknown prompt {node.prompt!r}; prompts: {', '.join(sorted(known.prompts))}", "nodes",
                           name, "prompt", node=name)  # fmt: skip
            strings = {field for field, f in spec.state.items() if f.type == "str"} | set(PROMPT_VALUES)
            for placeholder in sorted(known.prompt_fields.get(node.prompt, frozenset()) - strings):
                report.add(f"prompt {node.prompt!r} uses {{{placeholder}}}: declare it as a `str` state field",
                           "nodes", name, "prompt", node=name)  # fmt: skip
            for i, tool in enumerate(node.tools):
                if tool not in known.tools:
                    report.add(f"unknown tool {tool!r}; tools: {', '.join(sorted(known.tools))}", "nodes", name,
                               "tools", i, node=name)  # fmt: skip
        elif isinstance(node, ToolNode) and node.tool not in known.tools:
            report.add(f"unknown tool {node.tool!r}; tools: {', '.join(sorted(known.tools))}", "nodes", name, "tool",
                       node=name)  # fmt: skip
        elif isinstance(node, SubgraphNode):
            if (node.agent is None) == (node.graph is None):
                report.add("a subgraph names either an agent or a graph", "nodes", name, node=name)
            elif node.agent is not None and (node.agent not in known.agents or node.agent == spec.name):
                report.add(f"unknown agent {node.agent!r} (a spec may not contain itself)", "nodes", name, "agent",
                           node=name)  # fmt: skip


def _check_state(spec: AgentSpec, report: _Report) -> None:
    fields = {name: f.type for name, f in spec.state.items()}
    if "messages" in fields:
        report.add("`messages` is every spec's conversation; do not declare it", "state", "messages")
    for name in sorted((set(KEPT_FIELDS) - {"messages"}) & set(fields)):
        report.add(
            f"state field {name!r} is kept by every agent (filters, served model, turn); rename it", "state", name
        )
    for name in sorted(set(PROMPT_VALUES) & {n for n, kind in fields.items() if kind == "str"}):
        report.add(f"state field {name!r} collides with {{{name}}}, which every prompt receives as "
                   f"{PROMPT_VALUES[name]}; rename the field (e.g. 'my_{name}')", "state", name)  # fmt: skip
    for name in sorted((set(conditions.BUILTIN_NAMES) - {"messages"}) & set(fields)):
        report.add(f"state field {name!r} collides with the name conditions read as "
                   f"{conditions.BUILTIN_NAMES[name]}; rename the field (e.g. 'my_{name}')", "state", name)  # fmt: skip
    for name, declared in spec.state.items():
        wanted = _DEFAULT_TYPES[declared.type]
        if not isinstance(declared.default, wanted) or (isinstance(declared.default, bool) and bool not in wanted):
            zero = repr(ZERO[declared.type]).replace("'", '"')
            report.add(f"state field {name!r} is of type {declared.type}: give it a default of that type, or leave "
                       f"`default` out (it then starts as {zero})", "state", name, "default")  # fmt: skip

    def need(node: str, key: str, fieldname: str | None, types: tuple[str, ...]) -> None:
        if fieldname is None:
            return
        if fieldname not in fields:
            report.add(f"{key} names state field {fieldname!r}, which the state does not declare", "nodes", node,
                       key, node=node)  # fmt: skip
        elif fields[fieldname] not in types:
            report.add(f"{key} needs a {' or '.join(types)} field; {fieldname!r} is {fields[fieldname]}", "nodes",
                       node, key, node=node)  # fmt: skip

    for name, node in spec.nodes.items():
        for counter in node.increment:
            need(name, "increment", counter, ("int",))
        if isinstance(node, RetrieverNode):
            need(name, "output", node.output, ("documents",))
            need(name, "query", node.query, ("str",))
            need(name, "relevance", node.relevance, ("float",))
        elif isinstance(node, LlmNode):
            need(name, "context", node.context, ("documents",))
            need(name, "output", node.output, ("str",))
        elif isinstance(node, ToolNode):
            need(name, "output", node.output, ("str", "int", "float", "bool", "list", "dict"))
            for argument, fieldname in node.arguments.items():
                if fieldname not in fields:
                    report.add(f"argument {argument!r} reads undeclared state field {fieldname!r}", "nodes", name,
                               "arguments", argument, node=name)  # fmt: skip
        elif isinstance(node, InterruptNode):
            need(name, "output", node.output, ("str",))
        elif isinstance(node, RouterNode):
            for route, condition in node.routes.items():
                for problem in conditions.problems(condition, set(fields)):
                    report.add(f"route {route!r}: {problem}", "nodes", name, "routes", route, node=name)

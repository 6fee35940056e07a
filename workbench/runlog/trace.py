"""A run's trace as a tree: its spans nested by parent, the critical path that set its wall time, and the time and
tokens it spent by kind. Pure functions over the span rows that :func:`~workbench.runlog.queries.get_trace` reads,
shared by the trace view, ``workbench runs show`` and the run list's roll-ups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROLLUP_KINDS = {"llm": "llm_ms", "retrieval": "retrieval_ms", "speech": "speech_ms", "tool": "tool_ms"}
"""Span kinds whose time a run's roll-up adds up, and the name of each total."""


_NEVER = float("inf")


def _seconds(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else _NEVER


@dataclass
class Node:
    """One span and its children (ordered by start); its start and end in seconds, computed once."""

    span: dict[str, Any]
    children: list[Node] = field(default_factory=list)
    depth: int = 0
    start: float = _NEVER
    end: float = _NEVER

    def __post_init__(self) -> None:
        self.start = _seconds(self.span.get("started_at"))
        self.end = _seconds(self.span.get("ended_at"))
        if self.end == _NEVER and self.start != _NEVER:  # still open: as long as it has lasted so far
            self.end = self.start + (self.span.get("duration_ms") or 0.0) / 1000

    @property
    def span_id(self) -> str:
        return str(self.span["span_id"])


def build_tree(spans: Iterable[dict[str, Any]]) -> list[Node]:
    """The roots of ``spans`` with their children nested, each level by start time. A span whose parent is not
    among them (its run was killed before the parent ended), or that a loop of parent links would hide, is a root,
    so nothing is hidden."""
    nodes = {str(span["span_id"]): Node(span) for span in spans}
    roots: list[Node] = []
    for node in nodes.values():
        parent = nodes.get(str(node.span.get("parent_id"))) if node.span.get("parent_id") else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    seen: set[int] = set()
    pending = list(roots)
    while True:
        stack = [(root, 0) for root in pending]
        while stack:
            node, depth = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            node.depth = depth
            node.children.sort(key=lambda child: (child.start, child.span_id))
            stack.extend((child, depth + 1) for child in node.children)
        unseen = [node for node in nodes.values() if id(node) not in seen]
        if not unseen:
            break
        for node in unseen[:1]:  # a loop: cut it at one of its spans
            for other in nodes.values():
                if node in other.children:
                    other.children.remove(node)
            roots.append(node)
        pending = unseen[:1]
    roots.sort(key=lambda root: (root.start, root.span_id))
    return roots


def walk(roots: list[Node]) -> Iterator[Node]:
    """Every node, depth first, in the order a tree view lists them."""
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def critical_path(roots: list[Node]) -> list[str]:
    """The ids of the spans that set the trace's wall time, outermost first.

    From each span on the path, walking back from its end: the child that ended last is on the path, then the one
    that ended last before that child started, and so on (the children that ran while a later-ending sibling ran
    did not make the parent wait). Spans without times are never on it."""
    timed = [root for root in roots if root.start != _NEVER]
    if not timed:
        return []
    path: list[str] = []
    stack = [max(timed, key=lambda root: root.end)]
    while stack:
        node = stack.pop()
        path.append(node.span_id)
        cursor, start = node.end, node.start
        chosen: list[Node] = []
        for child in sorted((c for c in node.children if c.start != _NEVER), key=lambda c: c.end, reverse=True):
            within = start - 1e-6 < child.end <= cursor + 1e-6
            outlived = not chosen and child.end > cursor  # a child that ended after its parent (clock skew)
            if within or outlived:
                chosen.append(child)
                cursor = child.start
        stack.extend(chosen)
    order = {node.span_id: index for index, node in enumerate(walk(roots))}
    return sorted(set(path), key=lambda span_id: order.get(span_id, 0))


def rollup(spans: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A run's totals: the time its LLM calls, retrievals, speech steps and tools took, the LLM calls' tokens
    in and out, and how many spans (and errors) it has."""
    totals: dict[str, Any] = defaultdict(float)
    count = errors = tokens_in = tokens_out = 0
    for span in spans:
        count += 1
        errors += span.get("status") == "error"
        name = ROLLUP_KINDS.get(str(span.get("kind")))
        if name is not None:
            totals[name] += span.get("duration_ms") or 0.0
        if span.get("kind") == "llm":
            attributes = span.get("attributes") or {}
            tokens_in += int(attributes.get("gen_ai.usage.input_tokens") or 0)
            tokens_out += int(attributes.get("gen_ai.usage.output_tokens") or 0)
    return {
        **{name: round(totals[name], 3) for name in ROLLUP_KINDS.values()},
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "spans": count,
        "errors": errors,
    }


def render_tree(roots: list[Node], *, width: int = 100) -> list[str]:
    """The tree as terminal lines: indented names, kind, duration and status, ``*`` on the critical path."""
    critical = set(critical_path(roots))
    lines = []
    for node in walk(roots):
        span = node.span
        duration = span.get("duration_ms")
        took = f"{duration:9.1f} ms" if isinstance(duration, int | float) else "        ? ms"
        mark = "*" if node.span_id in critical else " "
        status = "" if span.get("status") == "ok" else f"  [{span.get('status')}]"
        label = f"{'  ' * node.depth}{span.get('name')} ({span.get('kind')})"
        lines.append(f"{mark} {label[: width - 30]:<{width - 30}} {took}{status}")
    return lines

"""What the Threads tab shows of a graph's sessions, as tables, Markdown and JSON: the threads listed, a session's
checkpoints as a timeline, one checkpoint's state and what changed since the one before it, the graph drawn with
that checkpoint's node marked, the fork's starting edit, and the inbox of sessions waiting on a human.

Everything that comes from a session (questions, answers, state values) goes into table cells and code blocks as
text, or into Markdown through :func:`~workbench.audit.markdown.md_text`; the trace links are the view's own HTML.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from workbench.audit.markdown import md_fence, md_text
from workbench.runtime.threads import Checkpoint, Interrupt, ThreadSummary
from workbench.ui.runs_view import excerpt
from workbench.ui.trace_links import trace_link

THREAD_COLUMNS = ["session", "first question", "status", "updated (UTC)", "forked from"]
TIMELINE_COLUMNS = ["step", "node", "namespace", "time (UTC)", "run", "next"]
TIMELINE_TYPES: list[Literal["str", "html"]] = ["str", "str", "str", "str", "html", "str"]
"""Everything from a session is text; the run's trace link is the view's own HTML."""
INBOX_COLUMNS = ["graph", "session", "question(s)", "first question", "updated (UTC)"]
STATE_CHARS = 20_000
"""Characters of a checkpoint's state shown as JSON (the rest is cut, and says so)."""
MARK_STYLE = "fill:#fde68a,stroke:#b45309,stroke-width:3px"
"""How the selected checkpoint's node stands out in the drawing."""
_NODE_LINE = re.compile(r"^\s*([A-Za-z0-9_\\-]+)[(\[]", re.MULTILINE)


def when(stamp: str | None) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` (UTC, as the checkpointer writes it)."""
    return (stamp or "").replace("T", " ")[:19]


def warning(text: object) -> str:
    """A problem for a status line: escaped, one line."""
    return f"⚠️ {md_text(text)}"


def thread_rows(threads: list[ThreadSummary]) -> pd.DataFrame:
    """The graph's sessions in the order given (newest first): id, what it was about, idle or waiting, when it
    last changed, and the session a fork was made from."""
    rows = [
        [
            t.session_id,
            excerpt(t.first_question),
            t.status,
            when(t.updated_at),
            t.forked_from["session_id"] if t.forked_from else "",
        ]
        for t in threads
    ]
    return pd.DataFrame(rows, columns=THREAD_COLUMNS)


def short_namespace(namespace: str) -> str:
    """A subgraph namespace as a column shows it: each level's node with the first 8 characters of its task id
    (``review:1f1f24c8``), levels joined by ``›``; blank for the graph itself."""
    levels = [part.partition(":") for part in namespace.split("|") if part]
    return " › ".join(f"{node}:{task[:8]}" if task else node for node, _, task in levels)


def timeline_rows(records: list[Checkpoint]) -> pd.DataFrame:
    """A session's checkpoints in the order given (newest first, the graph's own before its subgraphs'): the step,
    the node that wrote it, its namespace, when, a link to its run's trace and what runs next."""
    rows = [
        [
            str(r.step),
            r.node,
            short_namespace(r.namespace),
            when(r.created_at),
            trace_link(r.run_id, r.run_id[:8]) if r.run_id else "",
            ", ".join(r.next),
        ]
        for r in records
    ]
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def checkpoint_label(record: Checkpoint) -> str:
    """How the checkpoint picker names a checkpoint: step, node, what runs next and its subgraph."""
    label = f"step {record.step} · {record.node or record.source}"
    if record.next:
        label += f" → {', '.join(record.next)}"
    return label + (f" · {short_namespace(record.namespace)}" if record.namespace else "")


def previous(records: list[Checkpoint], record: Checkpoint) -> Checkpoint | None:
    """The checkpoint before ``record`` in its namespace: its parent, else the next older one listed there."""
    same = [r for r in records if r.namespace == record.namespace]
    parent = next((r for r in same if r.checkpoint_id == record.parent_id), None)
    if parent is not None:
        return parent
    index = next((i for i, r in enumerate(same) if r.checkpoint_id == record.checkpoint_id), None)
    return same[index + 1] if index is not None and index + 1 < len(same) else None


@dataclass(frozen=True)
class StateDiff:
    """What a step changed: the messages it added (or replaced, by id) and the other fields whose values differ."""

    messages_added: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[str, Any, Any]] = field(default_factory=list)
    """``(field, before, after)``; a field that was not there before has ``None`` before, one removed ``None`` after."""

    @property
    def empty(self) -> bool:
        return not self.messages_added and not self.changed


def state_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> StateDiff:
    """The change from state ``before`` to ``after`` (both as history records give them): ``messages`` compared by
    id (a message whose id is new, or whose content changed, counts as added), every other field by value."""
    before = before or {}
    known = {m.get("id"): m for m in before.get("messages") or [] if isinstance(m, dict)}
    added = [
        m
        for m in after.get("messages") or []
        if isinstance(m, dict) and (m.get("id") not in known or known[m.get("id")] != m)
    ]
    fields = sorted((set(before) | set(after)) - {"messages"})
    changed = [(name, before.get(name), after.get(name)) for name in fields if before.get(name) != after.get(name)]
    return StateDiff(added, changed)


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def diff_markdown(diff: StateDiff, first: bool = False) -> str:
    """The diff as Markdown: the messages added, then a table of the fields changed (values cut to a line)."""
    if first:
        return "_The first checkpoint of its namespace: nothing before it to compare with._"
    if diff.empty:
        return "_Nothing changed since the checkpoint before it._"
    lines = []
    if diff.messages_added:
        lines.append(f"**Messages added:** {len(diff.messages_added)}")
        lines += [f"- {md_text(m.get('type'))}: {md_text(excerpt(_value_text(m.get('content')), 160))}"
                  for m in diff.messages_added]  # fmt: skip
    if diff.changed:
        lines += ["", "| field | before | after |", "|---|---|---|"]
        lines += [
            f"| {md_text(name)} | {md_text(excerpt(_value_text(old), 120)) if old is not None else '–'} | "
            f"{md_text(excerpt(_value_text(new), 120)) if new is not None else '–'} |"
            for name, old, new in diff.changed
        ]
    return "\n".join(lines)


def state_json(values: dict[str, Any]) -> str:
    """A checkpoint's state as indented JSON, at most :data:`STATE_CHARS` characters."""
    text = json.dumps(values, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= STATE_CHARS else text[:STATE_CHARS] + f"\n…[cut: {len(text)} characters in all]"


def marked_nodes(record: Checkpoint) -> list[str]:
    """The nodes of the graph's drawing that made ``record``: its writers for the graph's own checkpoints (the
    start for a run's input), the node that runs the subgraph for a subgraph's."""
    if record.namespace:
        return [record.namespace.split("|")[0].partition(":")[0]]
    if record.node == "input":
        return ["__start__"]
    return [name.strip() for name in record.node.split(",") if name.strip()]


def mermaid_id(name: str) -> str:
    """A node's id in LangGraph's Mermaid drawings (letters, digits, ``_`` and ``-`` kept, others as ``\\hex``)."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else f"\\{ord(ch):x}" for ch in name)


def marked_drawing(drawing: str, nodes: list[str]) -> str:
    """A Mermaid drawing with ``nodes`` styled to stand out (those it does not draw are left alone)."""
    drawn = set(_NODE_LINE.findall(drawing))
    styles = [f"\tstyle {mermaid_id(n)} {MARK_STYLE}" for n in nodes if mermaid_id(n) in drawn]
    return "\n".join([drawing.rstrip("\n"), *styles]) if styles else drawing


def fork_prefill(record: Checkpoint) -> str:
    """The fork's starting edit for ``record``: its ``query`` when it has one, and its last human message (edit its
    content to ask something else: a message with the same id replaces it); ``{}`` when it has neither."""
    edit: dict[str, Any] = {}
    if isinstance(record.values.get("query"), str) and record.node != "__start__":  # a run's start takes its input
        edit["query"] = record.values["query"]
    humans = [m for m in record.values.get("messages") or [] if isinstance(m, dict) and m.get("type") == "human"]
    if humans:
        edit["messages"] = [{k: humans[-1].get(k) for k in ("type", "content", "id")}]
    return json.dumps(edit, indent=2, ensure_ascii=False)


def parse_edits(text: str | None) -> dict[str, Any]:
    """The fork's edit as typed: a JSON object of state fields (blank: no edit); ``ValueError`` saying what is
    wrong otherwise."""
    if not (text or "").strip():
        return {}
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise ValueError(f"the state to change is not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise ValueError('the state to change must be a JSON object of fields, e.g. {"query": "..."}')
    return value


def last_answer(values: dict[str, Any]) -> str:
    """The session's last AI message (what it answered last), as text."""
    for message in reversed(values.get("messages") or []):
        if isinstance(message, dict) and message.get("type") == "ai":
            return _value_text(message.get("content"))
    return ""


def question_text(interrupts: list[Interrupt]) -> str:
    """What a waiting session asks, one line per question (a ``{"question": ...}`` payload by its text)."""
    texts = []
    for item in interrupts:
        value = item.value
        text = value["question"] if isinstance(value, dict) and isinstance(value.get("question"), str) else value
        texts.append(_value_text(text))
    return "\n".join(texts)


@dataclass(frozen=True)
class Waiting:
    """A session waiting on a human, with what it asks."""

    thread: ThreadSummary
    interrupts: list[Interrupt]

    @property
    def key(self) -> str:
        """How the inbox picker names it: ``graph/session`` (neither may hold ``/``)."""
        return f"{self.thread.graph}/{self.thread.session_id}"


def inbox_rows(items: list[Waiting]) -> pd.DataFrame:
    """The waiting sessions of every graph: graph, session, the question(s) asked, what the session was about."""
    rows = [
        [
            w.thread.graph,
            w.thread.session_id,
            excerpt(question_text(w.interrupts).replace("\n", " · "), 200),
            excerpt(w.thread.first_question),
            when(w.thread.updated_at),
        ]
        for w in items
    ]
    return pd.DataFrame(rows, columns=INBOX_COLUMNS)


def answers_markdown(original_run: str | None, fork_session: str, fork_run: str | None) -> str:
    """The fork's status line: the new session, and links to both runs' traces."""
    links = [f"original run {trace_link(original_run, original_run[:8])}" if original_run else "",
             f"fork's run {trace_link(fork_run, fork_run[:8])}" if fork_run else ""]  # fmt: skip
    return f"Forked as **{md_text(fork_session)}** and ran on · " + " · ".join(link for link in links if link)


def stopped_markdown(interrupts: list[Any]) -> str:
    """A turn that stopped on a question again: what it asks now."""
    asked = question_text([Interrupt(str(q.id), q.value, q.namespace) for q in interrupts])
    return "⏸️ It stopped on a question again; answer it in the inbox:\n\n" + md_fence(asked)

"""Where two runs of one eval case part ways. When a case passed in one eval run and failed in the other, the first
step at which its two runs did something different is usually the cause: a retrieval that found other passages, a
tool called with other arguments, a model that wrote something else, an error, or a graph that took another path.

A run's steps come from its spans (``get_trace`` or ``get_run``), depth first with children in start order; a run
logged before runs had spans falls back to its node timeline (``events``). What only measures time (durations,
tokens, the gateway's spans) is left out, so two runs that did the same things with the same results have no
divergence whatever their timings: their difference is in the scoring."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from itertools import takewhile
from typing import Any

from workbench.errors import StorageUnavailable
from workbench.runlog.queries import Source, events_of, get_run
from workbench.runlog.trace import build_tree

SUMMARY = 160
"""Characters a step's summary (and an error's text) keeps."""
ENDED = "(ended)"
"""What a divergence shows for a run that has no step where the other has one."""
_NOISE = frozenset({"run", "gateway"})
_LEAVES = frozenset({"llm", "tool", "retrieval", "speech", "analyzer"})
_DIFFERENCE = {"tool": "tool call", "retrieval": "retrieval", "llm": "model output"}
_EVENT_KINDS = {"retriever": "retrieval"}
_IDS = re.compile(r'"id":\s*"([^"]*)"')
_SHOWN = 3


@dataclass(frozen=True)
class Step:
    """What one step of a run did, in a form two runs can be compared by.

    ``path`` names the spans from the run down to this one (``generate > chat groq/llama``); ``place`` is the same
    path with LLM calls, tools, retrievals and speech named by their kind, so that another model or another tool at
    the same point of the graph shows as a difference of that step rather than of the path. ``signature`` is what
    must be equal for both runs to have done the same thing there; ``summary`` says it in one short line.
    ``span_id`` is None for a step from the older events timeline."""

    path: str
    kind: str
    signature: str
    summary: str
    place: str
    span_id: str | None = None
    status: str = "ok"
    error: str | None = None


@dataclass(frozen=True)
class Divergence:
    """The first step (``index``, from 0) at which two runs differ, what differs (``kind``: node path, tool call,
    retrieval, model output, error or step) and each run's step there (``a``/``b``, :data:`ENDED` for a run that
    had stopped)."""

    index: int
    kind: str
    path: str
    a: str
    b: str
    span_id_a: str | None = None
    span_id_b: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.describe()}

    def describe(self) -> str:
        """One line, steps counted from 1: ``step 3 (retrieve > retrieval docs): retrieval differs — a: … · b: …``."""
        where = f" ({self.path})" if self.path else ""
        if self.kind == "node path" and ENDED in (self.a, self.b):
            what = f"run {'a' if self.a == ENDED else 'b'} ended earlier"
        else:
            what = f"{self.kind} differs"
        return f"step {self.index + 1}{where}: {what} — a: {self.a} · b: {self.b}"


def _clip(text: str, limit: int = SUMMARY) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _decoded(value: Any) -> Any:
    """A structured attribute's value, or its raw text when that is not JSON (cut to size, or plain text)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _attributes(span: dict[str, Any]) -> dict[str, Any]:
    found = _decoded(span.get("attributes"))
    return found if isinstance(found, dict) else {}


def _canonical(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _tool(name: str, attributes: dict[str, Any]) -> tuple[str, str]:
    tool = str(attributes.get("gen_ai.tool.name") or name.removeprefix("execute_tool "))
    arguments = _decoded(attributes.get("gen_ai.tool.call.arguments"))
    result = _decoded(attributes.get("gen_ai.tool.call.result"))
    if isinstance(arguments, dict):
        shown = ", ".join(
            f"{key}={json.dumps(value, ensure_ascii=False, default=str)}" for key, value in arguments.items()
        )
    else:
        shown = "" if arguments is None else _canonical(arguments)
    returned = "" if result is None else f" → {_canonical(result)}"
    return f"{tool}({_canonical(arguments)}) -> {_canonical(result)}", f"{tool}({shown}){returned}"


def _passage(document: dict[str, Any]) -> str:
    source, key = document.get("source"), str(document.get("id") or "")
    if not source:
        return key[:12] or "?"
    name = str(source).replace("\\", "/").rsplit("/", 1)[-1]
    return f"{name}#{key[:8]}" if key else name


def _retrieval(attributes: dict[str, Any]) -> tuple[str, str]:
    query = str(attributes.get("gen_ai.retrieval.query.text") or "")
    found = _decoded(attributes.get("gen_ai.retrieval.documents"))
    if isinstance(found, list):
        documents = [item if isinstance(item, dict) else {"id": str(item)} for item in found]
        keys = [str(d.get("id") or d.get("source") or "") for d in documents]
        labels, count = [_passage(d) for d in documents], len(documents)
    else:  # not JSON (cut to size): the ids it still shows, else its text
        labels = _IDS.findall(found) if isinstance(found, str) else []
        keys = labels or ([found] if isinstance(found, str) else [])
        count = len(labels) if labels else attributes.get("workbench.retrieval.hits", 0)
    more = ", …" if len(labels) > _SHOWN else ""
    listed = f" [{', '.join(label[:24] for label in labels[:_SHOWN])}{more}]" if labels else ""
    noun = "passage" if count == 1 else "passages"
    return json.dumps([query, keys], ensure_ascii=False), f'"{_clip(query, 60)}" → {count} {noun}{listed}'


def _llm(name: str, attributes: dict[str, Any]) -> tuple[str, str]:
    written = _decoded(attributes.get("gen_ai.output.messages"))
    messages = [m for m in written if isinstance(m, dict)] if isinstance(written, list) else []
    text = " ".join(str(m.get("content") or "") for m in messages) if messages else str(written or "")
    text = " ".join(text.split())
    calls = [call for m in messages for call in m.get("tool_calls") or [] if isinstance(call, dict)]
    called = [f"{call.get('name')}({_canonical(call.get('arguments'))})" for call in calls]
    model = attributes.get("gen_ai.request.model") or name.removeprefix("chat ")
    said = " ".join(part for part in (f'"{text}"' if text else "", " ".join(f"calls {c}" for c in called)) if part)
    return json.dumps([text, called], ensure_ascii=False), f"chat {model}: {said or '(nothing)'}"


def _what(kind: str, name: str, attributes: dict[str, Any]) -> tuple[str, str]:
    """A step's signature and summary."""
    if kind == "tool":
        return _tool(name, attributes)
    if kind == "retrieval":
        return _retrieval(attributes)
    if kind == "llm":
        return _llm(name, attributes)
    return name, name


def _step(
    kind: str, names: tuple[str, ...], places: tuple[str, ...], attributes: dict[str, Any], found: dict[str, Any]
) -> Step:
    """A step from a span or an event (``found``: its status and error, its span id when it has one)."""
    signature, summary = _what(kind, names[-1], attributes)
    status = str(found.get("status") or "ok")
    error = _clip(str(found["error"])) if found.get("error") else None
    if status != "ok":
        summary = f"{summary} [{status}{f': {error}' if error else ''}]"
    span_id = None if found.get("span_id") is None else str(found["span_id"])
    path, place = " > ".join(names), " > ".join(places)
    return Step(path, kind, signature, _clip(summary), place, span_id, status, error)


def _span_steps(spans: list[dict[str, Any]]) -> list[Step]:
    steps: list[Step] = []
    empty: tuple[str, ...] = ()
    stack = [(root, empty, empty) for root in reversed(build_tree(spans))]
    while stack:
        node, names, places = stack.pop()
        kind = str(node.span.get("kind") or "step")
        if kind not in _NOISE:
            name = str(node.span.get("name") or kind)
            names, places = (*names, name), (*places, kind if kind in _LEAVES else name)
            steps.append(_step(kind, names, places, _attributes(node.span), node.span))
        stack.extend((child, names, places) for child in reversed(node.children))
    return steps


def _event_steps(events: Iterable[Any]) -> list[Step]:
    """Steps from the node timeline of a run logged before spans: nodes, and the calls each made (no outputs)."""
    steps: list[Step] = []
    node: tuple[str, ...] = ()
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = str(event.get("kind") or "step")
        kind = _EVENT_KINDS.get(kind, kind)
        if kind in _NOISE:
            continue
        detail = _decoded(event.get("detail"))
        detail = detail if isinstance(detail, dict) else {}
        name = str(event.get("node") or kind)
        if kind == "node":
            node = (name,)
        label = f"chat {detail['model']}" if kind == "llm" and detail.get("model") else name
        names, places = (node, node) if kind == "node" else ((*node, label), (*node, kind))
        status = {"status": event.get("status"), "error": detail.get("error") or event.get("error")}
        steps.append(_step(kind, names, places, {}, status))
    return steps


def _spans(run: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's spans that can be placed in a tree (odd rows without an id are left out)."""
    return [s for s in run.get("spans") or [] if isinstance(s, dict) and s.get("span_id") is not None]


def _events(run: dict[str, Any]) -> list[Any]:
    """A run's node timeline: a ``get_run`` row's ``events``, else one made from its spans (``get_trace``)."""
    if "events" in run:
        return list(run.get("events") or [])
    return events_of([{"run_id": None, "name": None, **s, "attributes": _attributes(s)} for s in _spans(run)])


def _has_spans(run: dict[str, Any]) -> bool:
    return any(span.get("kind") not in _NOISE for span in _spans(run))


def steps_of(run: dict[str, Any]) -> list[Step]:
    """The steps of a run: ``get_trace`` output (``{"run", "spans"}``) or a ``get_run`` row (with ``spans`` and
    ``events``). A run without spans (logged before runs had them) gives the steps of its ``events``."""
    return _span_steps(_spans(run)) if _has_spans(run) else _event_steps(_events(run))


def _where(step: Step | None) -> str:
    if step is None:
        return ENDED
    return _clip(step.path if step.summary == step.path.rsplit(" > ", 1)[-1] else f"{step.path}: {step.summary}")


def _common(a: str, b: str) -> str:
    pairs = takewhile(lambda pair: pair[0] == pair[1], zip(a.split(" > "), b.split(" > "), strict=False))
    return " > ".join(x for x, _ in pairs)


def _compare(index: int, a: Step | None, b: Step | None) -> Divergence | None:
    if a is None or b is None or a.place != b.place:
        either = a if a is not None else b
        path = _common(a.path, b.path) if a is not None and b is not None else either.path if either else ""
        ids = (a.span_id if a else None, b.span_id if b else None)
        return Divergence(index, "node path", path, _where(a), _where(b), *ids)
    if (a.status, a.error) != (b.status, b.error):
        kind = "error"
    elif a.signature != b.signature:
        kind = _DIFFERENCE.get(a.kind, "step")
    else:
        return None
    return Divergence(index, kind, a.path, a.summary, b.summary, a.span_id, b.span_id)


def _comparable(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[Step], list[Step]]:
    """Both runs' steps at the same grain: their spans, or their node timelines when one of them has no spans."""
    if _has_spans(a) == _has_spans(b):
        return steps_of(a), steps_of(b)
    return _event_steps(_events(a)), _event_steps(_events(b))


def first_divergence(a: dict[str, Any], b: dict[str, Any]) -> Divergence | None:
    """The first step at which runs ``a`` and ``b`` differ, or None when they did the same steps with the same
    results. A node that failed in one run only is reported by the first step inside it that differs in both runs,
    when there is one (the node's error came from there); else by its own error. A run with spans compared with one
    logged before runs had them is compared by both runs' node timelines."""
    steps_a, steps_b = _comparable(a, b)
    failed: tuple[Divergence, str] | None = None
    for index in range(max(len(steps_a), len(steps_b))):
        x = steps_a[index] if index < len(steps_a) else None
        y = steps_b[index] if index < len(steps_b) else None
        found = _compare(index, x, y)
        if found is None:
            continue
        if failed is not None:
            inside = x is not None and y is not None and all(s.path.startswith(failed[1]) for s in (x, y))
            return found if inside else failed[0]
        if found.kind == "error" and x is not None and x.kind == "node":
            failed = found, f"{x.path} > "
            continue
        return found
    return failed[0] if failed else None


def _read(side: str, run_id: str | None, read: Callable[[str], dict[str, Any] | None]) -> dict[str, Any] | str:
    if not run_id:
        return f"run {side} logged no trace of this case"
    try:
        run = read(run_id)
    except StorageUnavailable as error:
        return str(error)
    return run if run is not None else f"run {side}'s trace is not in this run log"


def divergences(
    cases: Iterable[tuple[str, str | None, str | None]], read: Callable[[str], dict[str, Any] | None]
) -> dict[str, Divergence | str | None]:
    """For each ``(case_id, run_id_a, run_id_b)``, where the case's two runs part ways: a :class:`Divergence`, None
    when they did the same steps with the same results (the outcomes differ by scoring only), or a short reason
    when a trace cannot be read. ``read`` gives a run by its run-log id (:func:`run_reader`)."""
    found: dict[str, Divergence | str | None] = {}
    for case_id, run_a, run_b in cases:
        a, b = _read("a", run_a, read), _read("b", run_b, read)
        found[case_id] = a if isinstance(a, str) else b if isinstance(b, str) else first_divergence(a, b)
    return found


def run_reader(source: Source) -> Callable[[str], dict[str, Any] | None]:
    """Reads a run with its spans and events from the run log at ``source`` (a path or a RunLog), read-only: call
    ``RunLog.flush()`` first for runs this process logged moments ago."""
    return lambda run_id: get_run(source, run_id, read_only=True)

"""Spans a node marks itself, for the work LangChain's callbacks do not see: a retrieval through the vector store,
speech to text and text to speech, an audit's analyzer subprocess.

::

    with step("retrieval", "retrieval", {"gen_ai.retrieval.query.text": query}) as span:
        hits = store.search(...)
        span.set("gen_ai.retrieval.documents", documents(hits))

The span nests under the node (or the step) it runs in: the run-log handler of that node's run is found through
LangChain's runnable config, which LangGraph hands to a node's task and ``asyncio.to_thread`` copies into its
thread. Outside a run logged here (a unit test calling the function, another tracer) a step costs nothing and
records nothing. An exception leaves through the step and marks its span as failed.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.runnables.config import var_child_runnable_config

from workbench.runlog.extract import classify_error
from workbench.runlog.spans import Attributes

if TYPE_CHECKING:
    from uuid import UUID


class StepSink(Protocol):
    """What records a step: a run-log handler (:class:`~workbench.runlog.in_flight.RunsInFlight`)."""

    def start_step(self, key: UUID, parent: UUID, kind: str, name: str, attributes: dict[str, Any]) -> bool: ...

    def end_step(self, key: UUID, status: str, error: str | None, attributes: dict[str, Any]) -> None: ...


_current: contextvars.ContextVar[tuple[StepSink, UUID] | None] = contextvars.ContextVar("workbench_step", default=None)


class Step:
    """The span of a step in progress: add attributes as they become known (bounded and scrubbed)."""

    def __init__(self) -> None:
        self.attributes = Attributes()

    def set(self, key: str, value: Any) -> Step:
        self.attributes.set(key, value)
        return self

    def update(self, values: dict[str, Any]) -> Step:
        self.attributes.update(values)
        return self


def _parent() -> tuple[StepSink, UUID] | None:
    """The handler and the run (or step) a new step nests under, if a run logged here is in progress."""
    current = _current.get()
    if current is not None:
        return current
    config = var_child_runnable_config.get() or {}
    manager = config.get("callbacks")
    parent = getattr(manager, "parent_run_id", None)
    if parent is None:
        return None
    for handler in getattr(manager, "handlers", None) or ():
        if callable(getattr(handler, "start_step", None)):
            return handler, parent
    return None


@contextmanager
def step(kind: str, name: str, attributes: dict[str, Any] | None = None) -> Iterator[Step]:
    """A span of ``kind`` named ``name`` around the block, under the current node or step (see the module)."""
    span = Step()
    parent = _parent()
    key = uuid.uuid4()
    started = parent is not None and parent[0].start_step(
        key, parent[1], kind, name, Attributes().update(attributes or {}).done()
    )
    if not started or parent is None:
        yield span
        return
    sink = parent[0]
    token = _current.set((sink, key))
    try:
        yield span
    except BaseException as exc:
        status, error = classify_error(exc)
        sink.end_step(key, status, error or None, span.attributes.done())
        raise
    else:
        sink.end_step(key, "ok", None, span.attributes.done())
    finally:
        _current.reset(token)

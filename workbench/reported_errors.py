"""Errors a graph node reports across a process boundary.

A LangGraph Server reports a failed run as ``{"error": <class name>, "message": "An internal error occurred"}``
for any exception outside Python's built-ins, so what a :class:`~workbench.errors.WorkbenchError` says to the user
(bad audio, an unknown model, a refused repository) would be lost on the way. A node wrapped in
:func:`reports_errors` writes such an error to the run's custom stream before raising it; a runtime that sees that
event raises the same error on its side (:func:`workbench.runtime.errors.rebuilt`). In-process runs drop the event:
the exception itself arrives. Graphs and agent specs import this module; the runtimes sit above them.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from langgraph.config import get_stream_writer

from workbench.errors import WorkbenchError

ERROR_EVENT = "workbench.error"

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(node: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an async graph node so its :class:`WorkbenchError` reaches a remote caller with its message."""

    @functools.wraps(node)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await node(*args, **kwargs)
        except WorkbenchError as exc:
            get_stream_writer()(error_event(exc))
            raise

    return wrapper


def error_event(exc: WorkbenchError) -> dict[str, Any]:
    return {"type": ERROR_EVENT, "error": type(exc).__name__, "code": getattr(exc, "code", None), "message": str(exc)}

"""The project's errors across a process boundary.

A LangGraph Server reports a failed run as ``{"error": <class name>, "message": "An internal error occurred"}``
for any exception outside Python's built-ins, so what a :class:`~workbench.errors.WorkbenchError` says to the user
(bad audio, an unknown model, a refused repository) would be lost on the way. A node wrapped in
:func:`reports_errors` writes such an error to the run's custom stream before raising it; a runtime that sees
that event raises the same error on its side (:func:`rebuilt`). In-process runs drop the event: the exception
itself arrives.
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


def _subclasses(cls: type[WorkbenchError]) -> dict[str, type[WorkbenchError]]:
    found = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        found.update(_subclasses(sub))
    return found


def rebuilt(event: dict[str, Any]) -> WorkbenchError:
    """The error an :data:`ERROR_EVENT` describes (a class unknown here: a plain :class:`WorkbenchError`)."""
    # Import the modules defining the project's errors, so the classes a graph raises are known by name.
    import workbench.audit.checkout_tree
    import workbench.audit.runner
    import workbench.audit.safety
    import workbench.voice.audio  # noqa: F401

    message = str(event.get("message") or "the run failed")[:2000]
    code = event.get("code")
    cls = _subclasses(WorkbenchError).get(str(event.get("error")), WorkbenchError)
    try:
        error = cls(code, message) if code is not None and _takes_code(cls) else cls(message)
    except TypeError:
        error = WorkbenchError(message)
    if isinstance(code, str) and error.code != code:  # e.g. a class unknown here, rebuilt as a WorkbenchError
        error.code = code
    return error


def _takes_code(cls: type[WorkbenchError]) -> bool:
    import inspect

    params = list(inspect.signature(cls.__init__).parameters)
    return params[1:2] == ["code"]

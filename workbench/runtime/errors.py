"""Rebuilding, in the runtime that drives a LangGraph Server, the error a graph node reported on its side (see
:mod:`workbench.reported_errors`)."""

from __future__ import annotations

from typing import Any

from workbench.errors import WorkbenchError
from workbench.reported_errors import ERROR_EVENT

__all__ = ["ERROR_EVENT", "rebuilt"]


def _subclasses(cls: type[WorkbenchError]) -> dict[str, type[WorkbenchError]]:
    found = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        found.update(_subclasses(sub))
    return found


def rebuilt(event: dict[str, Any]) -> WorkbenchError:
    """The error an :data:`ERROR_EVENT` describes (a class unknown here: a plain :class:`WorkbenchError`)."""
    # Import the modules defining the project's errors, so the classes a graph raises are known by name.
    import workbench.audit.checkout_tree
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

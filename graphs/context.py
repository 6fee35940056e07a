"""What every graph's run context carries besides its knobs: the process's clients.

A node reaches the vector store, the models and the speech engines through LangGraph's runtime context
(``Runtime[Context]``), never through a process global: the runtime that starts a run fills ``resources`` in (the
in-process runtime with its own; the ``langgraph dev`` factories in :mod:`graphs.served` with the server's), and a
per-run override (an eval variant) is a context with other resources. The field is left out of the context's JSON
Schema, so LangGraph Studio does not offer it and a LangGraph Server drops it from a client's request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from langgraph.runtime import Runtime
from pydantic import ConfigDict
from pydantic.json_schema import SkipJsonSchema

from workbench.errors import ConfigurationError
from workbench.resources import Resources

Clients: TypeAlias = SkipJsonSchema[Resources | None]
"""The type of a context's ``resources``: left out of its JSON Schema."""


@dataclass(kw_only=True)
class GraphContext:
    """The base of each graph's context dataclass."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(arbitrary_types_allowed=True)

    resources: Clients = field(default=None, repr=False, compare=False)
    """The process's clients (store, models, speech engines); set by the runtime that starts the run."""


def clients(runtime: Runtime[Any]) -> Resources:
    """The clients of this run, from its context."""
    resources = getattr(runtime.context, "resources", None)
    if resources is None:
        raise ConfigurationError(
            "this graph needs the workbench's clients in its run context: run it through the workbench "
            "(server, CLI, evals) or `langgraph dev` with the project's langgraph.json"
        )
    return resources

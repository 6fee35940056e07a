"""How ``langgraph dev`` and LangGraph Server get the workbench's graphs (:mod:`graphs.builtin`, :mod:`graphs.agents`).

A served graph's runs get this process's clients through their context, as in-process runs get the runtime's:
:func:`served` gives the graph a context schema whose ``resources`` defaults to the clients built here, once per
process, from the settings of its environment (the store opens and the models load on first use). The server
provides the checkpointer, and every run is logged to DuckDB.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from graphs.context import Clients
from workbench.resources import Resources
from workbench.runlog.callback import RunLogCallback
from workbench.settings import get_settings

Compiled = CompiledStateGraph[Any, Any, Any, Any]


@functools.cache
def process_resources() -> Resources:
    """The clients of this graph server's process."""
    return Resources(get_settings())


def served(graph: Compiled) -> Compiled:
    """``graph`` with this process's clients as its context's default ``resources``, and the run log."""
    base = graph.context_schema
    assert base is not None and dataclasses.is_dataclass(base), "a workbench graph has a dataclass context"
    default = dataclasses.field(default=process_resources(), repr=False, compare=False)
    schema = dataclasses.make_dataclass(base.__name__, [("resources", Clients, default)], bases=(base,), kw_only=True)
    schema.__doc__ = base.__doc__
    return graph.copy(update={"context_schema": schema}).with_config(callbacks=[RunLogCallback()])

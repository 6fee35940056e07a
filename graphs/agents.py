"""The agent specs (``agents/*.yaml``) as graphs for ``langgraph dev`` and LangGraph Server.

``langgraph.json`` names each spec as ``./graphs/agents.py:<name>``; ``workbench agents sync`` writes those
entries from the agents folder and ``workbench agents validate`` reports any that are missing or stale. Each
attribute is compiled from its spec on first use; the server provides the checkpointer, and every run is logged
to DuckDB, as the built-in graphs are.
"""

from __future__ import annotations

from typing import Any

from workbench.agents import catalog
from workbench.agents.compiler import compile_spec
from workbench.runlog.callback import RunLogCallback

_graphs: dict[tuple[str, str], Any] = {}


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        agent = catalog.require(name)
    except Exception as exc:
        raise AttributeError(f"graphs.agents has no agent {name!r}: {exc}") from None
    assert agent.spec is not None
    key = (agent.name, agent.digest)
    if key not in _graphs:
        compiled = compile_spec(agent.spec, folder=agent.path.parent)
        _graphs[key] = compiled.with_config(callbacks=[RunLogCallback()])
    return _graphs[key]

"""The agent specs (``agents/*.yaml``) as graphs for ``langgraph dev`` and LangGraph Server.

``langgraph.json`` names each spec as ``./graphs/agents.py:<name>``; ``workbench agents sync`` writes those
entries from the agents folder and ``workbench agents validate`` reports any that are missing or stale. Every
spec that validates is compiled here, at import, into a module variable of its name (the server reads the
module's variables); one with problems is left out, so the server names it as missing. The server provides the
checkpointer, and every run is logged to DuckDB, as the built-in graphs' are.
"""

# Every name of this module but the graphs starts with "_": an agent may be called anything else.
import typing as _typing

from workbench.agents import catalog as _catalog
from workbench.agents.compiler import compile_spec as _compile_spec
from workbench.runlog.callback import RunLogCallback as _RunLogCallback


def _compiled() -> dict[str, _typing.Any]:
    """Agent name -> its compiled graph, for every spec of the agents folder that validates."""
    graphs: dict[str, _typing.Any] = {}
    for agent in _catalog.agents():
        if agent.spec is not None:
            graph = _compile_spec(agent.spec, folder=agent.path.parent)
            graphs[agent.name] = graph.with_config(callbacks=[_RunLogCallback()])
    return graphs


globals().update(_compiled())

"""The agent specs (``agents/*.yaml``) as graphs for ``langgraph dev`` and LangGraph Server.

``langgraph.json`` names each spec as ``./graphs/agents.py:<name>``; ``workbench agents sync`` writes those
entries from the agents folder and ``workbench agents validate`` reports any that are missing or stale. Every
spec that validates is compiled here, at import, into a module variable of its name (the server reads the
module's variables); one with problems is left out, so the server names it as missing. The server provides the
checkpointer; each graph gets this process's clients and logs its runs to DuckDB, as the built-in graphs do
(:func:`graphs.serving.served`).
"""

# Every name of this module but the graphs starts with "_": an agent may be called anything else.
import typing as _typing

from graphs.serving import served as _served
from workbench.agents import catalog as _catalog
from workbench.agents.compiler import compile_spec as _compile_spec


def _compiled() -> dict[str, _typing.Any]:
    """Agent name -> its compiled graph, for every spec of the agents folder that validates."""
    graphs: dict[str, _typing.Any] = {}
    for agent in _catalog.agents():
        if agent.spec is not None:
            graph = _compile_spec(agent.spec, folder=agent.path.parent)
            graphs[agent.name] = _served(graph)
    return graphs


globals().update(_compiled())

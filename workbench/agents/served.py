"""The project's ``langgraph.json`` kept in step with the agents folder (``workbench agents validate`` and
``sync``), and a spec found by an agent's name or a file's path (``workbench agents draw``)."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.agents import catalog, registry
from workbench.agents.source import SpecProblem
from workbench.agents.spec import AgentSpec
from workbench.errors import ConfigurationError, WorkbenchError

LANGGRAPH_JSON = registry.AGENTS_DIR.parent / "langgraph.json"


class BrokenSpec(WorkbenchError):
    """A spec that was found but does not validate; ``problems`` says why, one ``file:line: message`` each."""

    code: str = "invalid_config"

    def __init__(self, path: Path, problems: list[SpecProblem]) -> None:
        super().__init__(f"{path.name}: {len(problems)} problem(s)")
        self.path = path
        self.problems = problems


def stale_langgraph_entries() -> tuple[list[str], list[str]]:
    """The agents ``langgraph.json`` does not serve and its agent entries no valid spec backs; nothing to say
    when the specs come from another folder (``WORKBENCH_AGENTS_DIR``) or the project has no ``langgraph.json``."""
    if not LANGGRAPH_JSON.is_file() or catalog.agents_dir() != registry.AGENTS_DIR:
        return [], []
    return catalog.stale_entries(json.loads(LANGGRAPH_JSON.read_text()))


def sync_langgraph_json() -> int | None:
    """Write ``langgraph.json``'s agent entries from the agents folder, so ``langgraph dev`` serves every valid
    spec: how many graphs it lists now, or None when it was up to date."""
    config = json.loads(LANGGRAPH_JSON.read_text())
    updated = catalog.synced(config)
    if updated == config:
        return None
    LANGGRAPH_JSON.write_text(json.dumps(updated, indent=2) + "\n")
    graphs = updated["graphs"]
    return len(graphs) if isinstance(graphs, dict) else 0


def find_spec(target: str) -> tuple[Path, AgentSpec]:
    """The spec of the agent called ``target`` (in the agents folder), else of the file ``target`` names, checked
    against the specs beside it; :class:`~workbench.errors.ConfigurationError` when there is neither,
    :class:`BrokenSpec` when it does not validate."""
    folder = catalog.agents_dir()
    path = registry.spec_names(folder).get(target) or Path(target)
    if not path.is_file():
        raise ConfigurationError(f"no agent or spec file {target[:80]!r}; see `workbench agents list`")
    agent = catalog.read(path, folder if path.parent == folder else path.parent)
    if agent.spec is None:
        raise BrokenSpec(path, agent.problems)
    return path, agent.spec

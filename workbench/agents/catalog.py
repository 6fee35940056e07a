"""The agents a server, the CLI and the UI offer: every spec of the agents folder, checked, with its hash.

An agent is looked up by its spec's ``name`` (never by a path a client sends); a spec with problems is listed
with them and cannot run. The folder is ``agents/`` of the project, or ``WORKBENCH_AGENTS_DIR``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from workbench.agents import registry
from workbench.agents.source import SpecError, SpecProblem
from workbench.agents.spec import AgentSpec, SubgraphNode
from workbench.agents.validate import Known, load_spec
from workbench.errors import ConfigurationError


def agents_dir() -> Path:
    """Where the specs are: ``WORKBENCH_AGENTS_DIR`` when set, else the project's ``agents/``."""
    configured = os.environ.get("WORKBENCH_AGENTS_DIR", "").strip()
    return Path(configured).expanduser() if configured else registry.AGENTS_DIR


@dataclass(frozen=True)
class Agent:
    """One spec file: what it declares and whether it validates."""

    name: str
    path: Path
    digest: str
    """sha256 of the file's bytes (the first 12 hex digits), logged with every evaluation of the agent."""
    spec: AgentSpec | None = None
    problems: list[SpecProblem] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.spec.version if self.spec is not None else "-"

    @property
    def ok(self) -> bool:
        return self.spec is not None


def read(
    path: Path, folder: Path | None = None, _seen: frozenset[str] = frozenset(), known: Known | None = None
) -> Agent:
    """The spec at `path`, checked against the registries and the other specs of `folder` (an agent it runs as a
    subgraph must validate too); `known` is what the registries hold, when the caller has read it already."""
    folder = folder or path.parent
    known = known or registry.known(folder)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        spec = load_spec(path, known)
    except OSError:
        return Agent(path.stem, path, "-", problems=[SpecProblem(path.name, None, "cannot be read")])
    except SpecError as exc:
        return Agent(name=path.stem, path=path, digest=digest, problems=list(exc.problems))
    problems = []
    for name, node in spec.nodes.items():
        if isinstance(node, SubgraphNode) and node.agent is not None:
            inner = registry.spec_names(folder).get(node.agent) if node.agent in known.agents else None
            if node.agent in _seen:
                problems.append(SpecProblem(path.name, None, f"subgraph agent {node.agent!r} includes this one", name))
            elif inner is not None and not read(inner, folder, _seen | {spec.name}, known).ok:
                problems.append(SpecProblem(path.name, None, f"subgraph agent {node.agent!r} has problems", name))
    if problems:
        return Agent(name=spec.name, path=path, digest=digest, problems=problems)
    return Agent(name=spec.name, path=path, digest=digest, spec=spec)


def agents(folder: Path | None = None) -> list[Agent]:
    """Every spec of the agents folder, by file name (a broken one carries its problems; of two files with one
    name, the second is refused). The specs are read and checked once per change of the folder's files or of what
    they refer to (:func:`registry.fingerprint`), not on every call: a turn of an agent checks it for free."""
    folder = folder or agents_dir()
    return list(_checked(folder, registry.fingerprint(folder)))


@functools.lru_cache(maxsize=8)
def _checked(folder: Path, fingerprint: tuple[object, ...]) -> tuple[Agent, ...]:
    owners = registry.spec_names(folder)
    known = registry.known(folder)  # read once for every file, not once per file
    names = {path: name for name, path in owners.items()}
    found = []
    for path in registry.spec_files(folder):
        agent = read(path, folder, known=known)
        if agent.ok and owners.get(agent.name) != path:
            other = owners[agent.name].name
            found.append(
                Agent(agent.name, path, agent.digest, None, [SpecProblem(path.name, 1, f"{other} has this name")])
            )
            continue
        found.append(agent if agent.ok else Agent(names.get(path, path.stem), path, agent.digest, None, agent.problems))
    return tuple(found)


def names(folder: Path | None = None) -> list[str]:
    """The agents that validate, by name."""
    return sorted(a.name for a in agents(folder) if a.ok)


def require(name: str, folder: Path | None = None) -> Agent:
    """The agent called `name`, ready to run; :class:`ConfigurationError` naming the choices otherwise."""
    folder = folder or agents_dir()
    agent = next((a for a in agents(folder) if a.name == name), None)  # the first file of a name owns it
    if agent is None:
        choices = ", ".join(names(folder)) or "none: add a spec to agents/"
        raise ConfigurationError(f"unknown agent {name[:64]!r}; choose one of {choices}")
    if not agent.ok:
        raise ConfigurationError(
            f"agent {name!r} has {len(agent.problems)} problem(s) in its spec; see the Agents tab or "
            "`workbench agents validate`"
        )
    return agent


LANGGRAPH_MODULE = "./graphs/agents.py"


def langgraph_entries(folder: Path | None = None) -> dict[str, str]:
    """The ``graphs`` entries of ``langgraph.json`` that serve the agents (name -> ``./graphs/agents.py:name``)."""
    return {name: f"{LANGGRAPH_MODULE}:{name}" for name in names(folder)}


def stale_entries(config: dict[str, object], folder: Path | None = None) -> tuple[list[str], list[str]]:
    """The agents ``config`` (a parsed langgraph.json) does not serve, and its agent entries no spec backs."""
    graphs = config.get("graphs")
    served = (
        {k: v for k, v in graphs.items() if str(v).startswith(LANGGRAPH_MODULE)} if isinstance(graphs, dict) else {}
    )
    wanted = langgraph_entries(folder)
    missing = sorted(name for name, target in wanted.items() if served.get(name) != target)
    extra = sorted(name for name in served if name not in wanted)
    return missing, extra


def synced(config: dict[str, object], folder: Path | None = None) -> dict[str, object]:
    """``config`` with its agent entries made those of the agents folder (the built-in graphs kept, first)."""
    graphs = config.get("graphs")
    kept = (
        {k: v for k, v in graphs.items() if not str(v).startswith(LANGGRAPH_MODULE)} if isinstance(graphs, dict) else {}
    )
    return {**config, "graphs": kept | langgraph_entries(folder)}

"""What ``/ready`` (and ``/health?deep=1``) reports: each dependency of the server as ok or failing, with a reason.

A component that can fail (the run log, session checkpoints and leases, the vector store, a LangGraph Server)
offers a cheap probe returning a :class:`Check`; probes never raise and never take long (a probe that must reach
another process bounds its own wait). The reason is meant for an operator: it names the store and what to do, never
a server path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One component's state."""

    name: str
    """The component: ``runlog``, ``checkpoints``, ``leases``, ``vector_store``, ``graph_server``, ``disk``."""
    ok: bool
    reason: str | None = None
    """Why it fails (None when ok), saying what to do."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ok(name: str) -> Check:
    return Check(name, True)


def failing(name: str, reason: str) -> Check:
    return Check(name, False, reason)

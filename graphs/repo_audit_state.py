"""State and per-run context of the repo-audit graph."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from graphs.context import GraphContext


class AuditInput(TypedDict, total=False):
    """What to audit."""

    repo: str
    """An https:// URL on an allowed host, or a local path under an allowed root."""
    ref: str | None
    """A branch or tag; default: the repository's default branch."""
    agents: list[str] | None
    """Any of explorer, bug_hunter, security; default: all that apply."""
    task_id: str | None
    """The task this run serves (default: a new id); names the checkout folder."""
    agent_timeouts: dict[str, float] | None
    """Per-agent time limits in seconds, overriding the ``audit_agent_timeout_s`` setting."""


class AuditOutput(TypedDict, total=False):
    report: dict[str, Any]
    """The :class:`~workbench.audit.models.AuditReport` as JSON."""


class AuditState(AuditInput, AuditOutput, total=False):
    target: dict[str, str]
    checkout: dict[str, Any]
    plan: dict[str, list[str]]
    """Agent -> the analyzers it runs (the supervisor's choice)."""
    reasons: dict[str, str]
    """Agent -> why it runs or not."""
    started_at: str
    results: Annotated[list[dict[str, Any]], operator.add]
    """One :class:`~workbench.audit.models.AgentResult` per agent, as the fan-out returns them."""


class AgentJob(TypedDict):
    """What the supervisor sends one specialist agent."""

    agent: str
    tools: list[str]
    root: str
    timeout_s: float


@dataclass
class AuditContext(GraphContext):
    """Per-run knobs (LangGraph Studio shows them as the run's context)."""

    model: str | None = None
    """Chat model for triage and the architecture summary; default: the audit_model setting, else llm.
    ``none`` (or ``extractive``, which is no language model) skips the LLM steps."""
    llm_reviews: int | None = None
    """Findings per agent the model triages; default: the audit_llm_reviews setting."""
    keep_checkout: bool = False
    """Leave the checkout on disk after the run (debugging)."""

"""The repo audit's data: one normalized finding schema that every agent and analyzer writes, and the results
an agent hands to the aggregator."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from workbench.events import AgentName, AgentStatus, Severity

Confidence = Literal["high", "medium", "low"]

AGENTS: tuple[AgentName, ...] = ("explorer", "bug_hunter", "security")
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}  # info 0 ... critical 4
CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}


class TraceStep(BaseModel):
    """One step of a taint trace: where request data is read (source), passes (step), and is used (sink)."""

    role: Literal["source", "step", "sink"]
    file: str
    line: int = Field(ge=1)
    code: str = Field(default="", description="The expression or variable at that step, as the engine printed it.")


class Finding(BaseModel):
    """One problem at one place, whichever tool or agent found it."""

    rule: str = Field(description="Tool-qualified rule id, e.g. 'bandit/B602', 'ruff/B006', 'secrets/aws-key'.")
    category: str = Field(description="Kind of problem: 'command-injection', 'mutable-default', 'hardcoded-secret'...")
    cwe: int | None = Field(default=None, description="CWE number where known (78 for OS command injection).")
    severity: Severity
    confidence: Confidence = "medium"
    file: str = Field(description="Path relative to the repository root, with forward slashes.")
    line: int | None = Field(default=None, ge=1)
    end_line: int | None = Field(default=None, ge=1)
    message: str
    evidence: str = Field(default="", description="The offending source line(s), secrets masked.")
    agent: AgentName
    tool: str = Field(description="The analyzer that produced it: ruff, bandit, detect-secrets, lizard, patterns.")
    suggested_fix: str | None = None
    trace: list[TraceStep] = Field(
        default_factory=list, description="For a taint finding: the path from the source of the data to the sink."
    )
    agents: list[AgentName] = Field(default_factory=list, description="Every agent that reported it (merged).")
    tools: list[str] = Field(default_factory=list, description="Every tool that reported it (merged).")
    agreement: int = Field(default=1, ge=1, description="How many distinct tools reported it.")
    related_rules: list[str] = Field(default_factory=list, description="Rule ids of the reports merged into it.")
    llm_verdict: Literal["confirmed", "dismissed", "uncertain"] | None = Field(
        default=None, description="The LLM's triage; it annotates, it never removes or re-ranks a finding."
    )
    llm_note: str | None = Field(default=None, description="The LLM's explanation, shown as the model's words.")
    score: float = Field(default=0.0, description="Ranking score (higher first).")

    @property
    def reporting_tools(self) -> list[str]:
        """Every tool that reported it: the merged list, or the finding's own tool before any merge."""
        return list(self.tools) if self.tools else [self.tool]

    @property
    def reporting_agents(self) -> list[AgentName]:
        """Every agent that reported it: the merged list, or the finding's own agent before any merge."""
        return list(self.agents) if self.agents else [self.agent]

    @property
    def fingerprint(self) -> str:
        """Stable id of the place and the problem's kind, the deduplication key before line tolerance."""
        key = f"{self.file}:{self.line}:{self.cwe or self.category}"
        return hashlib.sha1(key.encode()).hexdigest()[:16]


class AgentResult(BaseModel):
    """What one specialist agent returns: its findings, a summary, and, for the explorer, the repository map."""

    agent: AgentName
    status: AgentStatus = "ok"
    findings: list[Finding] = Field(default_factory=list)
    summary: str = ""
    error: str | None = None
    duration_s: float = 0.0
    tools: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per analyzer: version, duration_s, files, status, error."
    )
    repo_map: dict[str, Any] | None = Field(default=None, description="The explorer's map of the repository.")


ReportStatus = Literal["completed", "partial", "failed"]


class AuditReport(BaseModel):
    """The aggregated result of one audit: what the JSON results, the Markdown report and SARIF are made from."""

    task_id: str
    repo: str = Field(description="The URL or local path as the user gave it.")
    ref: str | None = None
    commit: str | None = None
    status: ReportStatus = "completed"
    """partial: one or more agents failed or timed out; their results are missing."""
    started_at: str | None = Field(default=None, description="ISO 8601, UTC.")
    finished_at: str | None = None
    agents: dict[str, AgentResult] = Field(default_factory=dict, description="Per agent (findings moved out).")
    findings: list[Finding] = Field(default_factory=list, description="Merged, deduplicated, ranked.")
    counts: dict[str, int] = Field(default_factory=dict, description="Findings by severity (every severity).")
    summary: str = Field(default="", description="Executive summary (Markdown).")
    repo_map: dict[str, Any] | None = None

"""The repository audit's settings: what may be audited, and the bounds on one audit and on the audit queue.

A group of :class:`~workbench.settings.Settings`' fields (never built alone: ``Settings`` gives them the
``WORKBENCH_`` environment prefix).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

from workbench.settings.env_lists import split


class AuditSettings(BaseModel):
    """Hosts and folders that may be audited, the triage model, and each audit's limits."""

    model_config = ConfigDict(defer_build=True)  # never built alone: Settings builds the whole

    audit_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=["github.com", "gitlab.com", "bitbucket.org", "codeberg.org"],
        description="Hosts whose https:// URLs may be audited (comma-separated in the environment).",
    )
    audit_allowed_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders under which local paths may be audited (os.pathsep- or comma-separated); "
        "none: local paths are refused.",
    )
    audit_model: str | None = Field(default=None, description="Chat model for triage; default: the llm setting.")
    audit_clone_depth: int = Field(default=50, ge=1, le=10_000, description="Commits fetched (history and churn).")
    audit_clone_timeout_s: float = Field(default=120.0, gt=0, description="Limit on one clone.")
    audit_max_repo_bytes: int = Field(default=200 * 1024 * 1024, ge=1024, description="Largest checkout accepted.")
    audit_max_files: int = Field(default=20_000, ge=1, description="Most files a checkout may hold.")
    audit_agent_timeout_s: float = Field(default=300.0, gt=0, description="Limit on one specialist agent.")
    audit_max_concurrent: int = Field(default=2, ge=1, le=32, description="Audit tasks running at once.")
    audit_llm_reviews: int = Field(default=5, ge=0, le=100, description="Findings per agent the LLM triages.")
    audit_benchmark: Path | None = Field(
        default=None,
        description="A BenchmarkPython folder the audit eval suite adds as a case, read in place (external data).",
    )
    audit_trace_reviews: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Taint traces the triage model reviews per audit (0: none; with the bundled 1.5B model it "
        "raised precision but lowered the benchmark score, at 13.5 s a trace: see docs/benchmarks.md).",
    )
    audit_ruff_extend_select: str = Field(
        default="",
        pattern=r"^[A-Z0-9, ]*$",
        description="Ruff rules the bug hunter adds to its bug-only set, comma-separated (e.g. E722,S110,S112 for "
        "bare and silently swallowed exceptions).",
    )
    audit_max_queued: int = Field(default=16, ge=1, description="Audits waiting for a slot before new ones get 429.")
    audit_tasks_kept: int = Field(default=100, ge=1, description="Finished audits kept in memory (older: run log).")

    @field_validator("audit_allowed_hosts", "audit_allowed_roots", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Environment values may be plain lists: ``a,b`` or ``/x:/y`` as well as JSON."""
        return split(value, f"[,{re.escape(os.pathsep)}]")

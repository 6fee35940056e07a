"""Precision and recall of audit findings against a fixture repository's labelled problems.

The labels live beside each fixture in `datasets/repos/<name>.expected.yaml` (see `datasets/repos/README.md`).

Matching rules:
- a finding matches an expected item when the file is the same, the lines are at most `line_tolerance` apart, and
  the category is the same or both carry the same CWE;
- an expected item is credited once: findings are paired one-to-one with expected items (a maximum matching,
  nearest lines preferred), and each pair is a true positive;
- further findings that match an already credited item are duplicates (several tools, or several rules of one
  tool, at one place): they are neither true nor false positives, merging them is the aggregator's job;
- a finding that matches no expected item at all is a false positive, wherever it is: the fixtures are fully
  labelled, so a file listed nowhere is as clean as one listed under `clean_files`;
- findings below `min_severity` (and so always those at `info`) are left out before matching;
- scored for one agent, only that agent's expected items count for recall, and only its findings for precision;
  its finding that matches another agent's expected item is a real problem, not a false positive, and is left out.

precision = tp / (tp + fp) and recall = tp / (tp + fn), each 1.0 when its denominator is 0 (nothing reported,
nothing to find).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from workbench.audit.models import SEVERITY_RANK, AgentName, Finding, Severity

SCORED_AGENTS: tuple[AgentName, ...] = ("bug_hunter", "security")


class ExpectedFinding(BaseModel):
    """One planted, labelled problem of a fixture repository."""

    id: str
    file: str
    line: int = Field(ge=1)
    agent: AgentName
    category: str
    cwe: int | None = None
    note: str = ""
    style: bool = False
    """A habit rather than a bug (a bare `except`): found only with the bug hunter's style rules selected
    (WORKBENCH_AUDIT_RUFF_EXTEND_SELECT), so scored only when asked for."""


class Expected(BaseModel):
    """A fixture's labels: every planted problem, and the files where any finding is a false positive."""

    repo: str = ""
    findings: list[ExpectedFinding] = Field(default_factory=list)
    clean_files: list[str] = Field(default_factory=list)


@dataclass
class Score:
    """How a set of findings compares with the labels."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    matched: list[tuple[ExpectedFinding, Finding]] = field(default_factory=list)
    missed: list[ExpectedFinding] = field(default_factory=list)
    false_positives: list[Finding] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)
    """Neither true nor false positives: a further report of a credited item or, scored for one agent, its report
    of another agent's item."""

    @classmethod
    def of(
        cls,
        matched: list[tuple[ExpectedFinding, Finding]],
        missed: list[ExpectedFinding],
        false_positives: list[Finding],
        duplicates: list[Finding] | None = None,
    ) -> Score:
        tp, fp, fn = len(matched), len(false_positives), len(missed)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(tp, fp, fn, precision, recall, f1, matched, missed, false_positives, duplicates or [])

    def __str__(self) -> str:
        return f"P={self.precision:.2f} R={self.recall:.2f} F1={self.f1:.2f} (tp={self.tp} fp={self.fp} fn={self.fn})"


def load_expected(path: Path, *, style: bool = False) -> Expected:
    """Read a fixture's `<name>.expected.yaml`; its `style` items only when `style` (see ExpectedFinding.style)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    expected = Expected.model_validate(data)
    if not style:
        expected.findings = [item for item in expected.findings if not item.style]
    return expected


def _matches(finding: Finding, item: ExpectedFinding, tolerance: int) -> bool:
    if finding.file != item.file or finding.line is None or abs(finding.line - item.line) > tolerance:
        return False
    return finding.category == item.category or (finding.cwe is not None and finding.cwe == item.cwe)


def _pair(findings: list[Finding], items: list[ExpectedFinding], tolerance: int) -> dict[int, int]:
    """A maximum one-to-one matching expected item -> finding (Kuhn's augmenting paths, nearest lines first)."""
    candidates = {
        i: sorted(
            (j for j, f in enumerate(findings) if _matches(f, item, tolerance)),
            key=lambda j: abs((findings[j].line or 0) - item.line),
        )
        for i, item in enumerate(items)
    }
    owner: dict[int, int] = {}  # finding -> expected item

    def augment(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(items)):
        augment(i, set())
    return {i: j for j, i in owner.items()}


def score(
    findings: Iterable[Finding],
    expected: Expected,
    *,
    agent: str | None = None,
    line_tolerance: int = 2,
    min_severity: Severity = "low",
) -> Score:
    """Score findings against the labels (the rules are in the module docstring); `agent` scores one agent."""
    floor = max(SEVERITY_RANK[min_severity], SEVERITY_RANK["low"])
    kept = [f for f in findings if SEVERITY_RANK[f.severity] >= floor]
    mine = [f for f in kept if agent is None or f.agent == agent or agent in f.agents]
    items = [item for item in expected.findings if agent is None or item.agent == agent]
    pairs = _pair(mine, items, line_tolerance)
    matched = [(items[i], mine[j]) for i, j in sorted(pairs.items())]
    missed = [item for i, item in enumerate(items) if i not in pairs]
    paired = set(pairs.values())
    false_positives, duplicates = [], []
    for j, finding in enumerate(mine):
        if j in paired:
            continue
        if any(_matches(finding, item, line_tolerance) for item in expected.findings):
            duplicates.append(finding)
        else:
            false_positives.append(finding)
    return Score.of(matched, missed, false_positives, duplicates)


def combine(scores: Iterable[Score]) -> Score:
    """One score over several fixtures: the counts add up, the ratios are recomputed."""
    matched, missed, false_positives, duplicates = [], [], [], []
    for part in scores:
        matched += part.matched
        missed += part.missed
        false_positives += part.false_positives
        duplicates += part.duplicates
    return Score.of(matched, missed, false_positives, duplicates)


def score_by_agent(
    findings: Iterable[Finding], expected: Expected, *, line_tolerance: int = 2, min_severity: Severity = "low"
) -> dict[str, Score]:
    """Scores for "bug_hunter", "security" and "overall" (every agent together)."""
    kept = list(findings)
    result: dict[str, Score] = {}
    for name in (*SCORED_AGENTS, None):
        result[name or "overall"] = score(
            kept, expected, agent=name, line_tolerance=line_tolerance, min_severity=min_severity
        )
    return result

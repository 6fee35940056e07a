"""From one tool hit to a :class:`Finding`: evidence read from the file, secrets masked, suppressions distrusted.

Suppression comments (`# nosec`, `# noqa`, `# nosemgrep`, `pragma: allowlist secret`) are the repository's own
claims: the finding is kept, with low confidence."""

from __future__ import annotations

import re

from workbench.audit.analyzers.masking import mask, mask_literals
from workbench.audit.analyzers.sources import SourceFiles
from workbench.audit.models import AgentName, Confidence, Finding, Severity
from workbench.audit.rules import CATEGORY_FIXES, SECRET_SHAPES, Rule

_SUPPRESSED = re.compile(
    r"#\s*nosec|#\s*noqa|nosemgrep|pragma:\s*allowlist[ -]secret|NOSONAR|eslint-disable", re.IGNORECASE
)


def build_finding(
    sources: SourceFiles,
    rule: Rule,
    *,
    rule_id: str,
    file: str,
    line: int | None,
    message: str,
    agent: AgentName,
    tool: str,
    severity: Severity,
    confidence: Confidence,
    cwe: int | None,
    end_line: int | None = None,
    evidence: str | None = None,
) -> Finding:
    """A finding with evidence read from the file, well-known secret shapes masked, suppressions not trusted."""
    if evidence is None:
        evidence = sources.evidence(file, line, end_line)
    evidence = SECRET_SHAPES.sub(lambda m: mask(m[0]), evidence)
    message = SECRET_SHAPES.sub(lambda m: mask(m[0]), message)
    if rule.category == "hardcoded-secret":
        evidence, message = mask_literals(evidence), mask_literals(message)
    confidence = rule.confidence or confidence
    if _SUPPRESSED.search(evidence):
        confidence = "low"
        message += " (the line carries a suppression comment; the audit does not take it on trust)"
    return Finding(
        rule=rule_id,
        category=rule.category,
        cwe=rule.cwe or cwe,
        severity=rule.severity or severity,
        confidence=confidence,
        file=file,
        line=line,
        end_line=end_line if end_line and line and end_line > line else None,
        message=message,
        evidence=evidence,
        agent=agent,
        tool=tool,
        suggested_fix=rule.fix or CATEGORY_FIXES.get(rule.category),
    )

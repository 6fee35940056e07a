"""Findings for the audit unit tests: a bandit command-injection finding, with any field overridden."""

from __future__ import annotations

from typing import Any

from workbench.audit.models import Finding


def finding(**overrides: Any) -> Finding:
    fields: dict[str, Any] = {
        "rule": "bandit/B602",
        "category": "command-injection",
        "cwe": 78,
        "severity": "high",
        "confidence": "high",
        "file": "src/app.py",
        "line": 12,
        "message": "subprocess call with shell=True",
        "evidence": "subprocess.call(cmd, shell=True)",
        "agent": "security",
        "tool": "bandit",
    }
    return Finding(**(fields | overrides))

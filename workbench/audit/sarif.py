"""The audit report as SARIF 2.1.0, for code-scanning tools (GitHub code scanning among them).

One run per report: a rule descriptor per rule id (its worst finding sets the level; a CWE adds GitHub's
``security-severity``), a result per finding with a fingerprint stable across line moves, a taint trace as a code
flow, and the agents or tools that did not finish or left files unanalyzed as the invocation's notifications.
Repository URLs lose any credentials before they are exported.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from workbench.audit.models import SEVERITIES, AuditReport, Finding, Severity
from workbench.audit.report_facts import agent_problem, display_repo, incomplete_agents

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "agent-workbench"
SARIF_LEVELS: dict[str, Literal["error", "warning", "note"]] = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
    "info": "note",
}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
"""GitHub code scanning's numeric ``security-severity`` per severity, for rules with a CWE."""


def sarif_level(severity: Severity | str) -> Literal["error", "warning", "note"]:
    """SARIF level of a severity: critical/high → error, medium → warning, low/info → note."""
    return SARIF_LEVELS[severity]


def tool_version() -> str:
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def to_sarif(report: AuditReport) -> dict[str, Any]:
    """The report as one SARIF 2.1.0 log with one run (validates against the OASIS schema)."""
    rules, index = _sarif_rules(report.findings)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": TOOL_NAME, "version": tool_version(), "rules": rules}},
        "automationDetails": {"id": report.task_id},
        "originalUriBaseIds": {"SRCROOT": {"description": {"text": "The root of the audited repository."}}},
        "invocations": [_sarif_invocation(report)],
        "results": _sarif_results(report.findings, index),
        "columnKind": "unicodeCodePoints",
        "properties": {"status": report.status, "repository": display_repo(report.repo), "ref": report.ref},
    }
    repo = display_repo(report.repo)
    if urlsplit(repo).scheme in ("http", "https", "ssh", "git") and urlsplit(repo).hostname:
        provenance = {"repositoryUri": repo} | ({"revisionId": report.commit} if report.commit else {})
        run["versionControlProvenance"] = [provenance]
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _sarif_rules(findings: Iterable[Finding]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    rules = []
    for rule_id in sorted(by_rule):
        group = by_rule[rule_id]
        worst = min(group, key=lambda f: SEVERITIES.index(f.severity))
        cwe = next((f.cwe for f in group if f.cwe), None)
        tags = sorted({f.category for f in group} | ({"security", f"external/cwe/cwe-{cwe}"} if cwe else set()))
        descriptor: dict[str, Any] = {
            "id": rule_id,
            "name": worst.category,
            "shortDescription": {"text": f"{worst.category.replace('-', ' ').capitalize()} ({rule_id})"},
            "fullDescription": {"text": worst.message},
            "defaultConfiguration": {"level": sarif_level(worst.severity)},
            "properties": {"tags": tags, "precision": worst.confidence},
        }
        if cwe:
            descriptor["helpUri"] = f"https://cwe.mitre.org/data/definitions/{cwe}.html"
            descriptor["properties"]["security-severity"] = SECURITY_SEVERITY[worst.severity]
        rules.append(descriptor)
    return rules, {rule["id"]: i for i, rule in enumerate(rules)}


def _sarif_results(findings: Iterable[Finding], rule_index: Mapping[str, int]) -> list[dict[str, Any]]:
    seen: Counter[str] = Counter()
    results = []
    for f in findings:
        location: dict[str, Any] = {"artifactLocation": _sarif_artifact(f.file)}
        if f.line:
            region: dict[str, Any] = {"startLine": f.line, "endLine": max(f.end_line or f.line, f.line)}
            if f.evidence:
                region["snippet"] = {"text": f.evidence}
            location["region"] = region
        digest = hashlib.sha256(f"{f.file}\0{f.rule}\0{' '.join(f.evidence.split())}".encode()).hexdigest()[:32]
        seen[digest] += 1
        properties: dict[str, Any] = {"severity": f.severity, "confidence": f.confidence, "cwe": f.cwe}
        properties |= {"category": f.category, "score": f.score, "suggested_fix": f.suggested_fix}
        properties |= {"agents": f.reporting_agents, "tools": f.reporting_tools, "agreement": f.agreement}
        properties |= {"related_rules": f.related_rules, "llm_verdict": f.llm_verdict, "llm_note": f.llm_note}
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": rule_index[f.rule],
            "level": sarif_level(f.severity),
            "message": {"text": f.message},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"primaryLocationLineHash": f"{digest}:{seen[digest]}"},
            "properties": {key: value for key, value in properties.items() if value is not None},
        }
        if f.trace:
            result["codeFlows"] = [_sarif_code_flow(f)]
        results.append(result)
    return results


def _sarif_artifact(file: str) -> dict[str, str]:
    return {"uri": quote(file.removeprefix("./")), "uriBaseId": "SRCROOT"}


def _sarif_location(file: str, line: int | None = None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _sarif_artifact(file)}
    if line:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _sarif_code_flow(finding: Finding) -> dict[str, Any]:
    """A taint trace as a SARIF code flow: one thread flow from the source through each step to the sink."""
    steps = [
        {
            "location": _sarif_location(step.file, step.line) | {"message": {"text": f"{step.role}: {step.code}"}},
            "kinds": [{"source": "taint", "step": "acquire", "sink": "taint"}[step.role]],
        }
        for step in finding.trace
    ]
    return {
        "message": {"text": "Request data flows from the source to the sink."},
        "threadFlows": [{"locations": steps}],
    }


def _sarif_invocation(report: AuditReport) -> dict[str, Any]:
    notifications: list[dict[str, Any]] = [
        {
            "level": "error",
            "message": {"text": f"Agent {a.agent} did not finish ({agent_problem(a)}); its findings are missing."},
            "properties": {"agent": a.agent, "status": a.status},
        }
        for a in incomplete_agents(report.agents)
    ]
    for name in sorted(report.agents):
        for tool, info in sorted(report.agents[name].tools.items()):
            if info.get("error") or info.get("status") in ("error", "timeout"):
                text = f"{tool} ({name}) {info.get('status') or 'error'}: {info.get('error') or 'no detail'}"
                notifications.append({"level": "warning", "message": {"text": text}, "properties": {"agent": name}})
            if info.get("not_analyzed"):
                text = f"{tool} ({name}) did not analyze {info['not_analyzed']} of {info.get('files')} files."
                props = {"agent": name, "tool": tool, "not_analyzed": info["not_analyzed"]}
                notifications.append({"level": "warning", "message": {"text": text}, "properties": props})
                for entry in info.get("not_analyzed_files") or []:
                    notifications.append(
                        {
                            "level": "warning",
                            "message": {"text": f"{tool} did not analyze this file: {entry['reason']}"},
                            "locations": [_sarif_location(entry["file"])],
                            "properties": {"agent": name, "tool": tool},
                        }
                    )
    invocation: dict[str, Any] = {"executionSuccessful": report.status == "completed"}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    if report.started_at:
        invocation["startTimeUtc"] = report.started_at
    if report.finished_at:
        invocation["endTimeUtc"] = report.finished_at
    return invocation

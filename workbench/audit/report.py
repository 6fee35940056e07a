"""The audit's outputs: JSON results, a Markdown report for people and SARIF 2.1.0 for code-scanning tools.

Everything that comes from the audited repository or from the LLM (file names, messages, evidence, notes,
summaries) is untrusted: in Markdown it goes through the escaping of :mod:`workbench.audit.markdown`, so no raw
HTML, link, table break or fence break passes through. Repository URLs lose any credentials before they are
shown or exported.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from workbench.audit.markdown import md_block, md_fence, md_quote, md_text
from workbench.audit.models import SEVERITIES, AgentResult, AuditReport, Finding, Severity

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "agent-workbench"
INFO_ROWS = 50
"""Informational findings listed in the Markdown report at most (all of them stay in JSON and SARIF)."""
SARIF_LEVELS: dict[str, Literal["error", "warning", "note"]] = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
    "info": "note",
}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
"""GitHub code scanning's numeric ``security-severity`` per severity, for rules with a CWE."""

# Shared facts about a report


def display_repo(repo: str) -> str:
    """The repository as given, without credentials when it is a URL (``https://user:token@host/x`` → host/x)."""
    parts = urlsplit(repo)
    if not (parts.scheme and parts.hostname):
        return repo
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def incomplete_agents(agents: Mapping[str, AgentResult]) -> list[AgentResult]:
    """The agents that failed, timed out or never finished (their findings are missing), in name order."""
    return [agents[name] for name in sorted(agents) if agents[name].status not in ("ok", "skipped")]


def agent_problem(result: AgentResult) -> str:
    """One plain line saying how an agent ended when it did not finish: ``timeout: exceeded 120 s``."""
    return f"{result.status}: {result.error}" if result.error else result.status


def describe_repo_map(repo_map: Mapping[str, Any] | None) -> str | None:
    """The explorer's map in one escaped line: ``12,345 lines in 210 files: Python 81%, Markdown 7%.``"""
    if not repo_map:
        return None
    files, lines = repo_map.get("files"), repo_map.get("lines")
    n_files = len(files) if isinstance(files, list) else files if isinstance(files, int) else None
    size = [f"{lines:,} lines" if isinstance(lines, int) else "", f"{n_files:,} files" if n_files is not None else ""]
    head = " in ".join(part for part in size if part)
    shares = [f"{md_text(name)} {pct}" if pct else md_text(name) for name, pct, _ in _languages(repo_map)[:3]]
    text = f"{head}: {', '.join(shares)}" if head and shares else head or ", ".join(shares)
    return f"{text}." if text else None


def _languages(repo_map: Mapping[str, Any]) -> list[tuple[str, str, int | None]]:
    """(language, share as "81%", lines) from ``repo_map["languages"]``; shares given as fractions or percents."""
    entries = [e for e in repo_map.get("languages") or [] if isinstance(e, Mapping) and e.get("language")]
    shares = [e["share"] for e in entries if isinstance(e.get("share"), int | float)]
    scale = 100 if shares and max(shares) <= 1 else 1
    rows = []
    for entry in entries:
        share = entry.get("share")
        pct = f"{share * scale:.0f}%" if isinstance(share, int | float) else ""
        lines = entry.get("lines")
        rows.append((str(entry["language"]), pct, lines if isinstance(lines, int) else None))
    return rows


def _severity_counts(report: AuditReport) -> dict[str, int]:
    counted = Counter(f.severity for f in report.findings)
    return {sev: report.counts.get(sev, counted[sev]) if report.counts else counted[sev] for sev in SEVERITIES}


def finding_location(finding: Finding) -> str:
    return f"{finding.file}:{finding.line}" if finding.line else finding.file


def cwe_link(cwe: int | None) -> str:
    return f"[CWE-{cwe}](https://cwe.mitre.org/data/definitions/{cwe}.html)" if cwe else ""


# JSON and Markdown


def to_json(report: AuditReport) -> dict[str, Any]:
    """The report as JSON-ready data; :meth:`AuditReport.model_validate` reads it back unchanged."""
    return report.model_dump(mode="json")


def to_markdown(report: AuditReport) -> str:
    """The report for people: header and partial banner, summary, counts, findings by severity, agents, map."""
    out = [f"# Repository audit: {md_text(display_repo(report.repo))}", ""]
    facts = [("Status", report.status), ("Commit", report.commit), ("Ref", report.ref), ("Task", report.task_id)]
    facts += [("Started", report.started_at), ("Finished", report.finished_at)]
    out += [" · ".join(f"**{name}:** {md_text(value)}" for name, value in facts if value), ""]
    out += _banner(report)
    if report.summary:
        out += ["## Summary", "", report.summary.strip(), ""]
    counts = _severity_counts(report)
    out += ["## Findings by severity", "", "| Severity | Count |", "| --- | ---: |"]
    out += [f"| {sev} | {counts[sev]} |" for sev in SEVERITIES] + [f"| **total** | {sum(counts.values())} |", ""]
    out += _findings_section(report.findings)
    out += _agents_section(report.agents)
    out += _repo_map_section(report.repo_map or next((a.repo_map for a in report.agents.values() if a.repo_map), None))
    return "\n".join(out).rstrip() + "\n"


def _banner(report: AuditReport) -> list[str]:
    missing = incomplete_agents(report.agents)
    if report.status == "completed" and not missing:
        return []
    head = "Audit failed" if report.status == "failed" else "Partial report"
    unfinished = [a for a in missing if a.status != "partial"]
    lines = []
    if unfinished or not missing:
        lines.append(f"> **{head}:** {len(unfinished)} agent(s) did not finish; their findings are missing.")
    if len(unfinished) < len(missing):
        lines.append(f"> **{head}:** some files were not analyzed by every tool; findings in them may be missing.")
    lines += [f"> - **{md_text(a.agent)}**: {md_text(agent_problem(a))}" for a in missing]
    return [*lines, ""]


def _findings_section(findings: list[Finding]) -> list[str]:
    out = ["## Findings", ""]
    if not findings:
        return [*out, "No findings.", ""]
    numbered = list(enumerate(findings, start=1))
    for sev in SEVERITIES:
        group = [(n, f) for n, f in numbered if f.severity == sev]
        if not group:
            continue
        shown = group[:INFO_ROWS] if sev == "info" else group
        out += [f"### {sev.capitalize()} ({len(group)})", ""]
        out += ["| # | Rule | CWE | Location | Message | Agreement | Agents | LLM |", "| ---: |" + " --- |" * 7]
        for n, f in shown:
            agents = ", ".join(f.agents or [f.agent])
            cells = [str(n), md_text(f.rule), cwe_link(f.cwe), md_text(finding_location(f)), md_text(f.message)]
            cells += [f"{f.agreement} ({md_text(', '.join(f.tools or [f.tool]))})", md_text(agents)]
            out.append("| " + " | ".join([*cells, md_text(f.llm_verdict or "")]) + " |")
        if len(group) > len(shown):
            out.append(f"\n…and {len(group) - len(shown)} more informational findings (see the JSON or SARIF).")
        out.append("")
        if sev != "info":
            for n, f in group:
                out += _finding_details(n, f)
    return out


def _finding_details(number: int, finding: Finding) -> list[str]:
    if not (finding.evidence or finding.suggested_fix or finding.llm_note or finding.related_rules or finding.trace):
        return []
    out = [f"**#{number} · {md_text(finding.rule)} · {md_text(finding_location(finding))}**", ""]
    if finding.evidence:
        out += [md_fence(finding.evidence), ""]
    if finding.trace:
        steps = [f"{step.role} {md_text(step.file)}:{step.line} `{md_text(step.code)}`" for step in finding.trace]
        out += ["Data flow: " + " → ".join(steps), ""]
    if finding.related_rules:
        out += [f"Also reported as: {md_text(', '.join(finding.related_rules))}", ""]
    if finding.suggested_fix:
        out += [f"Suggested fix: {md_text(finding.suggested_fix)}", ""]
    if finding.llm_note:
        verdict = md_text(finding.llm_verdict or "no verdict")
        out += [f"LLM triage ({verdict}), model-written and unverified:", "", md_quote(finding.llm_note), ""]
    return out


def _agents_section(agents: Mapping[str, AgentResult]) -> list[str]:
    if not agents:
        return []
    out = ["## Agents", ""]
    for name in sorted(agents):
        result = agents[name]
        out += [f"### {md_text(name)}: {md_text(result.status)} ({result.duration_s:.1f} s)", ""]
        if result.error:
            out += [f"Error: {md_text(result.error)}", ""]
        if result.summary:
            out += [md_block(result.summary), ""]
        if result.tools:
            out += ["| Tool | Version | Status | Duration | Files | Analyzed | Error |"]
            out += ["| --- | --- | --- | ---: | ---: | ---: | --- |"]
            for tool in sorted(result.tools):
                info = result.tools[tool]
                took = info.get("duration_s")
                took_text = f"{took:.2f} s" if isinstance(took, int | float) else md_text(took or "")
                cells = [md_text(tool), *(md_text(info.get(key) or "") for key in ("version", "status"))]
                cells += [took_text, md_text(_count(info.get("files"))), md_text(_count(info.get("analyzed")))]
                out.append("| " + " | ".join([*cells, md_text(info.get("error") or "")]) + " |")
            out.append("")
            for tool in sorted(result.tools):
                info = result.tools[tool]
                if info.get("not_analyzed"):
                    out += [f"Not analyzed by {md_text(tool)} ({info['not_analyzed']} files):", ""]
                    out += [f"- {md_text(e['file'])}: {md_text(e['reason'])}" for e in info["not_analyzed_files"]]
                    if info["not_analyzed"] > len(info["not_analyzed_files"]):
                        out.append(f"- …and {info['not_analyzed'] - len(info['not_analyzed_files'])} more")
                    out.append("")
    return out


def _count(value: Any) -> str:
    return str(len(value)) if isinstance(value, list | dict) else "" if value is None else str(value)


def _repo_map_section(repo_map: Mapping[str, Any] | None) -> list[str]:
    description = describe_repo_map(repo_map)
    if not repo_map or not description:
        return []
    out = ["## Repository map", "", description, ""]
    languages = _languages(repo_map)
    if languages:
        out += ["| Language | Lines | Share |", "| --- | ---: | ---: |"]
        out += [f"| {md_text(name)} | {'' if n is None else n} | {pct} |" for name, pct, n in languages[:10]]
        out.append("")
    highlights = [
        ("Entry points", _listed(repo_map.get("entry_points"), "name", "kind")),
        ("Largest files", _listed(repo_map.get("largest_files"), "file", "lines", " lines")),
        ("Most changed files", _listed((repo_map.get("history") or {}).get("hotspots"), "file", "commits", " commits")),
    ]
    tests = repo_map.get("tests")
    if isinstance(tests, Mapping):
        found = f"{tests.get('files', 0)} test files" if tests.get("present") else "none found"
        highlights.append(("Tests", found))
    out += [f"- **{name}:** {text}" for name, text in highlights if text]
    return [*out, ""]


def _listed(entries: Any, name: str, detail: str, unit: str = "", limit: int = 5) -> str:
    """``a (x), b (y)`` from a list of dicts in the repository map, escaped; empty when absent."""
    if not isinstance(entries, list):
        return ""
    items = [e for e in entries if isinstance(e, Mapping) and e.get(name)][:limit]
    return ", ".join(md_text(f"{e[name]} ({e[detail]}{unit})" if e.get(detail) is not None else e[name]) for e in items)


# SARIF 2.1.0


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
        properties |= {"agents": f.agents or [f.agent], "tools": f.tools or [f.tool], "agreement": f.agreement}
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

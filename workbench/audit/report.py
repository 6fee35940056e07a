"""The audit's outputs: JSON results and the Markdown report for people (SARIF is :mod:`workbench.audit.sarif`).

Everything that comes from the audited repository or from the LLM (file names, messages, evidence, notes,
summaries) is untrusted: in Markdown it goes through the escaping of :mod:`workbench.audit.markdown`, so no raw
HTML, link, table break or fence break passes through. Repository URLs lose any credentials before they are
shown or exported. The CLI, the server and the UI take all three formats from here, ``to_sarif`` included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workbench.audit.findings import count_by_severity
from workbench.audit.markdown import md_block, md_fence, md_quote, md_text
from workbench.audit.models import SEVERITIES, AgentResult, AuditReport, Finding
from workbench.audit.report_facts import (
    agent_problem,
    describe_repo_map,
    display_repo,
    finding_location,
    incomplete_agents,
    language_shares,
)
from workbench.audit.sarif import sarif_level, to_sarif

__all__ = ["display_repo", "md_block", "md_fence", "md_text", "sarif_level", "to_json", "to_markdown", "to_sarif"]

INFO_ROWS = 50
"""Informational findings listed in the Markdown report at most (all of them stay in JSON and SARIF)."""


def _severity_counts(report: AuditReport) -> dict[str, int]:
    """The report's own counts, each severity it lacks counted from its findings."""
    counted = count_by_severity(report.findings)
    return {sev: report.counts.get(sev, counted[sev]) for sev in SEVERITIES}


def cwe_link(cwe: int | None) -> str:
    return f"[CWE-{cwe}](https://cwe.mitre.org/data/definitions/{cwe}.html)" if cwe else ""


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
            agents = ", ".join(f.reporting_agents)
            cells = [str(n), md_text(f.rule), cwe_link(f.cwe), md_text(finding_location(f)), md_text(f.message)]
            cells += [f"{f.agreement} ({md_text(', '.join(f.reporting_tools))})", md_text(agents)]
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
    languages = language_shares(repo_map)
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

"""The aggregator's pure functions: merge the agents' findings, rank them, count them, summarize the audit.

Several analyzers often see one problem (bandit B602 and a pattern rule on the same ``shell=True`` call; ruff E722
and bandit B110 on the same bare ``except``). :func:`merge_findings` folds such reports into one finding that
records every tool and agent that agreed; :func:`rank` orders the result; :func:`summarize` writes the executive
summary. The LLM's triage annotates findings: a dismissal never drops a finding, and it moves the score by less
than any other signal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from workbench.audit.markdown import md_quote, md_text
from workbench.audit.models import CONFIDENCE_RANK, SEVERITIES, SEVERITY_RANK, AgentResult, Finding
from workbench.audit.report_facts import agent_problem, describe_repo_map, finding_location, incomplete_agents

SEVERITY_WEIGHT = 100.0
CONFIDENCE_WEIGHT = 10.0
AGREEMENT_WEIGHT = 2.0
AGREEMENT_CAP = 4
"""Extra tools beyond the first that still raise the score (2 × 4 = 8 < one confidence step)."""
LLM_ADJUSTMENT = {"confirmed": 0.5, "dismissed": -0.5}
"""The LLM's verdict only breaks ties between findings alike in severity, confidence and agreement."""
TOP_RISKS = 5
HOTSPOTS = 3
INSIGHT_CHARS = 2000
"""A model-written insight is cut to this many characters before it is escaped into the summary."""

CountKey = Literal["agent", "tool", "file", "category", "rule"]


# Merging


def merge_findings(findings: Iterable[Finding], *, line_tolerance: int = 2) -> list[Finding]:
    """Fold reports of the same problem into one finding; order: file, line (none last), rule.

    Two reports are the same problem when they are in the same file; have the same CWE when both have one, else
    the same category; and either both have no line, or their lines are at most ``line_tolerance`` apart (from
    different tools) or equal (from one tool: a tool that reports two nearby lines means two problems). A group
    holds only reports that all match each other. The merged finding takes the rule, message, location, evidence,
    fix and LLM verdict of its most severe, then most confident report (evidence, fix and verdict fall back to
    the others when that one has none); the highest confidence; the sorted union of agents and tools;
    ``agreement`` = distinct tools; the other rule ids in ``related_rules``; every distinct LLM note.
    """
    groups: dict[str, list[list[Finding]]] = {}
    for finding in sorted(findings, key=_order):
        file_groups = groups.setdefault(finding.file, [])
        match = next((g for g in file_groups if all(_same_problem(m, finding, line_tolerance) for m in g)), None)
        if match is None:
            file_groups.append([finding])
        else:
            match.append(finding)
    merged = [_combine(group) for file_groups in groups.values() for group in file_groups]
    return sorted(merged, key=_order)


def _order(f: Finding) -> tuple[Any, ...]:
    """A total, input-independent order: place, then rule and tool, then everything else."""
    return (f.file, f.line is None, f.line or 0, f.end_line or 0, f.rule, f.tool, f.agent, f.model_dump_json())


_CWE_FAMILY = {259: 798, 321: 798, 328: 327, 95: 94}
"""CWEs that tools use for one problem: a hardcoded password or key is a hardcoded credential (798); a weak hash
(328) is weak crypto (327); eval injection (95, bandit's) is code injection (94, the taint rules'). Findings merge
across a family, never across unrelated CWEs."""


def cwe_family(cwe: int | None) -> int | None:
    """The CWE that stands for `cwe`'s family (see `_CWE_FAMILY`), or `cwe` itself."""
    return None if cwe is None else _CWE_FAMILY.get(cwe, cwe)


def _same_problem(a: Finding, b: Finding, tolerance: int) -> bool:
    if a.file != b.file:
        return False
    if a.cwe is not None and b.cwe is not None:
        if cwe_family(a.cwe) != cwe_family(b.cwe):
            return False
    elif a.category != b.category:
        return False
    if a.line is None or b.line is None:
        return a.line is None and b.line is None
    return a.line == b.line if a.tool == b.tool else abs(a.line - b.line) <= tolerance


def _combine(group: list[Finding]) -> Finding:
    primary = max(group, key=lambda f: (SEVERITY_RANK[f.severity], CONFIDENCE_RANK[f.confidence]))
    others = [f for f in group if f is not primary]
    tools = sorted({tool for f in group for tool in f.reporting_tools})
    notes = list(dict.fromkeys(f.llm_note.strip() for f in [primary, *others] if f.llm_note and f.llm_note.strip()))
    return primary.model_copy(
        update={
            "confidence": max((f.confidence for f in group), key=CONFIDENCE_RANK.__getitem__),
            "agents": sorted({agent for f in group for agent in f.reporting_agents}),
            "tools": tools,
            "agreement": len(tools),
            "related_rules": sorted({r for f in group for r in [f.rule, *f.related_rules]} - {primary.rule}),
            "evidence": primary.evidence or next((f.evidence for f in others if f.evidence), ""),
            "suggested_fix": primary.suggested_fix or next((f.suggested_fix for f in others if f.suggested_fix), None),
            "trace": primary.trace or next((f.trace for f in others if f.trace), []),
            "llm_verdict": primary.llm_verdict or next((f.llm_verdict for f in others if f.llm_verdict), None),
            "llm_note": "\n\n".join(notes) or None,
            "score": 0.0,
        }
    )


# Ranking and counting


def score(finding: Finding) -> float:
    """``100·severity + 10·confidence + 2·min(agreement − 1, 4) ± 0.5`` for an LLM confirmation/dismissal.

    Severity rank is 0 (info) to 4 (critical), confidence rank 0 (low) to 2 (high). Each term outweighs
    everything after it: a more severe finding always ranks first, then a more confident one, then the one more
    tools agree on; the LLM's verdict only breaks the remaining ties.
    """
    agreement = min(finding.agreement - 1, AGREEMENT_CAP)
    return (
        SEVERITY_WEIGHT * SEVERITY_RANK[finding.severity]
        + CONFIDENCE_WEIGHT * CONFIDENCE_RANK[finding.confidence]
        + AGREEMENT_WEIGHT * agreement
        + LLM_ADJUSTMENT.get(finding.llm_verdict or "", 0.0)
    )


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """Copies of the findings with :func:`score` set, highest first, then by file, line and rule."""
    scored = [f.model_copy(update={"score": score(f)}) for f in findings]
    return sorted(scored, key=lambda f: (-f.score, *_order(f)))


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per severity, every severity present, most severe first."""
    counted = Counter(f.severity for f in findings)
    return {sev: counted[sev] for sev in SEVERITIES}


def count_by(findings: Iterable[Finding], key: CountKey) -> dict[str, int]:
    """Findings per agent, tool, file, category or rule, most first (then by name). A merged finding counts once
    for each of its agents (or tools), so those counts may add up to more than the findings."""
    counted: Counter[str] = Counter()
    for f in findings:
        if key == "agent":
            counted.update(set(f.reporting_agents))
        elif key == "tool":
            counted.update(set(f.reporting_tools))
        else:
            counted[getattr(f, key)] += 1
    return dict(sorted(counted.items(), key=lambda item: (-item[1], item[0])))


# The executive summary


def summarize(
    findings: list[Finding],
    agents: Mapping[str, AgentResult],
    repo_map: Mapping[str, Any] | None = None,
    *,
    llm_insight: str | None = None,
) -> str:
    """The audit's executive summary in Markdown (deterministic, every repository-derived string escaped):
    verdict, coverage (agents run, which did not finish), repository, top risks, hotspots, agreement, and the
    model-written insight, marked as such, when given."""
    ranked = rank(findings)
    out = [_verdict(ranked), "", _coverage(agents)]
    description = describe_repo_map(repo_map)
    if description:
        out += ["", f"**Repository:** {description}"]
    risks = [f for f in ranked if f.severity != "info"][:TOP_RISKS]
    if risks:
        out += ["", "### Top risks", ""]
        out += [f"{n}. {_headline(f)}" for n, f in enumerate(risks, start=1)]
    hotspots = [(file, n) for file, n in count_by(ranked, "file").items() if n >= 2][:HOTSPOTS]
    if hotspots:
        out += ["", "### Hotspots", ""]
        for file, n in hotspots:
            in_file = count_by_severity(f for f in ranked if f.file == file)
            mix = ", ".join(f"{k} {sev}" for sev, k in in_file.items() if k)
            out.append(f"- {md_text(file)}: {n} findings ({mix})")
    agreed = [f for f in ranked if f.agreement >= 2][:TOP_RISKS]
    if agreed:
        out += ["", "### Confirmed by several tools", ""]
        out += [f"- {md_text(f.rule)} at {md_text(finding_location(f))}: {md_text(', '.join(f.tools))}" for f in agreed]
    if llm_insight and llm_insight.strip():
        insight = llm_insight.strip()
        if len(insight) > INSIGHT_CHARS:
            insight = insight[:INSIGHT_CHARS] + " …"
        out += ["", "### Model-written insight (unverified)", ""]
        out += ["_Written by the LLM from repository content; it may be wrong and is not a finding._", ""]
        out.append(md_quote(insight))
    return "\n".join(out) + "\n"


def _verdict(findings: list[Finding]) -> str:
    counts = count_by_severity(findings)
    info = counts.pop("info")
    parts = [f"{n} {sev}" for sev, n in counts.items() if n]
    extra = f" ({info} informational)" if info else ""
    if not parts:
        return f"**Verdict:** no findings at or above low severity{extra}."
    total = sum(counts.values())
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}"
    return f"**Verdict:** {listed} finding{'s' if total > 1 else ''}{extra}."


def _coverage(agents: Mapping[str, AgentResult]) -> str:
    if not agents:
        return "**Agents:** none ran."
    ran = ", ".join(f"{md_text(name)} ({md_text(agents[name].status)})" for name in sorted(agents))
    missing = incomplete_agents(agents)
    if not missing:
        return f"**Agents:** {ran}."
    out = [f"**Agents:** {ran}."]
    unfinished = [a for a in missing if a.status != "partial"]
    if unfinished:
        failed = "; ".join(f"{md_text(a.agent)}: {md_text(agent_problem(a))}" for a in unfinished)
        out.append(f"**Partial audit:** findings from these agents are missing ({failed}).")
    unread = [a for a in missing if a.status == "partial"]
    if unread:
        gaps = "; ".join(f"{md_text(a.agent)}: {md_text(a.error or 'files not analyzed')}" for a in unread)
        out.append(f"**Partial audit:** not every file was analyzed ({gaps}).")
    return "\n\n".join(out)


def _headline(f: Finding) -> str:
    agreed = f" ({f.agreement} tools agree)" if f.agreement >= 2 else ""
    cwe = f" (CWE-{f.cwe})" if f.cwe else ""
    return f"**{f.severity}** {md_text(f.rule)}{cwe} at {md_text(finding_location(f))}: {md_text(f.message)}{agreed}"

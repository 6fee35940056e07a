"""Facts about an audit report that its Markdown, its SARIF and the executive summary all state the same way.

Which agents did not finish and how, where a finding is, the repository shown without credentials, the explorer's
map in one line: written once here so that the three outputs never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from workbench.audit.markdown import md_text
from workbench.audit.models import AgentResult, Finding


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
    shares = [f"{md_text(name)} {pct}" if pct else md_text(name) for name, pct, _ in language_shares(repo_map)[:3]]
    text = f"{head}: {', '.join(shares)}" if head and shares else head or ", ".join(shares)
    return f"{text}." if text else None


def language_shares(repo_map: Mapping[str, Any]) -> list[tuple[str, str, int | None]]:
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


def finding_location(finding: Finding) -> str:
    return f"{finding.file}:{finding.line}" if finding.line else finding.file

"""The security agent's analyzers: bandit on Python, detect-secrets offline on any text file, and the pattern
rules on JS/TS, shell, Dockerfiles, Makefiles, YAML and Go."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

from workbench.audit.analyzers.evidence import build_finding
from workbench.audit.analyzers.masking import mask_hashed
from workbench.audit.analyzers.process import Analyzer, Session, ToolRun, python_tool
from workbench.audit.analyzers.semgrep import run_semgrep
from workbench.audit.analyzers.sources import PYTHON_SUFFIXES, SourceFiles, file_kind, source_files
from workbench.audit.analyzers.toolchain import this_python, tool_env
from workbench.audit.pattern_rules import PATTERN_RULES
from workbench.audit.rules import (
    BANDIT_CONFIDENCE,
    BANDIT_SEVERITY,
    BANDIT_SKIP,
    SECRET_TYPES,
    Rule,
    bandit_rule,
)


def bandit_command() -> tuple[list[str], str | None, str]:
    """How to run bandit: from its tool venv (under the newest Python the machine has), else from this
    environment; with its version and the Python whose grammar it parses."""
    env = tool_env("bandit")
    if env is not None:
        return [str(env.python), "-I", "-m", "bandit"], env.version, env.python_version
    return python_tool("bandit"), None, this_python()


def run_bandit(root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun:
    """Security issues in Python code: bandit, minus the checks listed in `rules.BANDIT_SKIP` (agent security).

    Bandit parses with its interpreter's `ast`: a file in newer syntax (Python 3.12 f-strings under 3.11) is
    reported as not analyzed, naming the grammar it was read with."""
    root = root.resolve()
    session = Session(
        "bandit", root, [f for f in source_files(root) if Path(f).suffix in PYTHON_SUFFIXES], timeout_s, cancel
    )
    if not session.files:
        return session.done("skipped", "no Python files")
    tool, session.version, grammar = bandit_command()
    sources = SourceFiles(root)
    command = [*tool, "-f", "json", "-q", "--ignore-nosec", "-s", ",".join(BANDIT_SKIP)]

    def parse(stdout: bytes, work: Path) -> None:
        output = json.loads(stdout)
        for error in output.get("errors", []):
            file = session.relative(str(error.get("filename", "")), work)
            if file is None:
                continue
            if "syntax" not in str(error.get("reason", "")).lower():
                why = "bandit could not analyze it"
            elif not _utf8(root / file):
                why = "bandit could not read it: not UTF-8"
            else:
                why = f"bandit could not parse it with Python {grammar}'s grammar (newer syntax, or a syntax error)"
            session.skip_file(file, why)
        for item in output["results"]:
            file = session.relative(item["filename"], work)
            if file is None:
                continue
            cwe = (item.get("issue_cwe") or {}).get("id") or None
            line = item["line_number"]
            lines = item.get("line_range") or [line]
            session.findings.append(
                build_finding(
                    sources,
                    bandit_rule(item["test_id"], cwe, item["test_name"]),
                    rule_id=f"bandit/{item['test_id']}",
                    file=file,
                    line=line,
                    end_line=min(max(lines), line + 2),
                    message=item["issue_text"],
                    agent="security",
                    tool="bandit",
                    severity=BANDIT_SEVERITY.get(item["issue_severity"], "medium"),
                    confidence=BANDIT_CONFIDENCE.get(item["issue_confidence"], "medium"),
                    cwe=cwe,
                )
            )

    return session.run(lambda batch, work: [*command, *batch], parse)


def _utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return True


def _slug(text: str) -> str:
    return re.sub(r"\W+", "-", text).strip("-").lower()


def run_secrets(root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun:
    """Hardcoded credentials in any text file: detect-secrets, offline (`-n`), allowlist comments not honoured."""
    root = root.resolve()
    # Smallest files first, in calls of 256 KB: secrets live in small config files, and detect-secrets is slow on
    # big data files (~8 s/MB); a timeout then cuts off the least likely places and keeps what was found.
    files = sorted(source_files(root), key=lambda f: (root / f).stat().st_size)
    session = Session("detect-secrets", root, files, timeout_s, cancel, batch_bytes=256_000)
    if not session.files:
        return session.done("skipped", "no text files")
    sources = SourceFiles(root)
    # -C: paths are read relative to the repository (detect-secrets drops files outside its root); -c 1: one
    # process, the agents already run tools in parallel.
    command = [
        *python_tool("detect_secrets"),
        "-C",
        str(root),
        "-c",
        "1",
        "scan",
        "-n",
        "--disable-filter",
        "detect_secrets.filters.allowlist.is_line_allowlisted",
    ]

    def parse(stdout: bytes, work: Path) -> None:
        for name, hits in json.loads(stdout)["results"].items():
            file = session.relative(str(root / name), work)
            if file is None:
                continue
            for hit in hits:
                slug, severity, confidence = SECRET_TYPES.get(hit["type"], (_slug(hit["type"]), "medium", "medium"))
                line = hit.get("line_number")
                raw = sources.line(file, line)
                session.findings.append(
                    build_finding(
                        sources,
                        Rule("hardcoded-secret", cwe=798),
                        rule_id=f"secrets/{slug}",
                        file=file,
                        line=line,
                        message=f"Possible {hit['type']} committed in the source",
                        agent="security",
                        tool="detect-secrets",
                        severity=severity,
                        confidence=confidence,
                        cwe=798,
                        evidence=mask_hashed(raw, hit["hashed_secret"])[: SourceFiles.EVIDENCE_CHARS],
                    )
                )

    return session.run(lambda batch, work: [*command, *batch], parse)


def run_patterns(root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun:
    """Dangerous patterns in JS/TS, shell, Dockerfiles, Makefiles, YAML and Go: the regex table
    `pattern_rules.PATTERN_RULES` (agent security). Runs in-process: it only reads files."""
    root = root.resolve()
    sources = SourceFiles(root)
    kinds = {f: kind for f in source_files(root) if (kind := file_kind(root, f))}
    session = Session("patterns", root, list(kinds), timeout_s, cancel)
    if not kinds:
        return session.done("skipped", "no files the pattern rules cover")
    for file, kind in kinds.items():
        if cancel is not None and cancel.is_set():
            return session.done("error", "cancelled")
        if time.monotonic() - session.started > timeout_s:
            return session.done("timeout", f"patterns ran past {timeout_s:g} s")
        text = "\n".join(sources.lines(file))
        comment = ("//", "/*", "*") if kind == "js" else ("#",)
        rules = [r for r in PATTERN_RULES if kind in r.kinds and (r.requires is None or r.requires.search(text))]
        for number, line in enumerate(sources.lines(file), start=1):
            if not rules or line.lstrip().startswith(comment):
                continue
            for rule in rules:
                if rule.pattern.search(line):
                    session.findings.append(
                        build_finding(
                            sources,
                            Rule(rule.category, rule.severity, rule.cwe, confidence=rule.confidence),
                            rule_id=f"patterns/{rule.id}",
                            file=file,
                            line=number,
                            message=rule.message,
                            agent="security",
                            tool="patterns",
                            severity=rule.severity,
                            confidence=rule.confidence,
                            cwe=rule.cwe,
                        )
                    )
    return session.done("ok")


SECURITY_TOOLS: tuple[Analyzer, ...] = (run_semgrep, run_bandit, run_secrets, run_patterns)

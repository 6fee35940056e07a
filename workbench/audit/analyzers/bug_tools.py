"""The bug hunter's analyzers: ruff's bug-focused rules on Python, lizard's complexity hotspots in any language."""

from __future__ import annotations

import csv
import json
import re
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from workbench.audit.analyzers.evidence import build_finding
from workbench.audit.analyzers.process import Analyzer, Session, ToolRun, python_tool
from workbench.audit.analyzers.sources import LIZARD_SUFFIXES, PYTHON_SUFFIXES, SourceFiles, source_files
from workbench.audit.rules import RUFF_DEFAULT, RUFF_IGNORE, RUFF_PREFIXES, RUFF_RULES, RUFF_SELECT, Rule

RUFF_CODE = re.compile(r"^[A-Z]{1,4}[0-9]{0,4}$")


def run_ruff(
    root: Path, *, timeout_s: float, cancel: threading.Event | None = None, extend_select: Sequence[str] = ()
) -> ToolRun:
    """Likely bugs in Python code: ruff with the bug-focused rule set of `rules.RUFF_SELECT` (agent bug_hunter),
    plus `extend_select` (rule codes or prefixes, e.g. the style rules of `rules.RUFF_STYLE`).

    `--isolated` ignores the repository's own ruff configuration, `--ignore-noqa` its suppression comments. Ruff
    parses the newest Python grammar; a file it cannot parse is a syntax-error finding and not analyzed."""
    bad = [code for code in extend_select if not RUFF_CODE.match(code)]
    if bad:
        raise ValueError(f"not ruff rule codes: {', '.join(bad)} (expected codes such as E722 or prefixes such as S1)")
    root = root.resolve()
    session = Session(
        "ruff", root, [f for f in source_files(root) if Path(f).suffix in PYTHON_SUFFIXES], timeout_s, cancel
    )
    if not session.files:
        return session.done("skipped", "no Python files")
    try:
        from ruff.__main__ import find_ruff_bin

        binary = find_ruff_bin()
    except (ImportError, FileNotFoundError):
        return session.done("error", "ruff is not installed here; install the workbench with its dependencies")
    sources = SourceFiles(root)
    command = [
        binary,
        *"check --isolated --no-cache --ignore-noqa --exit-zero --output-format json --target-version py313".split(),
        *("--select", ",".join((*RUFF_SELECT, *extend_select)), "--ignore", ",".join(RUFF_IGNORE)),
    ]
    syntax_reported: set[str] = set()

    def parse(stdout: bytes, work: Path) -> None:
        for item in json.loads(stdout):
            file = session.relative(item["filename"], work)
            code = item.get("code") or "invalid-syntax"
            if file is None or (code == "invalid-syntax" and file in syntax_reported):
                continue  # one syntax error per file: the rest are its echoes
            if code == "invalid-syntax":
                syntax_reported.add(file)
                session.skip_file(file, f"ruff could not parse it: {item['message'][:120]}")
            elif code == "E902":
                session.skip_file(file, f"ruff could not read it: {item['message'][:120]}")
            rule = RUFF_RULES.get(code) or next(
                (r for p, r in sorted(RUFF_PREFIXES.items(), key=lambda kv: -len(kv[0])) if code.startswith(p)),
                RUFF_DEFAULT,
            )
            end = (item.get("end_location") or {}).get("row")
            session.findings.append(
                build_finding(
                    sources,
                    rule,
                    rule_id=f"ruff/{code}",
                    file=file,
                    line=item["location"]["row"],
                    end_line=end,
                    message=item["message"],
                    agent="bug_hunter",
                    tool="ruff",
                    severity="low",
                    confidence="high",
                    cwe=None,
                )
            )

    return session.run(lambda batch, work: [*command, *batch], parse)


def run_lizard(
    root: Path,
    *,
    timeout_s: float,
    cancel: threading.Event | None = None,
    ccn_threshold: int = 15,
    length_threshold: int = 100,
) -> ToolRun:
    """Complexity hotspots in any language lizard parses (agent bug_hunter): functions whose cyclomatic complexity
    is over `ccn_threshold` (medium from twice that), or with more than `length_threshold` lines of code."""
    root = root.resolve()
    files = [f for f in source_files(root) if Path(f).suffix in LIZARD_SUFFIXES]
    # lizard runs in the checkout and is given "./relative" paths after "--": no character of the checkout's
    # path or a file's name can make it read another file. It cannot match a name holding a line break.
    session = Session("lizard", root, files, timeout_s, cancel, from_checkout=True)
    for file in files:
        if "\n" in file:
            session.skip_file(file, "lizard cannot read a file whose path holds a line break")
    if not session.files:
        return session.done("skipped", "no source files lizard can parse")
    sources = SourceFiles(root)

    def command(batch: list[str], work: Path) -> list[str]:
        readable = [path for path in batch if "\n" not in path]
        if not readable:  # lizard given no path would walk the whole checkout
            return [sys.executable, "-I", "-c", ""]
        return [*python_tool("lizard"), "--csv", "--", *readable]

    def parse(stdout: bytes, work: Path) -> None:
        for row in csv.reader(stdout.decode(errors="replace").splitlines()):
            if len(row) < 11 or not row[0].isdigit():
                continue
            nloc, ccn, name, start = int(row[0]), int(row[1]), row[7], int(row[9])
            file = session.relative(row[6], work)
            if file is None or (ccn <= ccn_threshold and nloc <= length_threshold):
                continue
            too_complex = ccn > ccn_threshold
            session.findings.append(
                build_finding(
                    sources,
                    Rule("complexity", cwe=1121 if too_complex else None),
                    rule_id="lizard/ccn" if too_complex else "lizard/length",
                    file=file,
                    line=start,
                    message=f"`{name}` has cyclomatic complexity {ccn} over {nloc} lines of code "
                    f"(thresholds: complexity {ccn_threshold}, length {length_threshold})",
                    agent="bug_hunter",
                    tool="lizard",
                    confidence="high",
                    cwe=None,
                    severity="medium" if ccn >= 2 * ccn_threshold else "low",
                    evidence=sources.evidence(file, start),
                )
            )

    return session.run(command, parse)


BUG_TOOLS: tuple[Analyzer, ...] = (run_ruff, run_lizard)

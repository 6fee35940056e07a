"""The static analyzers behind the repo-audit agents, each turning one tool's output into `Finding`s.

The audited repository is untrusted input, and nothing here executes code from it:
- ruff, bandit, lizard and detect-secrets run as subprocesses (parallel across agents, killable), Python ones as
  `python -I -m tool` from a temporary directory outside the repository, so no module of the repository can be
  imported in place of the tool's own; they only read the files listed for them;
- detect-secrets runs with `-n` (it would otherwise call providers' APIs to verify what it found);
- suppression comments (`# nosec`, `# noqa`, `pragma: allowlist secret`) are the repository's own claims: they are
  not honoured, the finding is kept with low confidence;
- a secret never appears in full in a finding: evidence shows its first four characters and `…`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from workbench.audit.models import AgentName, Confidence, Finding, Severity
from workbench.audit.rules import (
    BANDIT_CONFIDENCE,
    BANDIT_SEVERITY,
    BANDIT_SKIP,
    CATEGORY_FIXES,
    PATTERN_RULES,
    RUFF_DEFAULT,
    RUFF_IGNORE,
    RUFF_PREFIXES,
    RUFF_RULES,
    RUFF_SELECT,
    SECRET_SHAPES,
    SECRET_TYPES,
    Rule,
    bandit_rule,
)

ToolStatus = Literal["ok", "error", "timeout", "skipped"]


@dataclass
class ToolRun:
    """One analyzer's run over a repository."""

    tool: str
    version: str | None
    status: ToolStatus
    duration_s: float
    files: int
    """How many files the tool was given."""
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None


class Analyzer(Protocol):
    def __call__(self, root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun: ...


_POLL_S = 0.02
_ARGV_CHARS = 100_000  # paths per process call, well under the kernel's argument limit
_SUPPRESSED = re.compile(r"#\s*nosec|#\s*noqa|pragma:\s*allowlist[ -]secret|NOSONAR|eslint-disable", re.IGNORECASE)
PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
LIZARD_SUFFIXES = frozenset(
    ".c .h .cc .cpp .cxx .hpp .java .cs .js .jsx .mjs .cjs .ts .tsx .vue .py .m .rb .php .swift .scala .go .lua"
    " .rs .kt .kts .sol .erl .zig .pl .pm .gd .f90".split()
)


# --- what gets read -----------------------------------------------------------------------------------------------
SKIP_DIRS = frozenset(
    ".git .hg .svn node_modules bower_components venv .venv .tox .nox dist build __pycache__ .mypy_cache"
    " .pytest_cache .ruff_cache .eggs site-packages".split()
)
MAX_FILE_BYTES = 1_000_000
_BINARY_SUFFIXES = frozenset(
    ".png .jpg .jpeg .gif .ico .webp .bmp .pdf .zip .gz .tgz .bz2 .xz .7z .jar .war .class .whl .egg .so .dll"
    " .dylib .exe .bin .o .a .pyc .pyo .woff .woff2 .ttf .otf .eot .mp3 .mp4 .wav .ogg .onnx .pt .npy .parquet"
    " .sqlite .db .map".split()
)


def _readable(path: str, name: str) -> bool:
    """A regular file (not a link), at most 1 MB, not binary and not minified."""
    if os.path.islink(path) or name.endswith((".min.js", ".min.css")) or Path(name).suffix in _BINARY_SUFFIXES:
        return False
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES or not os.path.isfile(path):
            return False
        with open(path, "rb") as handle:
            head = handle.read(8192)
    except OSError:
        return False
    if b"\0" in head:
        return False
    return not (name.endswith((".js", ".css")) and max(map(len, head.split(b"\n"))) > 2000)


def source_files(root: Path) -> list[str]:
    """The repository's files worth analysing, relative with forward slashes, sorted; vendored, generated and
    tool directories (`SKIP_DIRS`, `*.egg-info`, any virtualenv) skipped, symbolic links never followed."""
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d
            for d in dirnames
            if d not in SKIP_DIRS
            and not d.endswith(".egg-info")
            and not os.path.exists(os.path.join(directory, d, "pyvenv.cfg"))
        ]
        for name in filenames:
            path = os.path.join(directory, name)
            if _readable(path, name):
                found.append(Path(path).relative_to(root).as_posix())
    return sorted(found)


_KINDS = {
    suffix: kind
    for kind, suffixes in {
        "js": ".js .jsx .mjs .cjs .ts .tsx .vue",
        "shell": ".sh .bash .zsh .ksh",
        "yaml": ".yml .yaml",
        "go": ".go",
        "make": ".mk",
        "dockerfile": ".dockerfile",
    }.items()
    for suffix in suffixes.split()
}


def file_kind(root: Path, file: str) -> str | None:
    """Which pattern rules apply to a file: js, shell, dockerfile, make, yaml, go, or None."""
    name = file.rsplit("/", 1)[-1]
    if name in {"Dockerfile", "Containerfile"} or name.startswith("Dockerfile."):
        return "dockerfile"
    if name in {"Makefile", "GNUmakefile", "makefile"}:
        return "make"
    suffix = Path(name).suffix.lower()
    if suffix:
        return _KINDS.get(suffix)
    try:
        with open(root / file, "rb") as handle:
            shebang = handle.readline(200)
    except OSError:
        return None
    return "shell" if re.match(rb"#!.*\b(ba|z|k|da)?sh\b", shebang) else None


class SourceFiles:
    """Reads repository files for evidence, each once."""

    EVIDENCE_CHARS = 200

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lines: dict[str, list[str]] = {}

    def lines(self, file: str) -> list[str]:
        if file not in self._lines:
            try:
                text = (self.root / file).read_bytes()[: MAX_FILE_BYTES + 1].decode("utf-8", errors="replace")
            except OSError:
                text = ""
            self._lines[file] = text.splitlines()
        return self._lines[file]

    def line(self, file: str, number: int | None) -> str:
        lines = self.lines(file)
        return lines[number - 1].strip() if number and 0 < number <= len(lines) else ""

    def evidence(self, file: str, line: int | None, end_line: int | None = None, max_lines: int = 3) -> str:
        """The stripped source line(s) from `line` to `end_line` (at most `max_lines`), cut at 200 characters."""
        if not line:
            return ""
        last = min(end_line or line, line + max_lines - 1)
        text = "\n".join(self.line(file, n) for n in range(line, last + 1)).strip()
        return text if len(text) <= self.EVIDENCE_CHARS else text[: self.EVIDENCE_CHARS - 1] + "…"


# --- running a tool ----------------------------------------------------------------------------------------------
@dataclass
class _Exec:
    failure: Literal["timeout", "cancelled"] | None
    stdout: bytes
    stderr: str
    returncode: int | None


def _tool_env(work: Path) -> dict[str, str]:
    """A bare environment: no credentials of this process, no user configuration (HOME is the scratch dir)."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(work), "TMPDIR": str(work), "LC_ALL": "C.UTF-8"}


def _execute(cmd: list[str], *, cwd: Path, deadline: float, cancel: threading.Event | None) -> _Exec:
    """Run one process in its own session, stdout to a file; kill its whole group at the deadline or on cancel."""
    with tempfile.TemporaryFile(dir=cwd) as out, tempfile.TemporaryFile(dir=cwd) as err:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=_tool_env(cwd), stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        failure: Literal["timeout", "cancelled"] | None = None
        try:
            while proc.poll() is None:
                if cancel is not None and cancel.is_set():
                    failure = "cancelled"
                    break
                if time.monotonic() >= deadline:
                    failure = "timeout"
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=_POLL_S)
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()  # reap it: no zombie
        out.seek(0)
        err.seek(0)
        return _Exec(failure, out.read(), err.read()[-2000:].decode(errors="replace"), proc.returncode)


def _batches(paths: list[str], max_bytes: int | None) -> Iterator[list[str]]:
    """Consecutive runs of `paths` short enough for one command line and, if given, `max_bytes` of content."""
    batch: list[str] = []
    chars = content = 0
    for path in paths:
        weight = os.path.getsize(path) if max_bytes else 0
        if batch and (chars + len(path) > _ARGV_CHARS or (max_bytes and content + weight > max_bytes)):
            yield batch
            batch, chars, content = [], 0, 0
        batch.append(path)
        chars += len(path) + 1
        content += weight
    if batch:
        yield batch


@dataclass
class _Session:
    """One tool's run: its files, its time budget, a scratch directory outside the repository."""

    tool: str
    root: Path
    files: list[str]
    timeout_s: float
    cancel: threading.Event | None
    batch_bytes: int | None = None
    """Split the files into calls of at most this much content, so that a timeout keeps the earlier results."""
    started: float = field(default_factory=time.monotonic)
    findings: list[Finding] = field(default_factory=list)

    def run(self, make_cmd: Callable[[list[str], Path], list[str]], parse: Callable[[bytes, Path], None]) -> ToolRun:
        """Run the tool over the files in batches, handing each output to `parse`; map failures to a status."""
        deadline = self.started + self.timeout_s
        status: ToolStatus = "ok"
        error = None
        with tempfile.TemporaryDirectory(prefix=f"wb-audit-{self.tool}-") as tmp:
            work = Path(tmp).resolve()
            done = 0
            for batch in _batches([str(self.root / f) for f in self.files], self.batch_bytes):
                try:
                    result = _execute(make_cmd(batch, work), cwd=work, deadline=deadline, cancel=self.cancel)
                except OSError as exc:
                    status, error = "error", f"{self.tool} could not start: {exc}"
                    break
                if result.failure == "timeout":
                    status = "timeout"
                    error = f"{self.tool} ran past {self.timeout_s:g} s and was killed ({done} files done)"
                    break
                if result.failure == "cancelled":
                    status, error = "error", "cancelled"
                    break
                try:
                    parse(result.stdout, work)
                except (ValueError, KeyError, TypeError) as exc:
                    status = "error"
                    error = f"{self.tool} exited {result.returncode} without usable output ({exc}): {result.stderr}"
                    break
                done += len(batch)
        return self.done(status, error)

    def done(self, status: ToolStatus, error: str | None = None) -> ToolRun:
        return ToolRun(
            self.tool,
            _version(self.tool),
            status,
            round(time.monotonic() - self.started, 3),
            len(self.files),
            self.findings,
            error,
        )

    def relative(self, name: str, work: Path) -> str | None:
        """The repository-relative path of a file name as the tool printed it (absolute or relative to `work`)."""
        path = Path(os.path.normpath(os.path.join(work, name)))
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return None


def _version(tool: str) -> str | None:
    """The installed version of the tool (the pattern rules are versioned with the workbench)."""
    try:
        return importlib.metadata.version("agent-workbench" if tool == "patterns" else tool)
    except importlib.metadata.PackageNotFoundError:
        return None


def _python_tool(module: str) -> list[str]:
    # -I: isolated mode, neither the working directory nor PYTHON* variables reach sys.path
    return [sys.executable, "-I", "-m", module]


# --- building findings -------------------------------------------------------------------------------------------
def _mask(secret: str) -> str:
    return secret[:4] + "…" if len(secret) > 4 else "…"


def _mask_literals(text: str) -> str:
    """Mask every quoted string (for lines known to hold a secret whose exact extent is unknown)."""
    return re.sub(r"(['\"`])([^'\"`]*)\1", lambda m: m[1] + _mask(m[2]) + m[1], text)


def _finding(
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
    evidence = SECRET_SHAPES.sub(lambda m: _mask(m[0]), evidence)
    message = SECRET_SHAPES.sub(lambda m: _mask(m[0]), message)
    if rule.category == "hardcoded-secret":
        evidence, message = _mask_literals(evidence), _mask_literals(message)
    if _SUPPRESSED.search(evidence):
        confidence = "low"
        message += " (the line carries a suppression comment; the audit does not take it on trust)"
    return Finding(
        rule=rule_id,
        category=rule.category,
        cwe=rule.cwe or cwe,
        severity=rule.severity or severity,
        confidence=rule.confidence or confidence,
        file=file,
        line=line,
        end_line=end_line if end_line and line and end_line > line else None,
        message=message,
        evidence=evidence,
        agent=agent,
        tool=tool,
        suggested_fix=rule.fix or CATEGORY_FIXES.get(rule.category),
    )


# --- the analyzers -----------------------------------------------------------------------------------------------
def run_ruff(root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun:
    """Likely bugs in Python code: ruff with the bug-focused rule set of `rules.RUFF_SELECT` (agent bug_hunter).

    `--isolated` ignores the repository's own ruff configuration, `--ignore-noqa` its suppression comments."""
    root = root.resolve()
    session = _Session(
        "ruff", root, [f for f in source_files(root) if Path(f).suffix in PYTHON_SUFFIXES], timeout_s, cancel
    )
    if not session.files:
        return session.done("skipped", "no Python files")
    try:
        from ruff.__main__ import find_ruff_bin

        binary = find_ruff_bin()
    except (ImportError, FileNotFoundError) as exc:
        return session.done("error", f"ruff is not installed: {exc}")
    sources = SourceFiles(root)
    command = [
        binary,
        *"check --isolated --no-cache --ignore-noqa --exit-zero --output-format json --target-version py313".split(),
        *("--select", ",".join(RUFF_SELECT), "--ignore", ",".join(RUFF_IGNORE)),
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
            rule = RUFF_RULES.get(code) or next(
                (r for p, r in sorted(RUFF_PREFIXES.items(), key=lambda kv: -len(kv[0])) if code.startswith(p)),
                RUFF_DEFAULT,
            )
            end = (item.get("end_location") or {}).get("row")
            session.findings.append(
                _finding(
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
    session = _Session(
        "lizard", root, [f for f in source_files(root) if Path(f).suffix in LIZARD_SUFFIXES], timeout_s, cancel
    )
    if not session.files:
        return session.done("skipped", "no source files lizard can parse")
    sources = SourceFiles(root)

    def command(batch: list[str], work: Path) -> list[str]:
        listing = work / "files.txt"
        listing.write_text("\n".join(batch) + "\n")
        return [*_python_tool("lizard"), "--csv", "-f", str(listing)]

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
                _finding(
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


def run_bandit(root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun:
    """Security issues in Python code: bandit, minus the checks listed in `rules.BANDIT_SKIP` (agent security)."""
    root = root.resolve()
    session = _Session(
        "bandit", root, [f for f in source_files(root) if Path(f).suffix in PYTHON_SUFFIXES], timeout_s, cancel
    )
    if not session.files:
        return session.done("skipped", "no Python files")
    sources = SourceFiles(root)
    command = [*_python_tool("bandit"), "-f", "json", "-q", "--ignore-nosec", "-s", ",".join(BANDIT_SKIP)]

    def parse(stdout: bytes, work: Path) -> None:
        for item in json.loads(stdout)["results"]:
            file = session.relative(item["filename"], work)
            if file is None:
                continue
            cwe = (item.get("issue_cwe") or {}).get("id") or None
            line = item["line_number"]
            lines = item.get("line_range") or [line]
            session.findings.append(
                _finding(
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


def _slug(text: str) -> str:
    return re.sub(r"\W+", "-", text).strip("-").lower()


def _mask_hashed(line: str, hashed: str) -> str:
    """Mask the secret detect-secrets found on `line`, recognized by its SHA-1; every literal if none matches."""
    candidates = {m[2] for m in re.finditer(r"(['\"`])(.+?)\1", line)}
    candidates.update(re.findall(r"[^\s'\"`,;()\[\]{}<>]+", line))
    candidates.update(part for token in list(candidates) for part in re.split(r"[=:]", token, maxsplit=1))
    for candidate in sorted(candidates, key=len, reverse=True):
        if candidate and hashlib.sha1(candidate.encode()).hexdigest() == hashed:
            return line.replace(candidate, _mask(candidate))
    masked = _mask_literals(line)
    return re.sub(r"[\w+/=-]{16,}", lambda m: _mask(m[0]), masked)


def run_secrets(root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun:
    """Hardcoded credentials in any text file: detect-secrets, offline (`-n`), allowlist comments not honoured."""
    root = root.resolve()
    # Smallest files first, in calls of 256 KB: secrets live in small config files, and detect-secrets is slow on
    # big data files (~8 s/MB); a timeout then cuts off the least likely places and keeps what was found.
    files = sorted(source_files(root), key=lambda f: (root / f).stat().st_size)
    session = _Session("detect-secrets", root, files, timeout_s, cancel, batch_bytes=256_000)
    if not session.files:
        return session.done("skipped", "no text files")
    sources = SourceFiles(root)
    # -C: paths are read relative to the repository (detect-secrets drops files outside its root); -c 1: one
    # process, the agents already run tools in parallel.
    command = [
        *_python_tool("detect_secrets"),
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
                    _finding(
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
                        evidence=_mask_hashed(raw, hit["hashed_secret"])[: SourceFiles.EVIDENCE_CHARS],
                    )
                )

    return session.run(lambda batch, work: [*command, *batch], parse)


def run_patterns(root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun:
    """Dangerous patterns in JS/TS, shell, Dockerfiles, Makefiles, YAML and Go: the regex table
    `rules.PATTERN_RULES` (agent security). Runs in-process: it only reads files."""
    root = root.resolve()
    sources = SourceFiles(root)
    kinds = {f: kind for f in source_files(root) if (kind := file_kind(root, f))}
    session = _Session("patterns", root, list(kinds), timeout_s, cancel)
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
                        _finding(
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


BUG_TOOLS: tuple[Analyzer, ...] = (run_ruff, run_lizard)
SECURITY_TOOLS: tuple[Analyzer, ...] = (run_bandit, run_secrets, run_patterns)

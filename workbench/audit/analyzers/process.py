"""Running one analyzer as killable subprocesses: a bare environment, a scratch directory outside the repository,
batches of files, a time budget and a cancel event; what a run reports as a :class:`ToolRun`."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from workbench.audit import child_processes
from workbench.audit.models import Finding
from workbench.runlog.steps import step

ToolStatus = Literal["ok", "partial", "error", "timeout", "skipped"]
"""partial: the tool ran, but some of the files it was given were not analyzed (`ToolRun.not_analyzed` says why)."""


@dataclass(frozen=True)
class NotAnalyzed:
    """A file a tool was given and did not analyze, and why (a parse error, its own time limit, ...)."""

    file: str
    reason: str


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
    not_analyzed: list[NotAnalyzed] = field(default_factory=list)

    @property
    def analyzed(self) -> int:
        """How many of its files the tool analyzed (all of them unless it reported some it could not read)."""
        return 0 if self.status == "skipped" else max(0, self.files - len(self.not_analyzed))


class Analyzer(Protocol):
    def __call__(self, root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun: ...


_POLL_S = 0.02
_ARGV_CHARS = 100_000  # paths per process call, well under the kernel's argument limit


@dataclass
class _Exec:
    failure: Literal["timeout", "cancelled"] | None
    stdout: bytes
    stderr: str
    returncode: int | None


def _tool_env(work: Path) -> dict[str, str]:
    """A bare environment: no credentials of this process, no user configuration (HOME is the scratch dir)."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(work), "TMPDIR": str(work), "LC_ALL": "C.UTF-8"}


def _execute(cmd: list[str], *, cwd: Path, work: Path, deadline: float, cancel: threading.Event | None) -> _Exec:
    """Run one process in a group of its own, stdout to a file; kill the whole group at the deadline, on cancel,
    and when it is done (what it left running); it dies with this process too (:mod:`..child_processes`)."""
    with tempfile.TemporaryFile(dir=work) as out, tempfile.TemporaryFile(dir=work) as err:
        proc = child_processes.spawn(
            cmd, cwd=cwd, env=_tool_env(work), stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        failure: Literal["timeout", "cancelled"] | None = None
        stop = cancel or threading.Event()
        try:
            while child_processes.running(proc):
                if stop.is_set():
                    failure = "cancelled"
                    break
                if time.monotonic() >= deadline:
                    failure = "timeout"
                    break
                stop.wait(_POLL_S)
        finally:
            returncode = child_processes.kill(proc)
        out.seek(0)
        err.seek(0)
        return _Exec(failure, out.read(), err.read()[-2000:].decode(errors="replace"), returncode)


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
class Session:
    """One tool's run: its files, its time budget, a scratch directory outside the repository."""

    tool: str
    root: Path
    files: list[str]
    timeout_s: float
    cancel: threading.Event | None
    batch_bytes: int | None = None
    """Split the files into calls of at most this much content, so that a timeout keeps the earlier results."""
    from_checkout: bool = False
    """Run the tool in the checkout and name its files ``./relative/path`` rather than by absolute paths in a
    scratch directory: for a tool that misreads characters of the checkout's own path (lizard, line breaks)."""
    started: float = field(default_factory=time.monotonic)
    findings: list[Finding] = field(default_factory=list)
    not_analyzed: list[NotAnalyzed] = field(default_factory=list)
    version: str | None = None
    """The tool's version when it is not a package of this environment (a tool venv's semgrep, bandit)."""

    def skip_file(self, file: str | None, reason: str) -> None:
        """Record that the tool did not analyze `file` (repository-relative), once per file."""
        if file is not None and all(n.file != file for n in self.not_analyzed):
            self.not_analyzed.append(NotAnalyzed(file, reason))

    def run(self, make_cmd: Callable[[list[str], Path], list[str]], parse: Callable[[bytes, Path], None]) -> ToolRun:
        """Run the tool over the files in batches, handing each output to `parse`; map failures to a status."""
        deadline = self.started + self.timeout_s
        status: ToolStatus = "ok"
        error = None
        with tempfile.TemporaryDirectory(prefix=f"wb-audit-{self.tool}-") as tmp:
            work = Path(tmp).resolve()
            done = 0
            cwd = self.root if self.from_checkout else work
            arguments = {str(self.root / f): f"./{f}" if self.from_checkout else str(self.root / f) for f in self.files}
            for batch in _batches(list(arguments), self.batch_bytes):
                try:
                    command = make_cmd([arguments[path] for path in batch], work)
                    with step("analyzer", f"{self.tool} process", _process_attributes(command, batch)) as span:
                        result = _execute(command, cwd=cwd, work=work, deadline=deadline, cancel=self.cancel)
                        span.set("workbench.analyzer.exit_code", result.returncode)
                        span.set("workbench.analyzer.outcome", result.failure or "exited")
                except OSError as exc:
                    status, error = "error", f"{self.tool} could not start: {exc.strerror or 'the system refused'}"
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
                    stderr = result.stderr.replace(str(self.root), "<checkout>").replace(str(work), "<scratch>")
                    error = f"{self.tool} exited {result.returncode} without usable output ({exc}): {stderr}"
                    break
                done += len(batch)
        return self.done(status, error)

    def done(self, status: ToolStatus, error: str | None = None) -> ToolRun:
        """The run's result; a run that went through with files left unread is `partial`."""
        if status == "ok" and self.not_analyzed:
            status = "partial"
        return ToolRun(
            self.tool,
            self.version or _version(self.tool),
            status,
            round(time.monotonic() - self.started, 3),
            len(self.files),
            self.findings,
            error,
            sorted(self.not_analyzed, key=lambda n: n.file),
        )

    def relative(self, name: str, work: Path) -> str | None:
        """The repository-relative path of a file name as the tool printed it (absolute, or relative to where it
        ran: `work`, or the checkout for a `from_checkout` session)."""
        path = Path(os.path.normpath(os.path.join(self.root if self.from_checkout else work, name)))
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return None


def _process_attributes(command: list[str], batch: list[str]) -> dict[str, object]:
    """What a trace shows of one analyzer subprocess: its program and options (no file paths) and its file count."""
    return {
        "workbench.analyzer.command": " ".join([Path(command[0]).name, *(a for a in command[1:] if a.startswith("-"))]),
        "workbench.analyzer.files": len(batch),
    }


def _version(tool: str) -> str | None:
    """The installed version of the tool (the pattern rules are versioned with the workbench)."""
    try:
        return importlib.metadata.version("agent-workbench" if tool == "patterns" else tool)
    except importlib.metadata.PackageNotFoundError:
        return None


def python_tool(module: str) -> list[str]:
    """The command that runs a Python tool from this environment, isolated from the directory it runs in."""
    # -I: isolated mode, neither the working directory nor PYTHON* variables reach sys.path
    return [sys.executable, "-I", "-m", module]

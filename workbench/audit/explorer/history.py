"""The git history: one bounded ``git log --numstat`` over the fetched history, nothing from the repository run.

Hooks, fsmonitor, external diff, textconv and signature display are switched off and the global and system
configs ignored. git runs as the audit's other children do: killed on cancel, at its time limit, and with this
process (:mod:`workbench.audit.child_processes`).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from workbench.audit import child_processes
from workbench.audit.explorer.cancel import check_cancelled

if TYPE_CHECKING:
    import git

__all__ = ["read_git_history"]

MAX_COMMITS = 2000
GIT_TIMEOUT_S = 60
LOCK_FILES = frozenset(
    {"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "uv.lock", "poetry.lock", "Pipfile.lock", "Cargo.lock"}
    | {"go.sum", "Gemfile.lock", "composer.lock"}
)

_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"}
_GIT_ENV |= {"GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}
_GIT_SAFE = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "log.showSignature=false"]
_GIT_SAFE += ["-c", "core.quotePath=false", "-c", "core.pager=cat"]
_LOG_FORMAT = "%x1e%H%x1f%h%x1f%cI%x1f%aN%x1f%s"


def read_git_history(root: Path, present: set[str], cancel: threading.Event | None) -> dict[str, Any] | None:
    import git  # GitPython, imported when a map is built rather than with the module

    try:
        repo = git.Repo(root)  # the folder itself, never a parent's repository
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    try:
        return _read_history(repo, present, cancel)
    finally:
        repo.close()


def _read_history(repo: git.Repo, present: set[str], cancel: threading.Event | None) -> dict[str, Any]:
    git_dir = Path(repo.git_dir)
    try:
        boundary = set((git_dir / "shallow").read_text().split())
    except OSError:
        boundary = set()
    result: dict[str, Any] = {"commits": 0, "analyzed": 0, "shallow": bool(boundary), "first": None, "last": None}
    result |= {"authors": [], "authors_total": 0, "hotspots": [], "recent": [], "error": None}
    if not repo.head.is_valid():
        return result
    base = ["git", f"--git-dir={git_dir}", *_GIT_SAFE]
    try:
        result["commits"] = int(_run_git([*base, "rev-list", "--count", "HEAD"], cancel))
        check_cancelled(cancel)
        log = _run_git([
            *base, "log", f"--max-count={MAX_COMMITS}", "--no-renames", "--no-textconv", "--no-ext-diff", "--numstat",
            f"--format={_LOG_FORMAT}", "HEAD", "--",
        ], cancel)  # fmt: skip
    except (GitFailed, OSError, ValueError) as exc:
        result["error"] = (str(exc).strip().splitlines() or ["git failed"])[-1][:300]
        return result
    _parse_log(log.decode("utf-8", errors="replace"), boundary, present, result)
    return result


class GitFailed(Exception):
    """A history command failed or ran past ``GIT_TIMEOUT_S``; the message is git's last words."""


def _run_git(argv: list[str], cancel: threading.Event | None) -> bytes:
    """One git command as the audit runs its children: killed with everything it started on cancel, after
    ``GIT_TIMEOUT_S``, and when this process dies (:mod:`workbench.audit.child_processes`)."""
    stop = cancel or threading.Event()
    deadline = time.monotonic() + GIT_TIMEOUT_S
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = child_processes.spawn(
            argv, env={**os.environ, **_GIT_ENV}, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        try:
            while child_processes.running(process):
                check_cancelled(stop)
                if time.monotonic() > deadline:
                    raise GitFailed(f"git took longer than {GIT_TIMEOUT_S} s")
                stop.wait(0.02)
        finally:
            returncode = child_processes.kill(process)
        if returncode != 0:
            err.seek(0)
            raise GitFailed(err.read()[-2000:].decode(errors="replace") or f"git exited {returncode}")
        out.seek(0)
        return out.read()


def _parse_log(text: str, boundary: set[str], present: set[str], result: dict[str, Any]) -> None:
    """Fill commits' dates, authors, hotspots and recent subjects from ``git log --numstat`` output."""
    authors: Counter[str] = Counter()
    churn: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    commits = [chunk for chunk in text.split("\x1e") if chunk.strip()]
    for i, chunk in enumerate(commits):
        header, *stats = chunk.split("\n")
        sha, short, date, author, subject = (header.split("\x1f", 4) + [""] * 5)[:5]
        authors[author] += 1
        if i < 5:
            result["recent"].append({"sha": short, "date": date, "subject": subject[:200]})
        result["first"], result["last"] = date, result["last"] or date
        if sha in boundary:
            continue
        for line in stats:
            added, _, rest = line.partition("\t")
            deleted, _, path = rest.partition("\t")
            path = _unquote(path)
            if path not in present or PurePosixPath(path).name in LOCK_FILES:
                continue
            entry = churn[path]
            entry[0] += 1
            entry[1] += int(added) if added.isdigit() else 0
            entry[2] += int(deleted) if deleted.isdigit() else 0
    result["analyzed"] = len(commits)
    result["authors_total"] = len(authors)
    result["authors"] = [{"name": n, "commits": c} for n, c in sorted(authors.items(), key=lambda kv: (-kv[1], kv[0]))][
        :10
    ]
    ranked = sorted(churn.items(), key=lambda kv: (-kv[1][0], -(kv[1][1] + kv[1][2]), kv[0]))
    result["hotspots"] = [{"file": f, "commits": c, "added": a, "deleted": d} for f, (c, a, d) in ranked[:10]]


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual paths (tabs, newlines, quotes, backslashes)."""
    if len(path) < 2 or not (path.startswith('"') and path.endswith('"')):
        return path
    escapes = {"t": "\t", "n": "\n", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}
    return re.sub(
        r"\\([0-7]{3}|.)", lambda m: chr(int(m[1], 8)) if len(m[1]) == 3 else escapes.get(m[1], m[1]), path[1:-1]
    )

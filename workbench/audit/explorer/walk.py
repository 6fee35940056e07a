"""One pass over the checkout: totals, languages, structure, largest files, test files and Python entry points.

Symbolic links are never followed; generated, vendored and environment folders are skipped; files over
``MAX_READ_BYTES`` are listed, not read.
"""

from __future__ import annotations

import heapq
import os
import re
import threading
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

from workbench.audit.explorer.cancel import check_cancelled
from workbench.audit.explorer.languages import count_lines, language_of

__all__ = ["MAX_READ_BYTES", "dominant_language", "is_ci", "test_dir", "walk_tree"]

MAX_READ_BYTES = 2_000_000
SKIP_DIRS = frozenset(
    {".git", "node_modules", ".venv", "venv", "__pycache__", "dist", "build", ".tox", "vendor"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache", ".hg", ".svn"}
)
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing"})
TEST_FILE = re.compile(
    r"(^test_.*\.py$|_test\.(py|go)$|\.(test|spec)\.[jt]sx?$|Tests?\.(java|kt|cs)$|_spec\.rb$|Test\.php$)"
)
MAIN_GUARD = re.compile(rb"^if\s+__name__\s*==\s*['\"]__main__['\"]\s*:", re.M)


def walk_tree(root: Path, max_files: int, cancel: threading.Event | None) -> dict[str, Any]:
    """One pass over the tree: totals, languages, structure, largest files, test files, ``__main__`` modules."""
    out: dict[str, Any] = {"files": 0, "lines": 0, "bytes": 0, "binary_files": 0, "truncated": False}
    out |= {"test_files": 0, "skipped": [], "large": [], "largest": [], "paths": [], "entry_points": []}
    langs: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "lines": 0, "code_lines": 0})
    top: dict[str, dict[str, Any]] = {}
    second: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    stack = [""]
    while stack:
        check_cancelled(cancel)
        rel_dir = stack.pop()
        try:
            with os.scandir(root / rel_dir if rel_dir else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS or entry.name.endswith(".egg-info"):
                    out["skipped"].append(rel)
                else:
                    subdirs.append(rel)
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            if out["files"] >= max_files:
                out["truncated"] = True
                stack.clear()
                break
            _visit(root, rel, entry.name, entry.stat(follow_symlinks=False).st_size, out, langs, top, second)
        stack.extend(reversed(subdirs))
    out["languages"], out["top"], out["second"] = langs, top, second
    return out


def _visit(
    root: Path,
    rel: str,
    name: str,
    size: int,
    out: dict[str, Any],
    langs: dict[str, dict[str, int]],
    top: dict[str, dict[str, Any]],
    second: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """Count one file into the totals, its language, its top-level entry and its second-level entry."""
    out["files"] += 1
    out["bytes"] += size
    out["paths"].append(rel)
    language, lines, code = language_of(name), 0, 0
    if size > MAX_READ_BYTES:
        out["large"].append({"file": rel, "bytes": size})
    else:
        try:
            data = (root / rel).read_bytes()
        except OSError:
            data = b""
        if b"\0" in data[:8192]:
            out["binary_files"] += 1
            language = None
        else:
            lines, code = count_lines(data, language)
            if language == "Python":
                _python_entry(rel, name, data, out["entry_points"])
    if TEST_FILE.search(name):
        out["test_files"] += 1
    out["lines"] += lines
    if language:
        stats = langs[language]
        stats["files"] += 1
        stats["lines"] += lines
        stats["code_lines"] += code
    if lines:
        item = (lines, rel, size, language)
        if len(out["largest"]) < 10:
            heapq.heappush(out["largest"], item)
        elif lines > out["largest"][0][0]:
            heapq.heapreplace(out["largest"], item)
    parts = rel.split("/")
    buckets = [(top, parts[0], len(parts) > 1)]
    if len(parts) > 1:
        buckets.append((second[parts[0]], parts[1], len(parts) > 2))
    for table, key, is_dir in buckets:
        entry = table.setdefault(
            key, {"name": key, "type": "dir" if is_dir else "file", "files": 0, "lines": 0, "by_language": Counter()}
        )
        entry["files"] += 1
        entry["lines"] += lines
        if language:
            entry["by_language"][language] += lines or 1


def _python_entry(rel: str, name: str, data: bytes, found: list[dict[str, Any]]) -> None:
    """``__main__.py``, manage.py, app/wsgi/asgi modules and modules with a ``__main__`` guard."""
    parent = str(PurePosixPath(rel).parent)
    if name == "__main__.py":
        module = parent.replace("/", ".") if parent != "." else "__main__"
        found.append({"kind": "python_module", "name": module, "path": rel, "target": f"python -m {module}"})
    elif name == "manage.py":
        found.append({"kind": "django_manage", "name": "manage.py", "path": rel, "target": None})
    elif name in ("app.py", "wsgi.py", "asgi.py"):
        found.append({"kind": "web_app", "name": name[:-3], "path": rel, "target": None})
    elif b"__main__" in data and MAIN_GUARD.search(data) and not test_dir(rel):
        found.append({"kind": "python_script", "name": name[:-3], "path": rel, "target": None})


def dominant_language(counts: Counter[str]) -> str | None:
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if counts else None


def test_dir(path: str) -> str | None:
    parts = path.split("/")[:-1]
    for i, part in enumerate(parts):
        if part in TEST_DIRS:
            return "/".join(parts[: i + 1])
    return None


def is_ci(path: str) -> bool:
    if path.startswith(".github/workflows/") and path.endswith((".yml", ".yaml")):
        return True
    return path in {".gitlab-ci.yml", ".travis.yml", "Jenkinsfile", "azure-pipelines.yml", ".drone.yml"} or (
        path.startswith((".circleci/", ".buildkite/")) or path in {"bitbucket-pipelines.yml", ".woodpecker.yml"}
    )

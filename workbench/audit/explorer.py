"""The explorer's repository map: a static, deterministic picture of a checkout, and a Markdown summary of it.

Nothing from the repository is executed: files are read as bytes, manifests are parsed with ``tomllib``/``json``/
``configparser``/``ast``, and the only process started is ``git`` itself (``rev-list`` and one bounded ``log``),
with the repository's hooks, fsmonitor, external diff, textconv and signature display switched off and the global
and system configs ignored. Symbolic links are never followed.

``build_repo_map(root)`` returns a JSON-serializable dict with these keys:

- ``files``, ``lines``, ``code_lines``, ``bytes``: totals over the files walked (``lines`` over every text file,
  ``code_lines`` non-blank non-comment lines in recognized languages); ``binary_files``: files with a NUL byte in
  their first 8 KiB; ``truncated``: the walk stopped at ``max_files``.
- ``languages``: ``[{language, files, lines, code_lines, share}]`` by lines, ``share`` of the lines in
  recognized languages (docstrings count as code; block comments are recognized for C-like languages and HTML).
- ``structure``: top-level entries ``{name, type: "dir"|"file", files, lines, language}`` by lines (directories
  also say ``python_package``); the three biggest directories carry ``children``: their ten biggest entries
  ``{name, type, files, lines, language}``.
- ``largest_files``: the ten longest files ``{file, lines, bytes, language}``; ``large_files``: files over 2 MB,
  not read, ``{file, bytes}``.
- ``skipped``: relative paths of the directories not walked (``.git``, ``node_modules``, ``.venv``, ``vendor``...).
- ``entry_points``: ``[{kind, name, path, target}]``; kinds: console_script, gui_script, python_module
  (``__main__.py``), python_script (``if __name__ == "__main__"``), django_manage, web_app, npm_main, npm_bin,
  npm_start, go_main, rust_bin, docker_entrypoint, docker_cmd. ``target`` is what it runs, or None.
- ``dependencies``: ``[{ecosystem, name, spec, manifest, dev}]`` from manifests at most two folders deep;
  ecosystems pypi, npm, go, cargo, rubygems, composer. ``manifests``: the manifest paths read.
- ``tests``: ``{present, dirs, files}`` (test folders and the number of test files); ``has_license``,
  ``has_readme``, ``has_ci`` and ``ci`` (the CI configuration files found).
- ``history``: None for a non-git folder (or ``history=False``), else ``{commits, analyzed, shallow, first,
  last, authors: [{name, commits}], authors_total, hotspots: [{file, commits, added, deleted}], recent: [{sha,
  date, subject}], error}``. ``commits`` counts the fetched history of HEAD, ``analyzed`` the commits ``git log``
  read (at most 2000), ``first``/``last`` the dates of the oldest/newest of those. Authors are names only (top
  ten; ``authors_total`` counts them all). Hotspots are files present in the checkout, lock files excluded; in a
  shallow clone the boundary commits are left out of churn, their diff being the whole tree.
"""

from __future__ import annotations

import ast
import configparser
import heapq
import json
import os
import re
import threading
import tomllib
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import git

__all__ = ["ExplorationCancelled", "build_repo_map", "describe"]

MAX_READ_BYTES = 2_000_000
MAX_COMMITS = 2000
GIT_TIMEOUT_S = 60
SKIP_DIRS = frozenset(
    {".git", "node_modules", ".venv", "venv", "__pycache__", "dist", "build", ".tox", "vendor"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache", ".hg", ".svn"}
)
LOCK_FILES = frozenset(
    {"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "uv.lock", "poetry.lock", "Pipfile.lock", "Cargo.lock"}
    | {"go.sum", "Gemfile.lock", "composer.lock"}
)
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing"})
TEST_FILE = re.compile(
    r"(^test_.*\.py$|_test\.(py|go)$|\.(test|spec)\.[jt]sx?$|Tests?\.(java|kt|cs)$|_spec\.rb$|Test\.php$)"
)
MAIN_GUARD = re.compile(rb"^if\s+__name__\s*==\s*['\"]__main__['\"]\s*:", re.M)
REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")

# language: (extensions and exact file names, line-comment prefixes, block comment (open, close) or None)
_C_BLOCK = ("/*", "*/")
_LANGUAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, str] | None]] = {
    "Python": ((".py", ".pyi", ".pyx"), ("#",), None),
    "JavaScript": ((".js", ".mjs", ".cjs", ".jsx"), ("//",), _C_BLOCK),
    "TypeScript": ((".ts", ".tsx", ".mts", ".cts"), ("//",), _C_BLOCK),
    "Go": ((".go",), ("//",), _C_BLOCK),
    "Rust": ((".rs",), ("//",), _C_BLOCK),
    "Java": ((".java",), ("//",), _C_BLOCK),
    "Kotlin": ((".kt", ".kts"), ("//",), _C_BLOCK),
    "Scala": ((".scala", ".sc"), ("//",), _C_BLOCK),
    "Swift": ((".swift",), ("//",), _C_BLOCK),
    "Dart": ((".dart",), ("//",), _C_BLOCK),
    "C": ((".c", ".h"), ("//",), _C_BLOCK),
    "C++": ((".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx"), ("//",), _C_BLOCK),
    "C#": ((".cs",), ("//",), _C_BLOCK),
    "Objective-C": ((".m", ".mm"), ("//",), _C_BLOCK),
    "PHP": ((".php",), ("//", "#"), _C_BLOCK),
    "Ruby": ((".rb", ".rake", ".gemspec", "Gemfile", "Rakefile", "Vagrantfile"), ("#",), None),
    "Perl": ((".pl", ".pm"), ("#",), None),
    "Lua": ((".lua",), ("--",), None),
    "R": ((".r", ".R"), ("#",), None),
    "Julia": ((".jl",), ("#",), None),
    "Elixir": ((".ex", ".exs"), ("#",), None),
    "Erlang": ((".erl", ".hrl"), ("%",), None),
    "Haskell": ((".hs",), ("--",), None),
    "Clojure": ((".clj", ".cljs", ".cljc", ".edn"), (";",), None),
    "Groovy": ((".groovy", ".gradle", "Jenkinsfile"), ("//",), _C_BLOCK),
    "Shell": ((".sh", ".bash", ".zsh", ".fish", ".ksh"), ("#",), None),
    "PowerShell": ((".ps1", ".psm1"), ("#",), None),
    "Batch": ((".bat", ".cmd"), ("rem ", "REM ", "::"), None),
    "SQL": ((".sql",), ("--",), _C_BLOCK),
    "HTML": ((".html", ".htm"), (), ("<!--", "-->")),
    "Vue": ((".vue",), ("//",), ("<!--", "-->")),
    "Svelte": ((".svelte",), ("//",), ("<!--", "-->")),
    "CSS": ((".css",), (), _C_BLOCK),
    "SCSS": ((".scss", ".sass", ".less"), ("//",), _C_BLOCK),
    "Markdown": ((".md", ".markdown", ".mdx"), (), ("<!--", "-->")),
    "reStructuredText": ((".rst",), (), None),
    "YAML": ((".yml", ".yaml"), ("#",), None),
    "JSON": ((".json", ".jsonc", ".json5"), (), None),
    "TOML": ((".toml", "uv.lock", "poetry.lock", "Cargo.lock"), ("#",), None),
    "INI": ((".ini", ".cfg", ".conf"), ("#", ";"), None),
    "XML": ((".xml", ".xsd", ".xsl", ".svg"), (), ("<!--", "-->")),
    "Protocol Buffers": ((".proto",), ("//",), _C_BLOCK),
    "Terraform": ((".tf", ".tfvars", ".hcl"), ("#", "//"), _C_BLOCK),
    "Dockerfile": ((".dockerfile", "Dockerfile", "Containerfile"), ("#",), None),
    "Makefile": ((".mk", "Makefile", "GNUmakefile", "makefile"), ("#",), None),
    "CMake": ((".cmake", "CMakeLists.txt"), ("#",), None),
    "Nix": ((".nix",), ("#",), _C_BLOCK),
    "Jupyter Notebook": ((".ipynb",), (), None),
    "TeX": ((".tex", ".sty"), ("%",), None),
    "Zig": ((".zig",), ("//",), None),
    "Solidity": ((".sol",), ("//",), _C_BLOCK),
}
_BY_NAME = {key: lang for lang, (keys, _, _) in _LANGUAGES.items() for key in keys}
_COMMENTS = {lang: (tuple(p.encode() for p in pre), b and (b[0].encode(), b[1].encode())) for lang, (_, pre, b) in
             _LANGUAGES.items()}  # fmt: skip
_ROLES = {
    "src": "source code", "lib": "library code", "pkg": "Go packages", "internal": "internal packages",
    "cmd": "command entry points", "app": "the application", "apps": "applications", "packages": "packages",
    "tests": "tests", "test": "tests", "__tests__": "tests", "spec": "tests", "docs": "documentation",
    "doc": "documentation", "examples": "examples", "example": "examples", "samples": "examples",
    "scripts": "scripts", "bin": "executables and scripts", "tools": "tooling", "config": "configuration",
    "configs": "configuration", "conf": "configuration", ".github": "GitHub configuration and CI",
    "migrations": "database migrations", "static": "static assets", "public": "static assets",
    "assets": "assets", "templates": "templates", "notebooks": "notebooks", "benchmarks": "benchmarks",
    "bench": "benchmarks", "deploy": "deployment", "k8s": "Kubernetes manifests", "helm": "Helm charts",
    "infra": "infrastructure", "docker": "container files", "data": "data", "datasets": "data sets",
    "fixtures": "test fixtures", "third_party": "vendored third-party code", "api": "API definitions",
}  # fmt: skip


class ExplorationCancelled(Exception):
    """The caller set the cancel event while the map was being built."""


def language_of(name: str) -> str | None:
    """The language of a file name, from the table above (Dockerfile.dev and friends included)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith(("Dockerfile.", "Containerfile.")):
        return "Dockerfile"
    suffix = os.path.splitext(name)[1]
    return _BY_NAME.get(suffix) or _BY_NAME.get(suffix.lower())


def count_lines(data: bytes, language: str | None) -> tuple[int, int]:
    """(lines, code lines): code lines are non-blank and not a comment in ``language`` (all non-blank if None)."""
    raw = data.splitlines()
    prefixes, block = _COMMENTS.get(language, ((), None)) if language else ((), None)
    code, in_block = 0, False
    for line in raw:
        text = line.strip()
        if in_block:
            assert block
            end = text.find(block[1])
            if end < 0:
                continue
            in_block, text = False, text[end + len(block[1]) :].strip()
        if not text or (prefixes and text.startswith(prefixes)):
            continue
        if block and text.startswith(block[0]):
            end = text.find(block[1], len(block[0]))
            if end < 0:
                in_block = True
                continue
            if not text[end + len(block[1]) :].strip():
                continue
        code += 1
    return len(raw), code


def build_repo_map(
    root: Path, *, max_files: int = 20_000, history: bool = True, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Map the checkout at ``root`` (see the module docstring for the keys); raises ExplorationCancelled."""
    root = Path(root)
    walk = _walk(root, max_files, cancel)
    languages = sorted(walk["languages"].items(), key=lambda kv: (-kv[1]["lines"], kv[0]))
    known = sum(stats["lines"] for _, stats in languages) or 1
    top = walk["top"]
    structure = sorted(top.values(), key=lambda e: (-e["lines"], -e["files"], e["name"]))
    paths = walk["paths"]
    present = set(paths)
    for entry in structure:
        entry["language"] = _dominant(entry.pop("by_language"))
        if entry["type"] == "dir":
            entry["python_package"] = f"{entry['name']}/__init__.py" in present
    for entry in [e for e in structure if e["type"] == "dir"][:3]:
        kids = sorted(walk["second"][entry["name"]].values(), key=lambda e: (-e["lines"], -e["files"], e["name"]))
        for kid in kids:
            kid["language"] = _dominant(kid.pop("by_language"))
        entry["children"] = kids[:10]
    entry_points, dependencies, manifests = _manifests(root, paths)
    entry_points += walk["entry_points"]
    test_dirs = sorted({d for d in map(_test_dir, paths) if d})
    top_names = {p.split("/", 1)[0] for p in paths if "/" not in p}
    ci = sorted(p for p in paths if _is_ci(p))
    if cancel is not None and cancel.is_set():
        raise ExplorationCancelled("the repository map was cancelled")
    return {
        "files": walk["files"],
        "lines": walk["lines"],
        "code_lines": sum(stats["code_lines"] for _, stats in languages),
        "bytes": walk["bytes"],
        "binary_files": walk["binary_files"],
        "truncated": walk["truncated"],
        "languages": [
            {"language": name, **stats, "share": round(stats["lines"] / known, 4)} for name, stats in languages
        ],
        "structure": structure[:40],
        "largest_files": [
            {"file": f, "lines": n, "bytes": b, "language": lang}
            for n, f, b, lang in sorted(walk["largest"], key=lambda t: (-t[0], t[1]))
        ],
        "large_files": sorted(walk["large"], key=lambda e: (-e["bytes"], e["file"]))[:10],
        "skipped": sorted(walk["skipped"])[:100],
        "entry_points": entry_points[:50],
        "dependencies": dependencies[:500],
        "manifests": manifests,
        "tests": {
            "present": bool(test_dirs or walk["test_files"]),
            "dirs": test_dirs[:20],
            "files": walk["test_files"],
        },
        "has_license": any(n.upper().startswith(("LICENSE", "LICENCE", "COPYING")) for n in top_names),
        "has_readme": any(n.upper().startswith("README") for n in top_names),
        "has_ci": bool(ci),
        "ci": ci[:20],
        "history": _history(root, present, cancel) if history else None,
    }


def _walk(root: Path, max_files: int, cancel: threading.Event | None) -> dict[str, Any]:
    """One pass over the tree: totals, languages, structure, largest files, test files, ``__main__`` modules."""
    out: dict[str, Any] = {"files": 0, "lines": 0, "bytes": 0, "binary_files": 0, "truncated": False}
    out |= {"test_files": 0, "skipped": [], "large": [], "largest": [], "paths": [], "entry_points": []}
    langs: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "lines": 0, "code_lines": 0})
    top: dict[str, dict[str, Any]] = {}
    second: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    stack = [""]
    while stack:
        if cancel is not None and cancel.is_set():
            raise ExplorationCancelled("the repository map was cancelled")
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
    elif b"__main__" in data and MAIN_GUARD.search(data) and not _test_dir(rel):
        found.append({"kind": "python_script", "name": name[:-3], "path": rel, "target": None})


def _dominant(counts: Counter[str]) -> str | None:
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if counts else None


def _test_dir(path: str) -> str | None:
    parts = path.split("/")[:-1]
    for i, part in enumerate(parts):
        if part in TEST_DIRS:
            return "/".join(parts[: i + 1])
    return None


def _is_ci(path: str) -> bool:
    if path.startswith(".github/workflows/") and path.endswith((".yml", ".yaml")):
        return True
    return path in {".gitlab-ci.yml", ".travis.yml", "Jenkinsfile", "azure-pipelines.yml", ".drone.yml"} or (
        path.startswith((".circleci/", ".buildkite/")) or path in {"bitbucket-pipelines.yml", ".woodpecker.yml"}
    )


# --- manifests: entry points and dependencies, parsed as text, never executed ---------------------------------


def _manifests(root: Path, paths: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Entry points and dependencies from the manifests at most two folders deep, and the manifests read."""
    entry_points: list[dict[str, Any]] = []
    dependencies: list[dict[str, Any]] = []
    manifests: list[str] = []
    present = set(paths)
    for rel in paths:
        parts = rel.split("/")
        name = parts[-1]
        if len(parts) > 3:
            continue
        parser = _PARSERS.get(name)
        if parser is None and name.endswith(".txt") and (name.startswith("requirements") or "requirements" in parts):
            parser = _requirements
        if parser is None and language_of(name) == "Dockerfile":
            parser = _dockerfile
        if parser is None and name == "main.go":
            parser = _go_main
        if parser is None:
            continue
        try:
            if (root / rel).stat().st_size > MAX_READ_BYTES:
                continue
            text = (root / rel).read_text(encoding="utf-8", errors="replace")
            found_eps, found_deps = parser(rel, text, present)
        except (OSError, ValueError, SyntaxError, RecursionError, tomllib.TOMLDecodeError, configparser.Error):
            continue
        if parser not in (_dockerfile, _go_main):
            manifests.append(rel)
        entry_points += found_eps
        dependencies += found_deps
    return entry_points, dependencies, manifests


_Found = tuple[list[dict[str, Any]], list[dict[str, Any]]]
_DEV_GROUPS = {"dev", "develop", "development", "test", "tests", "testing", "lint", "docs", "doc", "typing"}


def _dep(ecosystem: str, name: str, spec: Any, manifest: str, dev: bool) -> dict[str, Any]:
    return {"ecosystem": ecosystem, "name": name, "spec": str(spec).strip(), "manifest": manifest, "dev": dev}


def _ep(kind: str, name: str, path: str, target: Any = None) -> dict[str, Any]:
    return {"kind": kind, "name": name, "path": path, "target": None if target is None else str(target)}


def _pep508(manifest: str, requirements: Any, dev: bool) -> list[dict[str, Any]]:
    found = []
    for req in requirements if isinstance(requirements, list) else []:
        match = REQ_NAME.match(str(req))
        if match:
            found.append(_dep("pypi", match[1], match[3], manifest, dev))
    return found


def _scripts(manifest: str, kind: str, table: Any) -> list[dict[str, Any]]:
    items = table.items() if isinstance(table, dict) else []
    return [_ep(kind, str(name), manifest, target) for name, target in items]


def _pyproject(rel: str, text: str, present: set[str]) -> _Found:
    data = tomllib.loads(text)
    project, poetry = data.get("project", {}), data.get("tool", {}).get("poetry", {})
    eps = _scripts(rel, "console_script", project.get("scripts"))
    eps += _scripts(rel, "gui_script", project.get("gui-scripts")) + _scripts(
        rel, "console_script", poetry.get("scripts")
    )
    deps = _pep508(rel, project.get("dependencies"), False)
    for group, reqs in sorted(project.get("optional-dependencies", {}).items()):
        deps += _pep508(rel, reqs, group.lower() in _DEV_GROUPS)
    for reqs in data.get("dependency-groups", {}).values():
        deps += _pep508(rel, [r for r in reqs if isinstance(r, str)], True)
    tables = [(poetry.get("dependencies", {}), False), (poetry.get("dev-dependencies", {}), True)]
    tables += [(group.get("dependencies", {}), True) for group in poetry.get("group", {}).values()]
    for table, dev in tables:
        for name, spec in table.items():
            if name.lower() != "python":
                deps.append(_dep("pypi", name, _spec_of(spec), rel, dev))
    return eps, deps


def _spec_of(spec: Any) -> str:
    """A version spec from a string or a table (poetry, Cargo): its version, or where it comes from."""
    if not isinstance(spec, dict):
        return str(spec)
    for key in ("version", "git", "path", "url"):
        if key in spec:
            return str(spec[key]) if key == "version" else f"{key}:{spec[key]}"
    return "workspace" if spec.get("workspace") else ""


def _setup_cfg(rel: str, text: str, present: set[str]) -> _Found:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(text)
    lines = lambda sec, key: [v for v in cfg.get(sec, key, fallback="").splitlines() if v.strip()]  # noqa: E731
    deps = _pep508(rel, lines("options", "install_requires"), False)
    if cfg.has_section("options.extras_require"):
        for group in cfg.options("options.extras_require"):
            deps += _pep508(rel, lines("options.extras_require", group), group.lower() in _DEV_GROUPS)
    eps = []
    for key, kind in (("console_scripts", "console_script"), ("gui_scripts", "gui_script")):
        eps += _entry_lines(rel, kind, lines("options.entry_points", key))
    return eps, deps


def _entry_lines(rel: str, kind: str, lines: Any) -> list[dict[str, Any]]:
    """``name = module:function`` lines (setup.cfg, setup.py)."""
    found = []
    for line in lines if isinstance(lines, list) else []:
        name, sep, target = str(line).partition("=")
        if sep and name.strip():
            found.append(_ep(kind, name.strip(), rel, target.strip()))
    return found


def _setup_py(rel: str, text: str, present: set[str]) -> _Found:
    eps: list[dict[str, Any]] = []
    deps: list[dict[str, Any]] = []
    for node in ast.walk(ast.parse(text)):
        func = node.func if isinstance(node, ast.Call) else None
        if not (isinstance(func, ast.Name) and func.id == "setup") and not (
            isinstance(func, ast.Attribute) and func.attr == "setup"
        ):
            continue
        assert isinstance(node, ast.Call)
        for kw in node.keywords:
            try:
                value = ast.literal_eval(kw.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                continue
            if kw.arg == "install_requires":
                deps += _pep508(rel, value, False)
            elif kw.arg in ("tests_require", "extras_require"):
                groups = value.items() if isinstance(value, dict) else [("test", value)]
                for group, reqs in groups:
                    deps += _pep508(rel, reqs, kw.arg == "tests_require" or str(group).lower() in _DEV_GROUPS)
            elif kw.arg == "entry_points" and isinstance(value, dict):
                for key, kind in (("console_scripts", "console_script"), ("gui_scripts", "gui_script")):
                    eps += _entry_lines(rel, kind, value.get(key))
    return eps, deps


def _requirements(rel: str, text: str, present: set[str]) -> _Found:
    dev = bool(re.search(r"dev|test|lint|doc", PurePosixPath(rel).name))
    reqs = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")) and "://" not in line:
            reqs.append(line)
    return [], _pep508(rel, reqs, dev)


def _package_json(rel: str, text: str, present: set[str]) -> _Found:
    data = json.loads(text)
    if not isinstance(data, dict):
        return [], []
    name = str(data.get("name") or PurePosixPath(rel).parent.name or "package")
    eps = [_ep("npm_main", name, rel, data["main"])] if isinstance(data.get("main"), str) else []
    binaries = data.get("bin")
    eps += [_ep("npm_bin", name, rel, binaries)] if isinstance(binaries, str) else _scripts(rel, "npm_bin", binaries)
    scripts = data.get("scripts")
    if isinstance(scripts, dict) and isinstance(scripts.get("start"), str):
        eps.append(_ep("npm_start", name, rel, scripts["start"]))
    deps = []
    for key, dev in (("dependencies", False), ("optionalDependencies", False), ("devDependencies", True)):
        table = data.get(key)
        deps += [_dep("npm", n, s, rel, dev) for n, s in table.items()] if isinstance(table, dict) else []
    return eps, deps


def _go_mod(rel: str, text: str, present: set[str]) -> _Found:
    deps, in_block = [], False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if re.match(r"^require\s*\($", line):
            in_block = True
        elif in_block and line == ")":
            in_block = False
        elif in_block or line.startswith("require "):
            parts = line.removeprefix("require ").split()
            if len(parts) >= 2:
                deps.append(_dep("go", parts[0], parts[1], rel, False))
    return [], deps


def _go_main(rel: str, text: str, present: set[str]) -> _Found:
    if not re.search(r"^package main\b", text, re.M) or "func main()" not in text:
        return [], []
    folder = PurePosixPath(rel).parent
    return [_ep("go_main", folder.name if str(folder) != "." else "main", rel, None)], []


def _cargo(rel: str, text: str, present: set[str]) -> _Found:
    data = tomllib.loads(text)
    folder = PurePosixPath(rel).parent
    at = lambda p: str(folder / p) if str(folder) != "." else p  # noqa: E731
    package = str(data.get("package", {}).get("name", folder.name or "crate"))
    eps = [_ep("rust_bin", str(b.get("name", package)), rel, b.get("path")) for b in data.get("bin", [])]
    if not eps and at("src/main.rs") in present:
        eps.append(_ep("rust_bin", package, rel, at("src/main.rs")))
    prefix = at("src/bin/")
    eps += [_ep("rust_bin", p[len(prefix) : -3], rel, p) for p in sorted(present) if p.startswith(prefix)]
    tables = [(data, "dependencies", False), (data, "dev-dependencies", True), (data, "build-dependencies", False)]
    tables += [(data.get("workspace", {}), "dependencies", False)]
    for target in data.get("target", {}).values():
        tables += [(target, "dependencies", False), (target, "dev-dependencies", True)]
    deps = []
    for table, key, dev in tables:
        deps += [_dep("cargo", n, _spec_of(s), rel, dev) for n, s in table.get(key, {}).items()]
    return eps, deps


def _gemfile(rel: str, text: str, present: set[str]) -> _Found:
    deps, dev = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("group ") and line.endswith(" do"):
            dev = bool(re.search(r":(development|test)\b", line))
        elif line == "end":
            dev = False
        elif match := re.match(r"""gem\s+['"]([^'"]+)['"]((?:\s*,\s*['"][^'"]*['"])*)""", line):
            spec = ", ".join(re.findall(r"""['"]([^'"]*)['"]""", match[2]))
            deps.append(_dep("rubygems", match[1], spec, rel, dev or "group: :test" in line))
    return [], deps


def _composer(rel: str, text: str, present: set[str]) -> _Found:
    data = json.loads(text)
    deps = []
    for key, dev in (("require", False), ("require-dev", True)):
        table = data.get(key) if isinstance(data, dict) else None
        for name, spec in table.items() if isinstance(table, dict) else []:
            if name != "php" and not name.startswith(("ext-", "lib-")):
                deps.append(_dep("composer", name, spec, rel, dev))
    return [], deps


def _dockerfile(rel: str, text: str, present: set[str]) -> _Found:
    """The last ENTRYPOINT and the last CMD of a Dockerfile (continuation lines joined)."""
    last: dict[str, str] = {}
    for line in re.sub(r"\\\r?\n", " ", text).splitlines():
        match = re.match(r"\s*(ENTRYPOINT|CMD)\s+(.+)", line, re.I)
        if match:
            command = match[2].strip()
            try:
                parsed = json.loads(command)
                command = " ".join(map(str, parsed)) if isinstance(parsed, list) else command
            except ValueError:
                pass
            last[match[1].upper()] = command
    eps = []
    for key, kind in (("ENTRYPOINT", "docker_entrypoint"), ("CMD", "docker_cmd")):
        if key in last and last[key]:
            eps.append(_ep(kind, PurePosixPath(last[key].split()[0]).name, rel, last[key]))
    return eps, []


_PARSERS: dict[str, Any] = {
    "pyproject.toml": _pyproject,
    "setup.cfg": _setup_cfg,
    "setup.py": _setup_py,
    "package.json": _package_json,
    "go.mod": _go_mod,
    "Cargo.toml": _cargo,
    "Gemfile": _gemfile,
    "composer.json": _composer,
}


# --- history: one bounded `git log --numstat` over the fetched history, nothing from the repository run ---------

_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"}
_GIT_ENV |= {"GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}
_GIT_SAFE = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "log.showSignature=false"]
_GIT_SAFE += ["-c", "core.quotePath=false", "-c", "core.pager=cat"]
_LOG_FORMAT = "%x1e%H%x1f%h%x1f%cI%x1f%aN%x1f%s"


def _history(root: Path, present: set[str], cancel: threading.Event | None) -> dict[str, Any] | None:
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
    import git

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
    run = lambda *args: repo.git.execute(  # noqa: E731
        [*base, *args], env=_GIT_ENV, kill_after_timeout=GIT_TIMEOUT_S, stdout_as_string=False
    )
    try:
        result["commits"] = int(run("rev-list", "--count", "HEAD"))
        if cancel is not None and cancel.is_set():
            raise ExplorationCancelled("the repository map was cancelled")
        log = run(
            "log", f"--max-count={MAX_COMMITS}", "--no-renames", "--no-textconv", "--no-ext-diff", "--numstat",
            f"--format={_LOG_FORMAT}", "HEAD", "--",
        )  # fmt: skip
    except (git.GitCommandError, OSError, ValueError) as exc:
        result["error"] = (str(exc).strip().splitlines() or ["git failed"])[-1][:300]
        return result
    assert isinstance(log, bytes)
    _parse_log(log.decode("utf-8", errors="replace"), boundary, present, result)
    return result


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


# --- the deterministic summary --------------------------------------------------------------------------------


def describe(repo_map: dict[str, Any]) -> str:
    """A Markdown architecture summary of a map: what it is, layout, entry points, dependencies, activity, notes."""
    sections = [_what(repo_map), _layout(repo_map), _entry_points(repo_map), _dependencies(repo_map)]
    sections += [_activity(repo_map.get("history")), _notable(repo_map)]
    return "\n\n".join(s for s in sections if s)


def _code(text: Any) -> str:
    return "`" + str(text).replace("`", "'").replace("\n", " ")[:120] + "`"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _pct(share: float) -> str:
    return "<1%" if 0 < share < 0.005 else f"{share:.0%}"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return ""


def _what(m: dict[str, Any]) -> str:
    size = f"{m['files']:,} files, {m['lines']:,} lines ({m['code_lines']:,} of code), {_size(m['bytes'])}"
    langs = m["languages"]
    if not langs:
        text = f"**What it is.** No source in a recognized language; {size}."
    else:
        others = ", ".join(f"{lang['language']} ({_pct(lang['share'])})" for lang in langs[1:5])
        head = langs[0]
        text = f"**What it is.** A {head['language']} repository ({_pct(head['share'])} of the lines in known languages"
        text += f"; also {others})" if others else ")"
        text += f": {size}."
    if m.get("truncated"):
        text += f" The walk stopped at {m['files']:,} files; the rest was not counted."
    return text


def _layout(m: dict[str, Any]) -> str:
    dirs = [e for e in m["structure"] if e["type"] == "dir"]
    files = sorted(e["name"] for e in m["structure"] if e["type"] == "file")
    lines = ["**Layout.**"]
    for entry in dirs[:10]:
        role = _ROLES.get(entry["name"].lower()) or ("a Python package" if entry.get("python_package") else None)
        language = f"mostly {entry['language']}" if entry.get("language") else "no recognized source"
        lines.append(
            f"- {_code(entry['name'] + '/')}: {_n(entry['files'], 'file')}, {_n(entry['lines'], 'line')}, {language}"
            + (f" ({role})" if role else "")
        )
    if len(dirs) > 10:
        lines.append(f"- and {len(dirs) - 10} more folders")
    if files:
        lines.append(
            "- top-level files: " + ", ".join(_code(f) for f in files[:12]) + (" ..." if len(files) > 12 else "")
        )
    tests = m["tests"]
    if tests["present"]:
        where = ", ".join(_code(d + "/") for d in tests["dirs"][:5]) or "beside the code"
        lines.append(f"- tests: {_n(tests['files'], 'test file')}; test folders: {where}")
    return "\n".join(lines) if len(lines) > 1 else ""


def _entry_points(m: dict[str, Any]) -> str:
    eps = m["entry_points"]
    if not eps:
        return "**Entry points.** None found (a library, or started in a way this map does not recognize)."
    lines = ["**Entry points.**"]
    for ep in eps[:12]:
        target = f" → {_code(ep['target'])}" if ep.get("target") else ""
        lines.append(f"- {ep['kind'].replace('_', ' ')} {_code(ep['name'])}{target} ({_code(ep['path'])})")
    if len(eps) > 12:
        lines.append(f"- and {len(eps) - 12} more")
    return "\n".join(lines)


def _dependencies(m: dict[str, Any]) -> str:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for dep in m["dependencies"]:
        groups[(dep["manifest"], dep["ecosystem"])].append(dep)
    if not groups:
        return "**Dependencies.** No dependency manifests were found."
    lines = ["**Dependencies.**"]
    for (manifest, ecosystem), deps in groups.items():
        runtime = [d["name"] for d in deps if not d["dev"]]
        dev = len(deps) - len(runtime)
        names = ", ".join(runtime[:8]) + (" ..." if len(runtime) > 8 else "")
        lines.append(
            f"- {ecosystem} ({_code(manifest)}): {len(runtime)} runtime, {dev} dev" + (f": {names}" if names else "")
        )
    return "\n".join(lines)


def _activity(h: dict[str, Any] | None) -> str:
    if h is None:
        return "**Activity.** Not a git checkout: no history."
    if h.get("error"):
        return f"**Activity.** The git history could not be read ({h['error']})."
    if not h["commits"]:
        return "**Activity.** A git repository without commits."
    scope = "in the fetched (shallow) history" if h["shallow"] else "in the history"
    text = f"**Activity.** {_n(h['commits'], 'commit')} {scope}, {str(h['first'])[:10]} to {str(h['last'])[:10]}"
    top = ", ".join(f"{a['name']} ({a['commits']})" for a in h["authors"][:5])
    text += f", by {_n(h['authors_total'], 'author')}: {top}."
    if h["analyzed"] < h["commits"]:
        text += f" Authors and churn cover the latest {h['analyzed']:,} commits."
    if hotspots := [s for s in h["hotspots"] if s["commits"] > 1]:
        spots = ", ".join(
            f"{_code(s['file'])} ({_n(s['commits'], 'commit')}, +{s['added']}/-{s['deleted']})" for s in hotspots[:5]
        )
        text += f"\n- churn hotspots: {spots}"
    for r in h["recent"][:3]:
        subject = r["subject"] if len(r["subject"]) <= 80 else r["subject"][:79] + "…"
        text += f"\n- {_code(r['sha'])} {r['date'][:10]} {subject}"
    return text


def _notable(m: dict[str, Any]) -> str:
    notes = []
    if not m["tests"]["present"]:
        notes.append("No tests were found.")
    for key, what in (("has_license", "license file"), ("has_readme", "README"), ("has_ci", "CI configuration")):
        if not m[key]:
            notes.append(f"No {what} was found.")
    if m["large_files"]:
        big = ", ".join(f"{_code(f['file'])} ({_size(f['bytes'])})" for f in m["large_files"][:5])
        notes.append(f"Very large files, not read: {big}.")
    long = [f for f in m["largest_files"] if f["lines"] >= 2000]
    if long:
        notes.append(
            "Very long files: " + ", ".join(f"{_code(f['file'])} ({f['lines']:,} lines)" for f in long[:5]) + "."
        )
    skipped = [s for s in m["skipped"] if PurePosixPath(s).name not in {".git", ".hg", ".svn"}]
    if skipped:
        notes.append(
            "Generated, vendored or environment folders not walked: " + ", ".join(map(_code, skipped[:8])) + "."
        )
    if m["binary_files"]:
        notes.append(f"{_n(m['binary_files'], 'binary file')}.")
    return "**Notable.**\n" + "\n".join(f"- {n}" for n in notes) if notes else ""

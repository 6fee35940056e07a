"""The deterministic Markdown summary of a map: what it is, layout, entry points, dependencies, activity, notes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any

__all__ = ["describe"]

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

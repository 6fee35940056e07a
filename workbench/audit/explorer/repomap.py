"""``build_repo_map``: the walk, the manifests and the git history put together into one map."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from workbench.audit.explorer.cancel import check_cancelled
from workbench.audit.explorer.history import read_git_history
from workbench.audit.explorer.manifests import read_manifests
from workbench.audit.explorer.walk import dominant_language, is_ci, test_dir, walk_tree

__all__ = ["build_repo_map"]


def build_repo_map(
    root: Path, *, max_files: int = 20_000, history: bool = True, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Map the checkout at ``root`` (see the package docstring for the keys); raises ExplorationCancelled."""
    root = Path(root)
    walk = walk_tree(root, max_files, cancel)
    languages = sorted(walk["languages"].items(), key=lambda kv: (-kv[1]["lines"], kv[0]))
    known = sum(stats["lines"] for _, stats in languages) or 1
    top = walk["top"]
    structure = sorted(top.values(), key=lambda e: (-e["lines"], -e["files"], e["name"]))
    paths = walk["paths"]
    present = set(paths)
    for entry in structure:
        entry["language"] = dominant_language(entry.pop("by_language"))
        if entry["type"] == "dir":
            entry["python_package"] = f"{entry['name']}/__init__.py" in present
    for entry in [e for e in structure if e["type"] == "dir"][:3]:
        kids = sorted(walk["second"][entry["name"]].values(), key=lambda e: (-e["lines"], -e["files"], e["name"]))
        for kid in kids:
            kid["language"] = dominant_language(kid.pop("by_language"))
        entry["children"] = kids[:10]
    entry_points, dependencies, manifests = read_manifests(root, paths)
    entry_points += walk["entry_points"]
    test_dirs = sorted({d for d in map(test_dir, paths) if d})
    top_names = {p.split("/", 1)[0] for p in paths if "/" not in p}
    ci = sorted(p for p in paths if is_ci(p))
    check_cancelled(cancel)
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
        "history": read_git_history(root, present, cancel) if history else None,
    }

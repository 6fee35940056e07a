"""Analyzers installed beside the workbench rather than in its environment.

Semgrep pins libraries that clash with the workbench's own (click, OpenTelemetry), and bandit parses code with its
interpreter's grammar, so `scripts/setup.sh` installs each into a virtual environment of its own under
``<venv>/tools/<name>`` from ``requirements/<name>.txt`` (hash-pinned): semgrep under the workbench's Python,
bandit under the newest Python the machine has. ``WORKBENCH_AUDIT_TOOLS`` points at another folder of such venvs.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ToolEnv:
    """One tool's virtual environment: its interpreter, the tool's version and the interpreter's version."""

    root: Path
    python: Path
    version: str
    python_version: str
    """major.minor of the venv's interpreter: the grammar a tool that uses `ast` parses."""

    def package_file(self, *parts: str) -> Path | None:
        """A file inside the tool's installed package (e.g. semgrep's bundled `bin/semgrep-core`)."""
        for site in sorted(self.root.glob("lib/python*/site-packages")):
            candidate = site.joinpath(*parts)
            if candidate.is_file():
                return candidate
        return None


def tools_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_AUDIT_TOOLS") or Path(sys.prefix) / "tools")


@functools.cache
def _find(folder: Path, name: str) -> ToolEnv | None:
    root = folder / name
    python = root / "bin" / "python"
    if not python.exists():
        return None
    dist = sorted(root.glob(f"lib/python*/site-packages/{name}-*.dist-info"))
    if not dist:
        return None
    version = dist[-1].name.removeprefix(f"{name}-").removesuffix(".dist-info")
    config = (root / "pyvenv.cfg").read_text(errors="replace") if (root / "pyvenv.cfg").exists() else ""
    found = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+)", config, re.MULTILINE)
    python_version = found.group(1) if found else dist[-1].parent.parent.name.removeprefix("python")
    return ToolEnv(root, python, version, python_version)


def tool_env(name: str) -> ToolEnv | None:
    """The venv that `scripts/setup.sh` made for `name`, or None when there is none."""
    return _find(tools_dir(), name)


def this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"

"""Which files of the audited repository the analyzers read, what kind each is, and their lines as evidence."""

from __future__ import annotations

import os
import re
from pathlib import Path

SKIP_DIRS = frozenset(
    ".git .hg .svn node_modules bower_components venv .venv .tox .nox dist build __pycache__ .mypy_cache"
    " .pytest_cache .ruff_cache .eggs site-packages".split()
)
MAX_FILE_BYTES = 1_000_000
PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
LIZARD_SUFFIXES = frozenset(
    ".c .h .cc .cpp .cxx .hpp .java .cs .js .jsx .mjs .cjs .ts .tsx .vue .py .m .rb .php .swift .scala .go .lua"
    " .rs .kt .kts .sol .erl .zig .pl .pm .gd .f90".split()
)
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

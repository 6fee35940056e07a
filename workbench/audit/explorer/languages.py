"""Languages by file name or extension, and counting a file's lines and code lines (comments recognized)."""

from __future__ import annotations

import os

__all__ = ["count_lines", "language_of"]

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

"""Untrusted text (from the audited repository or the LLM) made safe for Markdown.

:func:`md_text` for one line (prose or a table cell), :func:`md_block` for paragraphs, :func:`md_quote` for a
blockquote, :func:`md_fence` for verbatim text: no raw HTML, link, table break or fence break passes through.
"""

from __future__ import annotations

import re

_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_MD_SPECIALS = re.compile(r"([\\`*_\[\]|~])")
_BLOCK_START = re.compile(r"^([#=+-])")
_ORDINAL_START = re.compile(r"^(\d{1,9})([.)])")


def md_text(text: object) -> str:
    """Untrusted text as one line of Markdown, safe in prose and table cells: newlines become spaces, Markdown
    punctuation is backslash-escaped, ``<``, ``>`` and ``&`` become entities, control and bidi characters go."""
    line = " ".join(_UNSAFE_CHARS.sub("", str(text)).split())
    line = _MD_SPECIALS.sub(r"\\\1", line)
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_block(text: object) -> str:
    """Untrusted multi-line text as Markdown paragraphs: each line escaped like :func:`md_text`, and nothing at
    a line's start can open a heading, list, quote, table or code block. Blank lines separate paragraphs."""
    paragraphs: list[list[str]] = [[]]
    for raw in str(text).splitlines():
        line = _ORDINAL_START.sub(r"\1\\\2", _BLOCK_START.sub(r"\\\1", md_text(raw)))
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join("\n".join(lines) for lines in paragraphs if lines)


def md_fence(text: str, info: str = "text") -> str:
    """Untrusted text verbatim in a fenced code block whose fence is longer than any backtick run inside."""
    body = _UNSAFE_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def md_quote(text: str) -> str:
    """Untrusted multi-line text as an escaped Markdown blockquote."""
    return "\n".join(f"> {line}" if line else ">" for line in md_block(text).split("\n"))

"""Text into chunks: Markdown split at its headings, then long sections split by paragraphs, lines, sentences
and words to a target size, with overlap. A chunk never crosses a heading."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_CHUNK_SIZE = 800
"""Target chunk size in characters."""
DEFAULT_OVERLAP = 120
"""Characters of the previous chunk repeated at the start of the next one (cut at a word boundary)."""

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SEPARATORS = (
    re.compile(r"\n[ \t]*\n"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile(r"(?<=[.!?;:])[ \t]+"),  # sentences
    re.compile(r"[ \t]+"),  # words
)


@dataclass(frozen=True)
class MarkdownSection:
    """The text under one heading (the heading line included), with the path of headings above it."""

    heading_path: str | None
    """``"Install > Linux"``; None for text before the first heading."""
    text: str


def split_markdown(text: str) -> list[MarkdownSection]:
    """Split Markdown at ATX headings (``#`` to ``######``; not inside fenced code). Sections holding nothing
    but their heading are dropped: their heading lives on in their subsections' paths."""
    sections: list[MarkdownSection] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        body = "\n".join(lines).strip()
        has_content = any(line.strip() and not _HEADING.match(line) for line in lines)
        if body and has_content:
            sections.append(MarkdownSection(" > ".join(title for _, title in stack) or None, body))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            flush()
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading.group(2).strip()))
        lines.append(line)
    flush()
    return sections


def markdown_title(text: str) -> str | None:
    """The first level-1 heading outside fenced code, if any."""
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading and len(heading.group(1)) == 1:
            return heading.group(2).strip()
    return None


def split_text(text: str, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[str]:
    """Split text into chunks of at most ``size`` characters, each starting with up to ``overlap`` characters
    from the end of the previous one. A last fragment shorter than ``overlap`` is merged into the chunk before
    it, so no chunk exceeds ``size + overlap``. No chunk is empty."""
    if size < 2 * overlap or overlap < 0:
        raise ValueError("need size >= 2 * overlap >= 0")
    text = text.strip()
    if not text:
        return []
    if len(text) <= size:
        return [text]
    units = _units(text, size - overlap, 0)
    chunks: list[str] = []
    current = previous = ""
    repeated = fresh = 0  # characters of `current` taken from the previous chunk / added since
    for unit in units:
        if fresh and len(current) + len(unit) > size:
            chunks.append(current.strip())
            previous, current = current, _tail(current, overlap)
            repeated, fresh = len(current), 0
        current += unit
        fresh += len(unit.strip())
    if fresh:
        if chunks and fresh < overlap:
            chunks[-1] = (previous + current[repeated:]).strip()
        else:
            chunks.append(current.strip())
    return [chunk for chunk in chunks if chunk]


def _units(text: str, limit: int, level: int) -> list[str]:
    """Pieces of at most ``limit`` characters that concatenate back to ``text``, cut at the coarsest
    separator that works (each piece keeps the separator that followed it)."""
    if len(text) <= limit:
        return [text]
    if level == len(_SEPARATORS):
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    pieces: list[str] = []
    start = 0
    for match in _SEPARATORS[level].finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    units: list[str] = []
    for piece in pieces:
        units.extend(_units(piece, limit, level + 1) if len(piece) > limit else [piece])
    return [unit for unit in units if unit]


def _tail(chunk: str, overlap: int) -> str:
    """The last ``overlap`` characters of a chunk, starting at a word boundary."""
    if overlap == 0:
        return ""
    tail = chunk[-overlap:]
    if len(chunk) > overlap and not chunk[-overlap - 1].isspace():
        cut = re.search(r"\s", tail)
        tail = tail[cut.end() :] if cut else tail
    return tail.lstrip()

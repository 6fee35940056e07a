"""Sentences, cut the same way everywhere: the extractive model's quotes, citation attribution, the answer metrics
and the sentences the voice speaks.

Text is first cut at its Markdown structure (blank lines, list items, headings, quotes, table rows; a line break
inside a paragraph is a space, as in hard-wrapped text), then each block by pySBD's rule-based segmenter (the
Golden Rules set), which keeps initials ("John F. Kennedy"), abbreviations ("St. Peter's", "e.g.", "5 p.m."),
decimals ("1.5 GB"), addresses ("http://127.0.0.1:8000/docs") and file names (".workbench") inside their
sentence.
"""

from __future__ import annotations

import re
import threading
from functools import cache

import pysbd

_STARTS_BLOCK = re.compile(r"[ \t]*(?:[-*+>|#]|\d+[.)])\s")
_WRAPPED = re.compile(r"\s*\n\s*")
# pySBD ends a sentence at a dot that starts a word (".workbench", "./.venv"): such a dot never ends one here.
_LEADING_DOT = re.compile(r"(?<![\w)\]])\.(?=[\w/])")
_HELD_DOT = "\u2024"  # ONE DOT LEADER, for the time of the segmentation


def _blocks(text: str) -> list[str]:
    """Paragraphs, list items, headings, quotes and table rows; wrapped lines stay in their paragraph."""
    blocks: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        if not line.strip() or _STARTS_BLOCK.match(line) or (current and current[0].lstrip().startswith(("#", "|"))):
            if current:
                blocks.append("\n".join(current))
            current = [line] if line.strip() else []
        else:
            current.append(line)
    blocks.append("\n".join(current))
    return blocks


_lock = threading.Lock()


@cache
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def _segment(block: str) -> list[str]:
    with _lock:  # pySBD keeps per-call state on the segmenter
        parts = _segmenter().segment(_LEADING_DOT.sub(_HELD_DOT, _WRAPPED.sub(" ", block)))
    return [part.replace(_HELD_DOT, ".") for part in parts]


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, in order (no empty ones)."""
    return [s.strip() for block in _blocks(text) if block.strip() for s in _segment(block) if s.strip()]


def complete_sentences(text: str) -> tuple[list[str], str]:
    """For text still being written: the sentences already complete, and the rest (the one being written).

    A sentence is complete once another has begun after it, or its paragraph or list item has ended."""
    *blocks, last = _blocks(text)
    complete = [s for block in blocks for s in split_sentences(block)]
    parts = _segment(last) if last.strip() else []
    if len(parts) > 1:
        complete.extend(p.strip() for p in parts[:-1] if p.strip())
        return complete, parts[-1]
    return complete, last

"""Tokenizing text into words and sentences, and counting them."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased, apostrophes kept inside words ("don't")."""
    return [match.group(0).lower() for match in _WORD.finditer(text)]


def word_count(text: str) -> int:
    """How many words `text` has."""
    return len(words(text))


def sentence_count(text: str) -> int:
    """How many sentences `text` has; text without a final stop still counts as one sentence."""
    stripped = text.strip()
    if not stripped:
        return 0
    ends = len(_SENTENCE_END.findall(stripped))
    return ends if _SENTENCE_END.search(stripped[-1:] + " ") else ends + 1


def word_frequencies(text: str, top: int | None = None) -> list[tuple[str, int]]:
    """Words with their counts, most frequent first, ties in alphabetical order."""
    if top is not None and top < 0:
        raise ValueError("top must be zero or positive")
    counts = Counter(words(text))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked if top is None else ranked[:top]

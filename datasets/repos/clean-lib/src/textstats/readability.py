"""Readability scores (Flesch reading ease, Flesch-Kincaid grade) from word, sentence and syllable counts."""

from __future__ import annotations

import re

from textstats.counting import sentence_count, words

_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def syllable_count(word: str) -> int:
    """An estimate of the syllables in an English word: vowel groups, minus a silent final e, at least one."""
    word = word.lower().strip("'")
    if not word:
        return 0
    groups = len(_VOWEL_GROUPS.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
        groups -= 1
    return max(groups, 1)


def _totals(text: str) -> tuple[int, int, int]:
    tokens = words(text)
    return len(tokens), max(sentence_count(text), 1), sum(syllable_count(token) for token in tokens)


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease: about 90-100 for very easy text, below 30 for very hard text."""
    word_total, sentences, syllables = _totals(text)
    if word_total == 0:
        raise ValueError("text has no words")
    return round(206.835 - 1.015 * word_total / sentences - 84.6 * syllables / word_total, 2)


def flesch_kincaid_grade(text: str) -> float:
    """The US school grade needed to understand the text."""
    word_total, sentences, syllables = _totals(text)
    if word_total == 0:
        raise ValueError("text has no words")
    return round(0.39 * word_total / sentences + 11.8 * syllables / word_total - 15.59, 2)

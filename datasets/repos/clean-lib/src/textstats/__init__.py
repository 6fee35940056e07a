"""Word counts, frequencies and readability scores for plain text."""

from textstats.counting import sentence_count, word_count, word_frequencies, words
from textstats.readability import flesch_kincaid_grade, flesch_reading_ease, syllable_count

__all__ = [
    "flesch_kincaid_grade",
    "flesch_reading_ease",
    "sentence_count",
    "syllable_count",
    "word_count",
    "word_frequencies",
    "words",
]

"""Word error rate with the usual normalization (case, punctuation, whitespace), via jiwer."""

from __future__ import annotations

import re

import jiwer

_PUNCT = re.compile(r"[^\w\s']")


def normalize(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against ``reference`` after normalization (0.0 is perfect)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp or "<empty>"))

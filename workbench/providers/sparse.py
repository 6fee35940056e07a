"""BM25-style sparse vectors for Qdrant's sparse index.

Documents carry BM25's saturated term frequency; queries carry 1.0 per unique term. The inverse document
frequency is not computed here: the collection's sparse vector is created with ``Modifier.IDF``, so Qdrant
(server and local mode alike) multiplies each query term by the IDF it measures over the collection at search
time. The dot product of the two then is the BM25 score.

Token indices are the first 4 bytes of the token's blake2b digest read as an unsigned 32-bit integer, so they
are the same in every process and on every machine (unlike Python's ``hash()``, which is salted per process).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SparseVector:
    """Token indices and their weights (each store converts it to its own class)."""

    indices: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


K1 = 1.2
"""BM25 term-frequency saturation."""
B = 0.75
"""BM25 length normalisation."""
AVG_DOC_TOKENS = 120.0
"""Assumed average chunk length in tokens (stopwords removed). A fixed value keeps vectors independent of the
corpus, so a chunk's vector never changes when other files are added; an 800-character chunk holds roughly
110-130 such tokens."""

_WORD = re.compile(r"\w+", re.UNICODE)

_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not of off on once
    only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""A small English stopword list (the classic short list, without contractions)."""


def stem(token: str) -> str:
    """Strip a few common English suffixes ("indexes" -> "index", "chunking" -> "chunk"). Deterministic and
    deliberately light: plural endings first, then one verb ending; only purely alphabetic tokens are touched,
    so identifiers and codes stay intact."""
    if not token.isalpha():
        return token
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch"), ("shes", "sh"), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3 and not token.endswith(("ss", "us", "is")):
            token = token[: -len(suffix)] + replacement
            break
    for suffix in ("ing", "ed"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 4:
            return token[: -len(suffix)]
    return token


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens with stopwords and one-letter words dropped, lightly stemmed.

    Underscores are word characters, so ``WORKBENCH_HOME`` stays one token (``workbench_home``).
    """
    tokens = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or (len(word) == 1 and not word.isdigit()):
            continue
        tokens.append(stem(word))
    return tokens


def token_index(token: str) -> int:
    """The sparse index of a token: a stable unsigned 32-bit hash."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "little")


class SparseEncoder:
    """Turns text into BM25-style :class:`SparseVector` s (IDF applied by Qdrant)."""

    def __init__(self, k1: float = K1, b: float = B, avg_doc_tokens: float = AVG_DOC_TOKENS) -> None:
        self.k1 = k1
        self.b = b
        self.avg_doc_tokens = avg_doc_tokens

    def encode_document(self, text: str) -> SparseVector:
        """BM25 saturated term frequencies ``tf*(k1+1)/(tf+k1*(1-b+b*len/avg_len))``, one entry per term."""
        tokens = tokenize(text)
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.avg_doc_tokens)
        counts = self._counts_by_index(tokens)
        indices = sorted(counts)
        values = [counts[i] * (self.k1 + 1) / (counts[i] + norm) for i in indices]
        return SparseVector(indices=indices, values=values)

    def encode_documents(self, texts: Iterable[str]) -> list[SparseVector]:
        """:meth:`encode_document` for each text."""
        return [self.encode_document(text) for text in texts]

    def encode_query(self, text: str) -> SparseVector:
        """1.0 per unique query term; empty when the query has no indexable word."""
        indices = sorted(self._counts_by_index(tokenize(text)))
        return SparseVector(indices=indices, values=[1.0] * len(indices))

    @staticmethod
    def _counts_by_index(tokens: list[str]) -> Counter[int]:
        # Counting by index (not by token) keeps indices unique even if two tokens ever collide.
        return Counter(token_index(token) for token in tokens)

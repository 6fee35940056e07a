"""What a model reads of the retrieved chunks: their sentences ranked for the question, within a token budget.

Reading the prompt is most of a small local model's time to first token (about 120 tokens a second on two cores),
so a bundled model is given only the sentences that the project's own scorer (the one the extractive baseline
quotes with) ranks best for the question, each under the number of the chunk it came from, so that ``[n]`` in the
answer still names the n-th retrieved document. Sentences keep their order inside a chunk; chunks keep their
retrieval order; a chunk with no chosen sentence is left out (its number is simply absent).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workbench.citations import content_words
from workbench.documents import RetrievedDoc
from workbench.sentences import split_sentences

TokenCounter = Callable[[str], int]
MIN_SENTENCE_CHARS = 16


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: four characters a token (English prose, code identifiers)."""
    return (len(text) + 3) // 4


def _terms(text: str) -> list[str]:
    return [w.rstrip("s") if len(w) > 3 else w for w in content_words(text)]


@dataclass(frozen=True)
class RankedSentence:
    number: int
    """1-based number of the passage it comes from."""
    position: int
    """Its place in that passage."""
    text: str
    score: float


def rank_sentences(question: str, passages: Sequence[tuple[int, str]]) -> list[RankedSentence]:
    """The passages' sentences that share a content word with ``question``, best first.

    A sentence scores the inverse document frequencies (over all the sentences) of the question words it holds,
    discounted by its passage's retrieval rank and, gently, by its length; sentences under 16 characters (a lone
    heading word, a table rule) are not ranked."""
    sentences = [
        (rank, number, position, sentence)
        for rank, (number, passage) in enumerate(passages)
        for position, sentence in enumerate(split_sentences(passage))
        if len(sentence) >= MIN_SENTENCE_CHARS
    ]
    query = set(_terms(question))
    if not sentences or not query:
        return []
    terms = [set(_terms(sentence)) for *_, sentence in sentences]
    doc_freq = Counter(term for found in terms for term in found)
    n = len(sentences)
    ranked = []
    for (rank, number, position, sentence), found in zip(sentences, terms, strict=True):
        weight = sum(math.log(1 + n / doc_freq[t]) for t in query & found)
        if weight > 0:
            score = weight / (1 + 0.1 * rank) / math.sqrt(1 + len(found) / 40)
            ranked.append(RankedSentence(number, position, sentence, score))
    ranked.sort(key=lambda s: s.score, reverse=True)
    return ranked


def _cut(text: str, budget: int, count: TokenCounter) -> str:
    """The longest run of ``text``'s first words that fits ``budget`` tokens, with an ellipsis."""
    words = text.split()
    low, high = 0, len(words)
    while low < high:  # the most words that fit
        middle = (low + high + 1) // 2
        if count(" ".join(words[:middle]) + " …") <= budget:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]) + " …" if low else ""


def select_passages(
    question: str, docs: Sequence[RetrievedDoc], budget: int, count: TokenCounter = approx_tokens
) -> list[tuple[int, str]]:
    """``(number, text)`` for the documents that keep a sentence, within ``budget`` tokens in all (each passage's
    ``[n] `` label counted): the best-ranked sentences first, then put back in document and sentence order. When no
    sentence shares a word with the question, the first document's opening sentences stand in (the model may still
    say that the documents do not answer)."""
    passages = [(i, doc["text"]) for i, doc in enumerate(docs, start=1)]
    ranked = rank_sentences(question, passages)
    if not ranked and passages:
        opening = [s for s in split_sentences(passages[0][1]) if len(s) >= MIN_SENTENCE_CHARS]
        ranked = [RankedSentence(1, i, s, 0.0) for i, s in enumerate(opening)]
    chosen: list[RankedSentence] = []
    used = 0
    for sentence in ranked:
        label = 0 if any(c.number == sentence.number for c in chosen) else count(f"[{sentence.number}] ")
        cost = label + count(sentence.text + " ")
        if used + cost <= budget:
            chosen.append(sentence)
            used += cost
        elif not chosen:  # the best sentence alone is over the budget: its opening words
            text = _cut(sentence.text, budget - label, count)
            if text:
                chosen.append(RankedSentence(sentence.number, sentence.position, text, sentence.score))
            break
    by_number: dict[int, list[RankedSentence]] = {}
    for sentence in sorted(chosen, key=lambda s: (s.number, s.position)):
        by_number.setdefault(sentence.number, []).append(sentence)
    return [(number, " ".join(s.text for s in group)) for number, group in by_number.items()]


def whole_passages(docs: Sequence[RetrievedDoc]) -> list[tuple[int, str]]:
    """Every document whole, numbered from 1."""
    return [(i, doc["text"].strip()) for i, doc in enumerate(docs, start=1)]

"""Numbered context blocks given to the model, and the ``[n]`` citations read back from its answer.

The same format is written by the chat graph's prompt and read by the extractive baseline and the UI, so it
lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from workbench.documents import RetrievedDoc
from workbench.sentences import split_sentences

BEGIN = "<<<CONTEXT"
END = "CONTEXT>>>"
_BLOCK = re.compile(r"^\[(\d+)\] (?:\(source: [^\n]*\)\n)?(.*?)(?=^\[\d+\] |\Z)", re.S | re.M)
_CITATION = re.compile(r"\[(\d+)\]")


def label(doc: RetrievedDoc) -> str:
    """A short human label for a document: file name, then section or page."""
    name = doc["source"].rsplit("/", 1)[-1]
    if doc.get("section"):
        return f"{name} — {doc['section']}"
    if doc.get("page"):
        return f"{name} — p. {doc['page']}"
    return name


def format_context(docs: Sequence[RetrievedDoc]) -> str:
    """Render documents as ``[n] (source: ...)`` blocks between markers."""
    blocks = [f"[{i}] (source: {label(doc)})\n{doc['text'].strip()}\n" for i, doc in enumerate(docs, start=1)]
    return f"{BEGIN}\n" + "\n".join(blocks) + f"{END}" if blocks else f"{BEGIN}\n(no documents found)\n{END}"


def format_passages(passages: Sequence[tuple[int, str]]) -> str:
    """Render chosen ``(number, text)`` passages compactly, ``[n] text`` each, between markers (no source
    labels: every token costs a local model time before its first word)."""
    if not passages:
        return f"{BEGIN}\n(no documents found)\n{END}"
    return f"{BEGIN}\n" + "\n".join(f"[{number}] {text.strip()}" for number, text in passages) + f"\n{END}"


def after_context(text: str) -> str:
    """What follows the context block in ``text`` (the question of a turn that carries its context), or all of
    ``text`` when it has no block."""
    start = text.find(BEGIN)
    end = text.find(END, start)
    return text[end + len(END) :].strip() if start >= 0 and end >= 0 else text


def parse_context(text: str) -> list[tuple[int, str]]:
    """The ``(number, passage)`` pairs of the context block inside ``text`` (empty when there is none)."""
    start = text.find(BEGIN)
    end = text.find(END, start)
    if start < 0 or end < 0:
        return []
    body = text[start + len(BEGIN) : end].strip("\n") + "\n"
    return [(int(m.group(1)), m.group(2).strip()) for m in _BLOCK.finditer(body)]


def cited_numbers(answer: str, n_docs: int) -> list[int]:
    """The distinct citation numbers in ``answer`` that point at one of ``n_docs`` documents, in order."""
    seen: list[int] = []
    for match in _CITATION.finditer(answer):
        number = int(match.group(1))
        if 1 <= number <= n_docs and number not in seen:
            seen.append(number)
    return seen


_WORD = re.compile(r"[a-z0-9_]+")
#: Words that carry no content, ignored when matching questions and answers to passages.
STOPWORDS = frozenset(
    """
    a about also an and are as at be by can do does for
    from how i if in into is it its me my no not of
    on or our so than that the their then there this to use used
    using was we what when where which who why will with yes you your
    """.split()
)


def content_words(text: str) -> list[str]:
    """The lower-cased words of ``text`` that carry content (no stopwords, no single characters)."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def _content_words(text: str) -> set[str]:
    return set(content_words(text))


def supporting_documents(answer: str, passages: list[str], min_overlap: float = 0.5, min_words: int = 3) -> list[int]:
    """1-based numbers of the passages that support some sentence of ``answer`` (for answers without ``[n]``).

    A passage supports a sentence when it holds at least ``min_overlap`` of the sentence's content words (and
    at least ``min_words`` of them); each sentence is attributed to its best passage. A shorter sentence that
    holds a figure (a bare "8000") is attributed to the first passage holding all of its words.
    """
    words = [_content_words(p) for p in passages]
    cited: list[int] = []
    for sentence in split_sentences(answer):
        terms = _content_words(sentence)
        if len(terms) < min_words:
            if terms and any(any(c.isdigit() for c in t) for t in terms):
                holder = next((i + 1 for i, w in enumerate(words) if terms <= w), None)
                if holder is not None and holder not in cited:
                    cited.append(holder)
            continue
        best, overlap = max(((i, len(terms & w)) for i, w in enumerate(words)), key=lambda x: x[1], default=(0, 0))
        if overlap >= min_words and overlap / len(terms) >= min_overlap and best + 1 not in cited:
            cited.append(best + 1)
    return cited

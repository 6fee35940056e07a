"""Numbered context blocks given to the model, and the ``[n]`` citations read back from its answer.

The same format is written by the chat graph's prompt and read by the extractive baseline and the UI, so it
lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from workbench.documents import RetrievedDoc

BEGIN = "<<<CONTEXT"
END = "CONTEXT>>>"
_BLOCK = re.compile(r"^\[(\d+)\] \(source: [^\n]*\)\n(.*?)(?=^\[\d+\] \(source: |\Z)", re.S | re.M)
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

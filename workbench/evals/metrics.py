"""Text-quality measures shared by eval suites: answer overlap with a gold answer, gold-fact containment,
groundedness in cited passages, retrieval rank, and an LLM judge's prompt and reply parser.

All deterministic measures work on the same normalisation (as in SQuAD's evaluation script): lower-case,
citation markers ``[n]`` and punctuation removed, English articles dropped, split on whitespace. So
``"./.workbench"`` and ``".workbench"`` are both ``workbench``, ``127.0.0.1`` is ``127001``, ``WORKBENCH_HOME``
is ``workbenchhome`` on both sides of a comparison.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.citations import STOPWORDS
from workbench.sentences import split_sentences

_CITATION = re.compile(r"\[\d+\]")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# Citations written after the full stop ("text. [2]") move before it, so they stay with their sentence.
_TRAILING_CITATIONS = re.compile(r"([.!?])((?:[ \t]*\[\d+\])+)")


def normalize(text: str) -> list[str]:
    """The answer's tokens, normalised as SQuAD does (see the module docstring)."""
    text = _CITATION.sub(" ", text.lower())
    text = text.translate(_PUNCTUATION)
    return _ARTICLES.sub(" ", text).split()


def content_tokens(text: str) -> list[str]:
    """Normalised tokens without stopwords (what carries the content of a sentence or fact)."""
    return [t for t in normalize(text) if t not in STOPWORDS]


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 between an answer and a gold answer (bag of normalised tokens); 1.0 when both are empty."""
    pred, gold = normalize(prediction), normalize(reference)
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def fact_containment(answer: str, facts: Sequence[str]) -> float | None:
    """How much of the gold facts the answer states: for each fact, the share of its content tokens that appear
    in the answer, averaged over the facts (None without facts).

    A fact is a short span of the source that holds the answer (``datasets/qa.jsonl``), so an answer that quotes
    or restates every fact scores 1.0, one that shares only common words with them scores low. Word order is
    ignored; stopwords do not count.
    """
    shares = []
    said = set(content_tokens(answer))
    for fact in facts:
        tokens = set(content_tokens(fact))
        if tokens:
            shares.append(len(tokens & said) / len(tokens))
    return sum(shares) / len(shares) if shares else None


def sentences(answer: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences, each with the citation numbers ``[n]`` it carries (its own, in order)."""
    out: list[tuple[str, list[int]]] = []
    for part in split_sentences(_TRAILING_CITATIONS.sub(r"\2\1", answer)):
        text = part.strip()
        if not text:
            continue
        numbers = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", text)))
        if not _CITATION.sub("", text).strip() and out:  # a lone "[2]": it belongs to the sentence before
            out[-1] = (out[-1][0] + " " + text, list(dict.fromkeys([*out[-1][1], *numbers])))
        else:
            out.append((text, numbers))
    return out


@dataclass
class Groundedness:
    score: float | None
    """Supported sentences / checked sentences; None when no sentence had enough content words to check."""
    checked: int
    supported: int


def groundedness(
    answer: str,
    passages: Sequence[str],
    cited: Sequence[int] = (),
    *,
    min_support: float = 0.6,
    min_words: int = 3,
) -> Groundedness:
    """The share of the answer's sentences supported by the passages they cite.

    ``passages`` are the numbered context (``[1]`` is ``passages[0]``). A sentence is checked against the
    passages it cites itself; a sentence without ``[n]`` against ``cited`` (the answer's citations, explicit or
    attributed), or against every passage when ``cited`` is empty. It is supported when at least ``min_support``
    of its content tokens occur in those passages. Sentences with fewer than ``min_words`` content tokens
    ("Yes.", a heading) are not checked.
    """
    vocab = [set(content_tokens(p)) for p in passages]
    fallback = [n for n in cited if 1 <= n <= len(vocab)] or list(range(1, len(vocab) + 1))
    checked = supported = 0
    for text, numbers in sentences(answer):
        tokens = set(content_tokens(text))
        if len(tokens) < min_words:
            continue
        own = [n for n in numbers if 1 <= n <= len(vocab)]
        support: set[str] = set().union(*(vocab[n - 1] for n in own or fallback)) if vocab else set()
        checked += 1
        supported += len(tokens & support) / len(tokens) >= min_support
    return Groundedness(supported / checked if checked else None, checked, supported)


def first_relevant_rank(docs: Sequence[dict[str, Any]], source: str, facts: Sequence[str]) -> int | None:
    """1-based rank of the first relevant document, or None: relevant means from the file named ``source`` and
    holding one of ``facts`` verbatim (as ``bench/retrieval.py`` judges it)."""
    for rank, doc in enumerate(docs, start=1):
        if Path(str(doc.get("source", ""))).name == source and any(f in str(doc.get("text", "")) for f in facts):
            return rank
    return None


# -- LLM judge --------------------------------------------------------------------------------------------------

JUDGE_NAME = "eval-judge"
JUDGE_VERSION = "v1"
JUDGE_TEMPLATE = (
    "You grade answers given by a documentation assistant.\n\n"
    "Question: {{question}}\n\n"
    "Reference answer: {{reference}}\n\n"
    "Assistant's answer: {{answer}}\n\n"
    "How well does the assistant's answer give the information of the reference answer, without wrong claims?\n"
    "5 = complete and correct; 4 = correct, minor gaps; 3 = partly correct; 2 = mostly wrong or missing; "
    "1 = wrong, or no answer.\n"
    "Reply on two lines exactly:\nSCORE: <1-5>\nREASON: <one short sentence>"
)
"""A prompt in MLflow's template syntax (``{{var}}``): what is registered is what is sent."""


def render_judge(question: str, reference: str, answer: str) -> str:
    values = {"question": question, "reference": reference or "(none given)", "answer": answer or "(empty)"}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], JUDGE_TEMPLATE)


_SCORE_PATTERNS = (
    re.compile(r"score\W{0,3}\s*\**\s*([1-5])(?:\s*/\s*5)?\b", re.I),  # SCORE: 4, **Score**: 4/5, "score": 4
    re.compile(r"\b([1-5])\s*(?:/|out of)\s*5\b", re.I),  # 4/5, 4 out of 5
    re.compile(r"^\s*([1-5])\b"),  # a reply that starts with the digit
)


def parse_judge(reply: str) -> tuple[float, str] | None:
    """``(score 1-5, reason)`` from a judge's reply, or None when no score can be read."""
    for pattern in _SCORE_PATTERNS:
        match = pattern.search(reply)
        if match:
            reason = re.search(r"reason\W{0,3}\s*(.+)", reply, re.I | re.S)
            lines = (reason.group(1) if reason else reply).strip().splitlines()
            return float(match.group(1)), (lines[0] if lines else "").strip("\"'{} ,")[:300]
    return None

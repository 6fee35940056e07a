"""A deterministic answer baseline that needs no model: the best-supported sentences of the context.

It reads the numbered context block of the system prompt (see :mod:`workbench.citations`), scores every
sentence by the question words it contains (rarer words weigh more) and answers with the best few, each
followed by its citation. Every answer says it is extractive.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from workbench.citations import content_words, parse_context
from workbench.sentences import split_sentences

LABEL = "Extractive answer (quoted from the sources, no language model):"
NOT_FOUND = "I could not find an answer to that in the indexed documents."


def _terms(text: str) -> list[str]:
    return [w.rstrip("s") if len(w) > 3 else w for w in content_words(text)]


def extract_answer(question: str, passages: list[tuple[int, str]], max_sentences: int = 3) -> str:
    """The answer text for ``question`` from numbered ``passages``."""
    sentences = [
        (number, rank, sentence.strip())
        for rank, (number, passage) in enumerate(passages)
        for sentence in split_sentences(passage)
        if len(sentence.strip()) > 15
    ]
    query = set(_terms(question))
    if not sentences or not query:
        return NOT_FOUND
    doc_freq = Counter(term for _, _, s in sentences for term in set(_terms(s)))
    n = len(sentences)

    def score(item: tuple[int, int, str]) -> float:
        _, rank, sentence = item
        terms = set(_terms(sentence))
        weight = sum(math.log(1 + n / doc_freq[t]) for t in query & terms)
        return weight / (1 + 0.1 * rank) / math.sqrt(1 + len(terms) / 40)

    ranked = sorted((item for item in sentences if score(item) > 0), key=score, reverse=True)
    picked: list[tuple[int, int, str]] = []
    for item in ranked:
        if len(picked) == max_sentences:
            break
        if sum(1 for p in picked if p[0] == item[0]) < 2:
            picked.append(item)
    if not picked:
        return NOT_FOUND
    return LABEL + "\n" + "\n".join(f"{sentence} [{number}]" for number, _, sentence in picked)


class ExtractiveChatModel(BaseChatModel):
    """Answers with sentences quoted from the context; streams word by word."""

    model_name: str = "extractive"
    max_sentences: int = 3

    @property
    def _llm_type(self) -> str:
        return "extractive"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "workbench", "ls_model_name": self.model_name, "ls_model_type": "chat"}

    def _answer(self, messages: list[BaseMessage]) -> str:
        system = "\n".join(str(m.content) for m in messages if isinstance(m, SystemMessage))
        question = next((str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        return extract_answer(question, parse_context(system), self.max_sentences)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._answer(messages)
        message = AIMessage(content=text, response_metadata={"model_name": self.model_name})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        words = re.findall(r"\S+\s*", self._answer(messages))
        for i, word in enumerate(words):
            last = i == len(words) - 1
            meta = {"model_name": self.model_name} if last else {}
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word, response_metadata=meta))
            if run_manager:
                run_manager.on_llm_new_token(word, chunk=chunk)
            yield chunk

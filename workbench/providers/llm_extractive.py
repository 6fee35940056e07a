"""A deterministic answer baseline that needs no model: the best-supported sentences of the context.

It reads the numbered context block (in the system prompt, or in the turn that asks: see
:mod:`workbench.citations`), ranks every sentence by the question words it contains (rarer words weigh more; see
:mod:`workbench.context_window`) and answers with the best few, each followed by its citation.
Every answer says it is extractive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from workbench.citations import BEGIN, after_context, parse_context
from workbench.context_window import RankedSentence, rank_sentences

LABEL = "Extractive answer (quoted from the sources, no language model):"
NOT_FOUND = "I could not find an answer to that in the indexed documents."


def extract_answer(question: str, passages: list[tuple[int, str]], max_sentences: int = 3) -> str:
    """The answer text for ``question`` from numbered ``passages``: the best-ranked sentences, at most two from
    one passage."""
    picked: list[RankedSentence] = []
    for item in rank_sentences(question, passages):
        if len(picked) == max_sentences:
            break
        if sum(1 for p in picked if p.number == item.number) < 2:
            picked.append(item)
    if not picked:
        return NOT_FOUND
    return LABEL + "\n" + "\n".join(f"{s.text} [{s.number}]" for s in picked)


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
        context = next((str(m.content) for m in reversed(messages) if BEGIN in str(m.content)), "")
        asked = next((str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        question = after_context(asked).removeprefix("Question:").strip()  # a turn that carries its context
        return extract_answer(question, parse_context(context), self.max_sentences)

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

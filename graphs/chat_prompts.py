"""Named, versioned prompts of the chat graph. A run records the version it used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage


@dataclass(frozen=True)
class Prompt:
    """A prompt's text. ``template`` is the system message; with a ``turn`` template the context goes into the
    question's own message instead (``{context}``, ``{question}``), so the system message never changes and a
    local model reuses its evaluated state from one turn to the next."""

    name: str
    version: str
    template: str
    turn: str | None = None

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, **values: str) -> str:
        return self.template.format(**values)

    def render_turn(self, context: str, question: str) -> str:
        """The asking message of a prompt with a ``turn`` template."""
        assert self.turn is not None, "this prompt carries its context in the system message"
        return self.turn.format(context=context, question=question)

    @property
    def text(self) -> str:
        """Everything the prompt says, for registries: the system message, then the turn's template."""
        return self.template if self.turn is None else f"{self.template}\n\n---\n{self.turn}"


ANSWER_PROMPTS = {
    "v1": Prompt(
        "chat-answer",
        "v1",
        "You are the Agent Workbench assistant. Answer the user's question using only the numbered context below.\n"
        "Cite the passages you use with their numbers in square brackets, like [1] or [2][3].\n"
        "If the context does not contain the answer, say that you could not find it in the documents.\n"
        "Be concise.\n\n{context}",
    ),
    "v2": Prompt(
        "chat-answer",
        "v2",
        "You answer questions about the user's documents.\n"
        "Rules: 1) use only facts from the numbered context; 2) put a citation like [1] after every sentence;\n"
        "3) answer in at most three sentences; 4) if the context is silent, say so plainly.\n\n{context}",
    ),
    "v3": Prompt(
        "chat-answer",
        "v3",
        "You answer questions from numbered passages of the user's documents.\n"
        "Answer in one or two short sentences. Use the passages' own words for names, values and numbers.\n"
        "After each sentence, cite the passage it comes from by its number in square brackets, like [2].\n"
        "If the passages do not answer the question, say that you could not find it in the documents.",
        turn="{context}\n\nQuestion: {question}",
    ),
    "v4": Prompt(
        "chat-answer",
        "v4",
        "You answer questions from numbered passages of the user's documents.\n"
        "Answer in one or two short sentences. Reuse the exact words of the passage that answers: its names, "
        "settings, values, numbers and commands.\n"
        "After each sentence, cite the passage it comes from by its number in square brackets, like [2].\n"
        "If the passages do not answer the question, say that you could not find it in the documents.\n\n"
        "Example:\n<<<CONTEXT\n"
        "[2] The server refuses an HTTP request whose body is larger than `WORKBENCH_MAX_BODY_BYTES` (1 MiB by "
        "default) with 413.\n[4] Uploaded files are indexed in the background.\nCONTEXT>>>\n\n"
        "Question: how big can a request be\n"
        "Answer: A request body may be up to `WORKBENCH_MAX_BODY_BYTES` (1 MiB by default); a larger one is refused "
        "with 413. [2]",
        turn="{context}\n\nQuestion: {question}",
    ),
    "v5": Prompt(
        "chat-answer",
        "v5",
        "You answer questions from numbered passages of the user's documents.\n"
        "Answer in one sentence, two at most, that say what the passage says in its own words: copy its names, "
        "settings, values, ranges, numbers and commands exactly. Answer a yes-or-no question with Yes or No, then "
        "the passage's reason.\n"
        "End each sentence with the number of its passage in square brackets, like [2].\n"
        "If the passages do not answer the question, say that you could not find it in the documents.\n\n"
        "Examples:\n"
        "<<<CONTEXT\n[1] Request bodies are limited to 1 MiB (`WORKBENCH_MAX_BODY_BYTES`); a larger one gets 413.\n"
        "[3] Uploaded files are indexed in the background.\nCONTEXT>>>\n\nQuestion: request body limit\n"
        "Answer: Request bodies are limited to 1 MiB (`WORKBENCH_MAX_BODY_BYTES`); a larger one gets 413. [1]\n\n"
        "<<<CONTEXT\n[2] Each section keeps its heading path, which is stored in the chunk's `section` field. "
        "A chunk never crosses a heading.\nCONTEXT>>>\n\n"
        "Question: Can one chunk hold the end of one section and the start of the next?\n"
        "Answer: No: a chunk never crosses a heading. [2]\n\n"
        "<<<CONTEXT\n[1] Stop indexing stops the file being read; files indexed before it stay indexed.\n"
        "[2] The Chat tab indexes up to four uploads at once, so one slow file does not hold up everyone else's.\n"
        "CONTEXT>>>\n\n"
        "Question: How many of my files get processed in parallel when I upload several?\n"
        "Answer: The Chat tab indexes up to four uploads at once, so one slow file does not hold up the others. [2]",
        turn="{context}\n\nQuestion: {question}",
    ),
}
DEFAULT_VERSION = "v3"

REWRITE_PROMPT = Prompt(
    "chat-rewrite",
    "v1",
    "Rewrite the user's last question as a short, self-contained search query for a document index.\n"
    "Use the conversation to resolve pronouns. Reply with the query only.\n\nConversation:\n{conversation}\n\n"
    "Last question: {question}",
)


def prompt_messages(prompt: Prompt, system: str, history: Sequence[BaseMessage], context: str) -> list[BaseMessage]:
    """The messages a model answers: the rendered ``system`` message, then ``history``; with a ``turn`` template
    the last human message of the history asks again with the context before it (the history itself, which the
    session keeps, never holds a context)."""
    messages = list(history)
    if prompt.turn is not None:
        last = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)), None)
        if last is None:
            messages.append(HumanMessage(prompt.render_turn(context, "")))
        else:
            question = messages[last]
            messages[last] = HumanMessage(prompt.render_turn(context, str(question.content)), id=question.id)
    return [SystemMessage(system), *messages]


def answer_prompt(version: str) -> Prompt:
    try:
        return ANSWER_PROMPTS[version]
    except KeyError:
        raise ValueError(f"unknown prompt version {version!r}; known: {', '.join(ANSWER_PROMPTS)}") from None

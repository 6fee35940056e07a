"""Named, versioned prompts of the chat graph. A run records the version it used."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    template: str

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, **values: str) -> str:
        return self.template.format(**values)


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
}

REWRITE_PROMPT = Prompt(
    "chat-rewrite",
    "v1",
    "Rewrite the user's last question as a short, self-contained search query for a document index.\n"
    "Use the conversation to resolve pronouns. Reply with the query only.\n\nConversation:\n{conversation}\n\n"
    "Last question: {question}",
)


def answer_prompt(version: str) -> Prompt:
    try:
        return ANSWER_PROMPTS[version]
    except KeyError:
        raise ValueError(f"unknown prompt version {version!r}; known: {', '.join(ANSWER_PROMPTS)}") from None

"""Warming the chat path before the first question: the model reads its fixed instructions, and a local embedder is
loaded by one search of the default collection (a cloud embedder is never called for it); the voice persona's
model reads the persona's instructions, unless it is the chat model."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

from workbench.errors import ConfigurationError
from workbench.providers.scripted import ScriptedChatModel
from workbench.resources import Resources
from workbench.settings import Settings
from workbench.turns.chat import warm_chat_model


class WarmableModel(ScriptedChatModel):
    warmed: list[list[BaseMessage]] = []

    def warm(self, messages: list[BaseMessage]) -> None:
        self.warmed.append(messages)


class SearchRecorder:
    def __init__(self, error: Exception | None = None) -> None:
        self.searches: list[tuple[str, str, int]] = []
        self.error = error

    def search(self, name: str, query: str, k: int = 5, **_: Any) -> list[dict[str, Any]]:
        self.searches.append((name, query, k))
        if self.error is not None:
            raise self.error
        return []


def resources(tmp_path, store: SearchRecorder, **settings: Any) -> Resources:
    built = Resources(Settings(_env_file=None, home=tmp_path, llm="warmable", **settings), store=store)  # type: ignore[arg-type]
    built.models.register("warmable", WarmableModel(model_name="warmable", warmed=[]))
    return built


def test_a_local_embedder_is_loaded_by_one_search_of_the_default_collection(tmp_path):
    store = SearchRecorder()
    warmed = resources(tmp_path, store, embeddings="local/minilm-l6-int8", collection="notes")
    assert warm_chat_model(warmed) is not None
    assert [(name, k) for name, _, k in store.searches] == [("notes", 1)]
    assert len(warmed.models.choose("warmable").model.warmed) == 1  # type: ignore[attr-defined]


def test_a_cloud_embedder_is_not_called_to_warm_up(tmp_path):
    store = SearchRecorder()
    assert warm_chat_model(resources(tmp_path, store, embeddings="openai/text-embedding-3-small")) is not None
    assert store.searches == []


def test_a_store_that_cannot_be_searched_leaves_the_model_warmed_and_the_error_to_the_turn(tmp_path):
    store = SearchRecorder(ConfigurationError("the collection was built with another embedding model"))
    warmed = resources(tmp_path, store, embeddings="local/minilm-l6-int8")
    assert warm_chat_model(warmed) is not None
    assert len(warmed.models.choose("warmable").model.warmed) == 1  # type: ignore[attr-defined]


def test_a_model_without_a_warm_up_is_not_warmed(tmp_path):
    store = SearchRecorder()
    built = Resources(Settings(_env_file=None, home=tmp_path, llm="extractive"), store=store)  # type: ignore[arg-type]
    assert warm_chat_model(built) is None
    assert store.searches == []


def test_the_voice_persona_model_reads_the_persona_instructions(tmp_path):
    from workbench.turns.voice import warm_voice_model

    personas = tmp_path / "personas"
    personas.mkdir()
    (personas / "talker.yaml").write_text("name: talker\nsystem_prompt: You are a voice assistant.\nmodel: spoken\n")
    built = resources(tmp_path, SearchRecorder(), personas_dir=personas, voice_persona="talker")
    built.models.register("spoken", WarmableModel(model_name="spoken", warmed=[]))
    assert warm_voice_model(built) is not None
    (messages,) = built.models.choose("spoken").model.warmed  # type: ignore[attr-defined]
    assert messages[0].content == "You are a voice assistant." and messages[-1].content == ""
    assert built.models.choose("warmable").model.warmed == []  # type: ignore[attr-defined]


def test_the_voice_model_is_left_alone_when_it_is_the_chat_model(tmp_path):
    from workbench.turns.voice import warm_voice_model

    built = resources(tmp_path, SearchRecorder(), warm_chat=False)  # even when the chat is not warmed either
    assert warm_voice_model(built) is None
    assert built.models.choose("warmable").model.warmed == []  # type: ignore[attr-defined]

"""Model strings resolve as documented; the extractive baseline quotes and cites the context."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from workbench.citations import format_context, supporting_documents
from workbench.errors import ConfigurationError, ProviderUnavailable
from workbench.providers import llm
from workbench.providers.llm import (
    ModelRegistry,
    auto_note,
    build_chat_model,
    default_threads,
    offline_spec,
    resolve_spec,
)
from workbench.providers.llm_extractive import LABEL, NOT_FOUND, ExtractiveChatModel
from workbench.settings import Settings


def doc(i: int, text: str) -> dict:
    return {"chunk_id": f"c{i}", "source": f"f{i}.md", "title": "", "section": None, "page": None, "text": text,
            "score": 1.0, "dense_score": 0.5, "sparse_score": 1.0}  # fmt: skip


def test_auto_prefers_openai_then_groq_then_offline():
    assert resolve_spec("auto", Settings(openai_api_key="k", groq_api_key="g")) == "openai/gpt-4o-mini"
    assert resolve_spec("auto", Settings(groq_api_key="g")) == "groq/llama-3.1-8b-instant"
    assert resolve_spec("auto", Settings()) == offline_spec(Settings())
    assert resolve_spec("extractive", Settings(openai_api_key="k")) == "extractive"


def test_offline_auto_takes_the_configured_bundled_model_and_never_one_worse_than_extractive(monkeypatch):
    installed = {"qwen2.5-coder-1.5b"}
    monkeypatch.setattr(llm, "local_runtime_available", lambda name="smollm2-135m": name in installed)
    settings = Settings(_env_file=None)
    assert resolve_spec("auto", settings) == "local/qwen2.5-coder-1.5b"
    assert resolve_spec("auto", settings, "voice") == "local/qwen2.5-coder-1.5b", "voice falls back to the chat one"
    installed.add("qwen2.5-coder-0.5b")
    assert resolve_spec("auto", settings, "voice") == "local/qwen2.5-coder-0.5b"
    assert (
        resolve_spec("auto", Settings(_env_file=None, local_model="qwen2.5-coder-0.5b")) == "local/qwen2.5-coder-0.5b"
    )
    assert auto_note(settings) is None
    installed.clear()
    installed.add("smollm2-135m")  # installed, but worse than the extractive baseline on the suite
    assert resolve_spec("auto", settings) == resolve_spec("auto", settings, "voice") == "extractive"
    note = auto_note(settings)
    assert note is not None and "local/qwen2.5-coder-1.5b is not installed" in note and "make setup" in note
    assert "local/smollm2-135m" in ModelRegistry(settings).available(), "still offered when named"


def test_empty_key_counts_as_unset(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert Settings().openai_api_key is None


def test_cloud_model_without_key_says_what_to_set():
    with pytest.raises(ProviderUnavailable, match="GROQ_API_KEY"):
        build_chat_model("groq/llama-3.1-8b-instant", Settings())
    with pytest.raises(ConfigurationError, match="choose one of"):
        build_chat_model("nope/model", Settings())


def test_auto_cloud_choice_falls_back_to_the_offline_model():
    choice = ModelRegistry(Settings(groq_api_key="g")).choose("auto")
    assert choice.spec.startswith("groq/") and choice.fallback is not None
    assert ModelRegistry(Settings(groq_api_key="g")).choose("groq/llama-3.1-8b-instant").fallback is None


def test_extractive_answer_quotes_the_best_supported_sentence_with_its_citation():
    context = format_context([doc(1, "Qdrant stores vectors. It runs locally."), doc(2, "The default port is 8000.")])
    reply = ExtractiveChatModel().invoke([SystemMessage(context), HumanMessage("What is the default port?")])
    assert reply.content.startswith(LABEL)
    assert "The default port is 8000. [2]" in reply.content.splitlines()[1]


def test_extractive_says_when_nothing_matches():
    context = format_context([doc(1, "Qdrant stores vectors.")])
    reply = ExtractiveChatModel().invoke([SystemMessage(context), HumanMessage("zebra migration?")])
    assert reply.content == NOT_FOUND


def test_answers_without_markers_are_attributed_to_the_passage_holding_their_words():
    passages = ["Qdrant stores vectors in local files.", "The server listens on port 8000 by default."]
    assert supporting_documents("By default the server listens on port 8000.", passages) == [2]
    assert supporting_documents("I like turtles very much.", passages) == []


def test_the_local_model_generates_with_half_the_cores_at_most_four_unless_set():
    assert [default_threads(n) for n in (1, 2, 4, 8, 64)] == [1, 1, 2, 4, 4]
    assert build_chat_model("local/smollm2-135m", Settings(_env_file=None)).n_threads == default_threads()  # type: ignore[attr-defined]
    assert build_chat_model("local/smollm2-135m", Settings(_env_file=None, local_llm_threads=3)).n_threads == 3  # type: ignore[attr-defined]


def test_the_local_model_decodes_greedily_unless_a_temperature_is_set():
    assert build_chat_model("local/smollm2-135m", Settings(_env_file=None)).temperature == 0.0  # type: ignore[attr-defined]
    warm = Settings(_env_file=None, local_llm_temperature=0.7)
    assert build_chat_model("local/smollm2-135m", warm).temperature == 0.7  # type: ignore[attr-defined]


def test_the_local_model_settings_name_a_bundled_model():
    assert Settings(_env_file=None, local_model="local/qwen2.5-coder-0.5b").local_model == "qwen2.5-coder-0.5b"
    with pytest.raises(ValueError, match="not a bundled model; choose one of smollm2-135m"):
        Settings(_env_file=None, voice_local_model="qwen-7b")

"""The embeddings contract, for every embedder that can run here, plus the ``provider/model`` loader."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from workbench.errors import ConfigurationError, ProviderUnavailable
from workbench.providers.embeddings import load_embeddings
from workbench.providers.fake_embeddings import FakeEmbeddings
from workbench.settings import Settings

TEXTS = [
    "How do I install the workbench?",
    "Qdrant stores dense and sparse vectors for every chunk.",
    "",
    "Ünïcödé text, emoji 🚀 and WORKBENCH_HOME=./.workbench",
    "word " * 600,  # longer than the model's 256 tokens
]


def _openai() -> Embeddings:
    settings = Settings(_env_file=None, OPENAI_API_KEY=os.environ["WORKBENCH_TEST_OPENAI_API_KEY"])
    return load_embeddings("openai/text-embedding-3-small", settings)


def _minilm() -> Embeddings:
    from workbench.providers.minilm import MiniLMEmbeddings

    return MiniLMEmbeddings()


EMBEDDERS = [
    pytest.param(lambda: FakeEmbeddings(), id="fake"),
    pytest.param(_minilm, id="minilm", marks=pytest.mark.integration),
    pytest.param(
        _openai,
        id="openai",
        marks=pytest.mark.skipif(
            not os.environ.get("WORKBENCH_TEST_OPENAI_API_KEY"), reason="set WORKBENCH_TEST_OPENAI_API_KEY"
        ),
    ),
]


@pytest.fixture(params=EMBEDDERS)
def embedder(request: pytest.FixtureRequest) -> Embeddings:
    return request.param()


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_every_vector_has_the_same_dimension(embedder: Embeddings) -> None:
    vectors = embedder.embed_documents(TEXTS)
    assert len(vectors) == len(TEXTS)
    assert {len(v) for v in vectors} == {len(embedder.embed_query("probe"))}


def test_vectors_are_normalized(embedder: Embeddings) -> None:
    for vector in embedder.embed_documents(TEXTS):
        assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-3)


def test_embeddings_are_deterministic(embedder: Embeddings) -> None:
    first, second = embedder.embed_documents(TEXTS[:2]), embedder.embed_documents(TEXTS[:2])
    assert np.allclose(first, second, atol=1e-6)


def test_a_batch_gives_the_same_vectors_as_single_calls(embedder: Embeddings) -> None:
    batch = embedder.embed_documents(TEXTS)
    for text, vector in zip(TEXTS, batch, strict=True):
        assert embedder.embed_documents([text])[0] == pytest.approx(vector, abs=1e-4)


def test_queries_and_documents_share_one_space(embedder: Embeddings) -> None:
    text = TEXTS[1]
    assert embedder.embed_query(text) == pytest.approx(embedder.embed_documents([text])[0], abs=1e-4)
    query = embedder.embed_query("dense and sparse vectors in Qdrant")
    scores = [cosine(query, doc) for doc in embedder.embed_documents(TEXTS[:2])]
    assert scores[1] > scores[0]


def test_no_texts_give_no_vectors(embedder: Embeddings) -> None:
    assert embedder.embed_documents([]) == []


async def test_async_calls_match_sync_ones(embedder: Embeddings) -> None:
    assert await embedder.aembed_query(TEXTS[0]) == pytest.approx(embedder.embed_query(TEXTS[0]), abs=1e-6)
    assert len(await embedder.aembed_documents(TEXTS[:2])) == 2


@pytest.mark.integration
def test_minilm_ranks_a_paraphrase_far_above_an_unrelated_sentence() -> None:
    model = _minilm()
    question, answer, unrelated = model.embed_documents(
        ["How do I install it?", "Installation instructions", "The cat slept on the warm windowsill all afternoon."]
    )
    assert cosine(question, answer) > cosine(question, unrelated) + 0.3


@pytest.mark.integration
def test_minilm_truncates_long_inputs_instead_of_failing() -> None:
    model = _minilm()
    long, longer = model.embed_documents(["word " * 300, "word " * 3000])
    assert cosine(long, longer) == pytest.approx(1.0, abs=1e-4)  # both cut at 256 tokens


# The provider/model loader.


def test_fake_is_loaded_by_name() -> None:
    assert isinstance(load_embeddings("fake", Settings(_env_file=None)), FakeEmbeddings)


def test_the_default_is_the_local_minilm_model_loaded_lazily() -> None:
    from workbench.providers.minilm import MiniLMEmbeddings

    assert isinstance(
        load_embeddings(None, Settings(_env_file=None, WORKBENCH_EMBEDDINGS="local/minilm-l6-int8")), MiniLMEmbeddings
    )


def test_an_unknown_spec_names_the_valid_choices() -> None:
    with pytest.raises(ConfigurationError, match="local/minilm-l6-int8, openai/<model>, fake"):
        load_embeddings("cohere/embed-v3", Settings(_env_file=None))
    with pytest.raises(ConfigurationError):
        load_embeddings("openai/", Settings(_env_file=None))


def test_openai_without_a_key_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    with pytest.raises(ProviderUnavailable, match="set OPENAI_API_KEY or choose local/minilm-l6-int8"):
        load_embeddings("openai/text-embedding-3-small", Settings(_env_file=None))


def test_openai_uses_the_key_and_base_url_from_settings() -> None:
    settings = Settings(_env_file=None, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    embeddings = load_embeddings("openai/nomic-embed-text", settings)
    assert embeddings.model == "nomic-embed-text"  # type: ignore[attr-defined]
    assert embeddings.openai_api_base == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    assert embeddings.check_embedding_ctx_length is False  # type: ignore[attr-defined]  # no tiktoken download

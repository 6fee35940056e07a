"""The BM25 sparse encoder: stable indices, saturated document weights, binary query weights."""

from __future__ import annotations

import subprocess
import sys

import pytest
from qdrant_client import models

from workbench.providers.sparse import SparseEncoder, stem, token_index, tokenize


def weight(vector: models.SparseVector, token: str) -> float:
    return dict(zip(vector.indices, vector.values, strict=True))[token_index(token)]


def test_token_index_is_a_fixed_blake2b_value() -> None:
    # blake2b(b"workbench", digest_size=4), little-endian: must never change, or stored vectors stop matching.
    assert token_index("workbench") == 222147711
    assert 0 <= token_index("qdrant") < 2**32


def test_token_indices_are_the_same_in_another_process() -> None:
    code = "from workbench.providers.sparse import SparseEncoder as E; print(E().encode_query('hybrid RRF').indices)"
    env = {"PYTHONHASHSEED": "123"}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert output.strip() == str(SparseEncoder().encode_query("hybrid RRF").indices)


def test_tokenize_lowercases_drops_stopwords_and_keeps_identifiers_whole() -> None:
    assert tokenize("How do I set WORKBENCH_HOME? See error nothing_to_abort.") == [
        "set",
        "workbench_home",
        "see",
        "error",
        "nothing_to_abort",
    ]


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [("indexes", "index"), ("indexing", "index"), ("chunks", "chunk"), ("queries", "query"), ("classes", "class")],
)
def test_light_stemming_joins_inflections(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed


def test_stemming_leaves_short_words_and_codes_alone() -> None:
    assert [stem(w) for w in ("is", "status", "e1009", "speed", "used")] == ["is", "status", "e1009", "speed", "used"]


def test_query_weights_are_one_per_unique_term() -> None:
    vector = SparseEncoder().encode_query("qdrant qdrant fusion")
    assert len(vector.indices) == 2
    assert vector.values == [1.0, 1.0]
    assert vector.indices == sorted(vector.indices)


def test_document_weights_saturate_with_term_frequency() -> None:
    encoder = SparseEncoder()
    once = encoder.encode_document("qdrant " + "filler " * 10)
    thrice = encoder.encode_document("qdrant qdrant qdrant " + "filler " * 8)
    assert weight(once, "qdrant") < weight(thrice, "qdrant") < 3 * weight(once, "qdrant")
    assert weight(thrice, "qdrant") < encoder.k1 + 1  # BM25's ceiling


def test_document_weights_follow_the_bm25_formula() -> None:
    encoder = SparseEncoder(k1=1.2, b=0.75, avg_doc_tokens=120)
    vector = encoder.encode_document("alpha alpha beta")  # 3 tokens, tf(alpha) = 2
    expected = 2 * 2.2 / (2 + 1.2 * (1 - 0.75 + 0.75 * 3 / 120))
    assert weight(vector, "alpha") == pytest.approx(expected)


def test_longer_documents_weigh_a_term_less() -> None:
    encoder = SparseEncoder()
    short = encoder.encode_document("qdrant store")
    long = encoder.encode_document("qdrant " + " ".join(f"word{i}" for i in range(300)))
    assert weight(long, "qdrant") < weight(short, "qdrant")


def test_text_without_words_gives_an_empty_vector() -> None:
    assert SparseEncoder().encode_query("the of and ?").indices == []

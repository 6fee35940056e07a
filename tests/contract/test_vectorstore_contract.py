"""The vector store contract: every store/embedder combination in conftest.STORE_KINDS must pass it."""

from __future__ import annotations

import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from qdrant_client import models

from workbench.documents import Chunk, RetrievedDoc
from workbench.errors import ConfigurationError
from workbench.providers.fake_embeddings import FakeEmbeddings
from workbench.providers.qdrant_store import QdrantStore, build_filter
from workbench.providers.sparse import token_index
from workbench.providers.stores import open_store
from workbench.settings import Settings

if TYPE_CHECKING:
    from conftest import StoreUnderTest  # tests/contract/conftest.py

DOCS = [
    ("install.md", "Run uv sync in the checkout to create the virtual environment and install every dependency."),
    (
        "config.md",
        "WORKBENCH_HOME sets the directory where the workbench keeps its files; the default is ./.workbench.",
    ),
    ("errors.md", "The server answers nothing_to_abort when an abort arrives while no turn is running."),
    ("voice.md", "Whisper transcribes speech and Piper reads the reply aloud in a natural voice."),
    ("retrieval.md", "Reciprocal rank fusion merges the dense ranking and the sparse ranking of chunks."),
    ("runs.md", "Each chat turn is recorded in DuckDB with its model, token counts and timings."),
    ("runs.md", "The runs view lists recent runs; the CLI prints them as JSON with --json."),
]


def chunk(source: str, text: str, position: int, content_hash: str = "h1") -> Chunk:
    return Chunk(
        chunk_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{content_hash}/{position}")),
        source=source,
        title=source.removesuffix(".md").title(),
        section=None,
        page=None,
        text=text,
        ingested_at="2025-01-01T00:00:00+00:00",
        content_hash=content_hash,
        position=position,
    )


CHUNKS = [chunk(source, text, i) for i, (source, text) in enumerate(DOCS)]


@pytest.fixture
def filled(store_under_test: StoreUnderTest) -> StoreUnderTest:
    store_under_test.store.ensure_collection(store_under_test.collection)
    assert store_under_test.store.upsert(store_under_test.collection, CHUNKS, batch_size=3) == len(CHUNKS)
    return store_under_test


def test_ensure_collection_is_idempotent(store_under_test: StoreUnderTest) -> None:
    store, name = store_under_test.store, store_under_test.collection
    store.ensure_collection(name)
    store.ensure_collection(name)
    assert name in store.collections()
    assert store.count(name) == 0
    other = store_under_test.view(store.embeddings)  # a fresh process's view
    other.ensure_collection(name)
    assert other.count(name) == 0


def test_a_collection_built_with_another_embedder_is_refused(store_under_test: StoreUnderTest) -> None:
    store, name = store_under_test.store, store_under_test.collection
    store.ensure_collection(name)
    other = store_under_test.view(FakeEmbeddings(dim=store.dim + 1))
    with pytest.raises(ConfigurationError, match="another embedding model"):
        other.ensure_collection(name)
    with pytest.raises(ConfigurationError, match="another embedding model"):
        other.search(name, "anything")


def test_upsert_then_count(filled: StoreUnderTest) -> None:
    assert filled.store.count(filled.collection) == len(CHUNKS)
    filled.store.upsert(filled.collection, CHUNKS[:2])  # same ids: replaced, not duplicated
    assert filled.store.count(filled.collection) == len(CHUNKS)


def test_search_returns_retrieved_docs_with_every_field(filled: StoreUnderTest) -> None:
    docs = filled.store.search(filled.collection, "speech transcription voice", k=3)
    assert 1 <= len(docs) <= 3
    assert set(docs[0]) == set(RetrievedDoc.__annotations__)
    by_id = {c["chunk_id"]: c for c in CHUNKS}
    for doc in docs:
        original = by_id[doc["chunk_id"]]
        assert (doc["source"], doc["title"], doc["text"], doc["page"]) == (
            original["source"],
            original["title"],
            original["text"],
            None,
        )


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_every_mode_ranks_by_descending_score_and_respects_k(filled: StoreUnderTest, mode: str) -> None:
    docs = filled.store.search(filled.collection, "chat runs model tokens DuckDB", k=4, mode=mode)  # type: ignore[arg-type]
    assert 1 <= len(docs) <= 4
    scores = [doc["score"] for doc in docs]
    assert scores == sorted(scores, reverse=True)
    assert docs[0]["source"] == "runs.md"


def test_hybrid_reports_dense_and_sparse_scores_of_its_candidates(filled: StoreUnderTest) -> None:
    store, name = filled.store, filled.collection
    query = "reciprocal rank fusion of dense and sparse rankings"
    hybrid = store.search(name, query, k=3, candidates=3)
    dense = {d["chunk_id"]: d["score"] for d in store.search(name, query, k=3, mode="dense")}
    sparse = {d["chunk_id"]: d["score"] for d in store.search(name, query, k=3, mode="sparse")}
    assert hybrid[0]["source"] == "retrieval.md"
    assert hybrid[0]["dense_score"] is not None and hybrid[0]["sparse_score"] is not None
    for doc in hybrid:
        assert doc["chunk_id"] in dense or doc["chunk_id"] in sparse
        if doc["chunk_id"] in dense:
            assert doc["dense_score"] == pytest.approx(dense[doc["chunk_id"]], abs=1e-5)
        else:
            assert doc["dense_score"] is None
        if doc["chunk_id"] in sparse:
            assert doc["sparse_score"] == pytest.approx(sparse[doc["chunk_id"]], rel=1e-5)
        else:
            assert doc["sparse_score"] is None
    both = [d["score"] for d in hybrid if d["dense_score"] is not None and d["sparse_score"] is not None]
    one = [d["score"] for d in hybrid if (d["dense_score"] is None) != (d["sparse_score"] is None)]
    assert both and (not one or max(one) <= max(both))


def test_filters_restrict_results(filled: StoreUnderTest) -> None:
    store, name = filled.store, filled.collection
    query = "workbench runs voice chat"
    assert {d["source"] for d in store.search(name, query, k=10, filters={"source": "voice.md"})} == {"voice.md"}
    sources = {d["source"] for d in store.search(name, query, k=10, filters={"source": ["voice.md", "runs.md"]})}
    assert sources == {"voice.md", "runs.md"}
    runs = store.search(name, query, k=10, mode="dense", filters={"source": "runs.md", "position": [6]})
    assert [d["chunk_id"] for d in runs] == [CHUNKS[6]["chunk_id"]]
    assert store.search(name, query, filters={"title": "Nothing"}) == []


def test_a_filtered_search_still_fills_k_from_matching_chunks(filled: StoreUnderTest) -> None:
    docs = filled.store.search(
        filled.collection, "speech voice whisper", k=2, candidates=2, filters={"source": "runs.md"}
    )
    assert len(docs) == 2


def test_delete_source_removes_only_that_source(filled: StoreUnderTest) -> None:
    store, name = filled.store, filled.collection
    store.delete_source(name, "runs.md")
    assert store.count(name) == len(CHUNKS) - 2
    assert "runs.md" not in store.source_hashes(name)
    assert all(d["source"] != "runs.md" for d in store.search(name, "DuckDB runs json", k=10))


def test_delete_source_can_keep_the_current_version(filled: StoreUnderTest) -> None:
    store, name = filled.store, filled.collection
    store.upsert(name, [chunk("voice.md", "A rewritten voice page.", 0, content_hash="h2")])
    assert store.source_hashes(name)["voice.md"] == ""  # two versions side by side never look unchanged
    store.delete_source(name, "voice.md", keep_hash="h2")
    assert store.source_hashes(name)["voice.md"] == "h2"
    assert [d["text"] for d in store.search(name, "voice", k=10, filters={"source": "voice.md"})] == [
        "A rewritten voice page."
    ]


def test_source_hashes_map_each_source_to_its_content_hash(filled: StoreUnderTest) -> None:
    assert filled.store.source_hashes(filled.collection) == {source: "h1" for source, _ in DOCS}


def test_sparse_mode_finds_an_exact_rare_token(filled: StoreUnderTest) -> None:
    docs = filled.store.search(filled.collection, "nothing_to_abort", k=3, mode="sparse")
    assert docs[0]["source"] == "errors.md"
    assert docs[0]["sparse_score"] is not None and docs[0]["dense_score"] is None
    assert len(docs) == 1  # no other chunk has the token


def test_qdrant_applies_idf_to_sparse_scores(filled: StoreUnderTest) -> None:
    store = filled.store
    docs = store.search(filled.collection, "nothing_to_abort", k=1, mode="sparse")
    document = store.sparse.encode_document(DOCS[2][1])
    weight = dict(zip(document.indices, document.values, strict=True))[token_index("nothing_to_abort")]
    n, df = len(CHUNKS), 1
    idf = math.log((n - df + 0.5) / (df + 0.5) + 1)  # BM25's IDF, as Qdrant computes it
    assert docs[0]["score"] == pytest.approx(idf * weight, rel=1e-4)


def test_dense_mode_finds_a_paraphrase(filled: StoreUnderTest) -> None:
    if not filled.real_model:
        pytest.skip("fake embeddings only match shared words")
    docs = filled.store.search(
        filled.collection, "In which location on disk is the application's data stored?", k=1, mode="dense"
    )
    assert docs[0]["source"] == "config.md"


def test_searching_a_missing_collection_returns_nothing(store_under_test: StoreUnderTest) -> None:
    store = store_under_test.store
    assert store.search(f"{store_under_test.collection}_missing", "anything") == []
    assert store.count(f"{store_under_test.collection}_missing") == 0
    assert store.source_hashes(f"{store_under_test.collection}_missing") == {}


def test_a_query_without_words_still_searches_dense(filled: StoreUnderTest) -> None:
    assert filled.store.search(filled.collection, "?!", k=2, mode="sparse") == []
    assert len(filled.store.search(filled.collection, "?!", k=2)) == 2


def test_chunks_survive_reopening_the_storage(filled: StoreUnderTest) -> None:
    if filled.reopen is None:
        pytest.skip("in-memory storage ends with its client")
    store = filled.reopen()
    assert store.count(filled.collection) == len(CHUNKS)
    assert store.search(filled.collection, "nothing_to_abort", k=1, mode="sparse")[0]["source"] == "errors.md"


def test_searches_and_writes_from_several_threads_do_not_interfere(filled: StoreUnderTest) -> None:
    store, name = filled.store, filled.collection
    # Qdrant's local mode is not thread-safe (without the store's lock this fails with numpy shape errors).
    extra = [chunk("extra.md", f"Extra chunk number {i} about fusion and voice.", i) for i in range(160)]

    def write(i: int) -> int:
        return store.upsert(name, extra[i * 20 : (i + 1) * 20])

    def read(i: int) -> int:
        return len(store.search(name, "voice fusion runs", k=3))

    with ThreadPoolExecutor(max_workers=8) as pool:
        writes = [pool.submit(write, i) for i in range(8)]
        reads = [pool.submit(read, i) for i in range(60)]
        assert sum(f.result() for f in writes) == 160
        assert all(f.result() == 3 for f in reads)
    assert store.count(name) == len(CHUNKS) + 160


# Filter translation (no store needed).


def test_filter_values_become_match_value_or_match_any() -> None:
    query_filter = build_filter({"source": "a.md", "page": [1, 2], "title": ["A", "B"]})
    assert query_filter is not None and isinstance(query_filter.must, list)
    source, page, title = query_filter.must
    assert isinstance(source, models.FieldCondition) and source.match == models.MatchValue(value="a.md")
    assert isinstance(page, models.FieldCondition) and page.match == models.MatchAny(any=[1, 2])
    assert isinstance(title, models.FieldCondition) and title.match == models.MatchAny(any=["A", "B"])
    assert build_filter(None) is None and build_filter({}) is None


def test_bool_and_mixed_lists_become_alternatives() -> None:
    query_filter = build_filter({"draft": [True, False], "tag": ["x", 3]})
    assert query_filter is not None and isinstance(query_filter.must, list)
    assert all(isinstance(condition, models.Filter) and condition.should for condition in query_filter.must)


@pytest.mark.parametrize("value", [1.5, None, {"a": 1}, [], [1.5], [["a"]]])
def test_filter_values_that_are_not_str_int_or_bool_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="expected a str, int or bool"):
        build_filter({"field": value})


def test_unknown_search_mode_and_bad_k_are_refused() -> None:
    store = QdrantStore.in_memory(FakeEmbeddings())
    with pytest.raises(ValueError, match="search mode"):
        store.search("x", "q", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must"):
        store.search("x", "q", k=0)


# Opening the process's store from settings.


def test_open_store_uses_qdrant_edge_under_the_home_folder_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from workbench.providers.edge_store import EdgeStore

    settings = Settings(_env_file=None, home=tmp_path / "home")
    store = open_store(settings, FakeEmbeddings())
    try:
        assert isinstance(store, EdgeStore) and settings.edge_path.is_dir() and not settings.qdrant_path.exists()
        store.ensure_collection("docs")
        with pytest.raises(ConfigurationError, match="in use by another workbench process") as refused:
            open_store(settings, FakeEmbeddings())
        assert str(tmp_path) not in str(refused.value)  # the error names no server path
    finally:
        store.close()
    reopened = open_store(settings, FakeEmbeddings())  # closing released the folder
    assert reopened.collections() == ["docs"]
    reopened.close()


def test_open_store_uses_local_mode_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, home=tmp_path / "home", vector_store="local")
    store = open_store(settings, FakeEmbeddings())
    try:
        assert isinstance(store, QdrantStore) and settings.qdrant_path.is_dir()
        store.ensure_collection("docs")
        with pytest.raises(ConfigurationError, match="in use by another workbench process"):
            open_store(settings, FakeEmbeddings())
    finally:
        store.close()


def test_a_new_edge_store_adopts_the_local_mode_index_of_its_home(tmp_path) -> None:  # type: ignore[no-untyped-def]
    local_settings = Settings(_env_file=None, home=tmp_path, vector_store="local")
    local = open_store(local_settings, FakeEmbeddings(), embeddings_id="fake")
    local.upsert("docs", CHUNKS)
    before = local.search("docs", "chat runs model tokens DuckDB", k=3)  # three hits without ties
    local.close()
    edge = open_store(Settings(_env_file=None, home=tmp_path), FakeEmbeddings(), embeddings_id="fake")
    try:
        assert edge.collections() == ["docs"] and edge.count("docs") == len(CHUNKS)
        after = edge.search("docs", "chat runs model tokens DuckDB", k=3)
        assert [d["chunk_id"] for d in after] == [d["chunk_id"] for d in before]
        assert [d["score"] for d in after] == pytest.approx([d["score"] for d in before])
    finally:
        edge.close()
    assert (tmp_path / "qdrant").is_dir(), "the local-mode files are left as they were"


def test_a_second_process_cannot_open_an_edge_store_and_is_told_why(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from workbench.providers.edge_store import EdgeStore

    store = EdgeStore(tmp_path / "edge", FakeEmbeddings())
    store.upsert("docs", CHUNKS)
    code = (
        "import sys; from pathlib import Path; from workbench.providers.edge_store import EdgeStore\n"
        "from workbench.providers.fake_embeddings import FakeEmbeddings\n"
        "try:\n    EdgeStore(Path(sys.argv[1]), FakeEmbeddings())\nexcept Exception as e:\n    print(e); sys.exit(3)"
    )
    try:
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path / "edge")], capture_output=True, text=True)
    finally:
        store.close()
    assert other.returncode == 3 and "in use by another workbench process" in other.stdout, other.stderr[-2000:]
    again = subprocess.run([sys.executable, "-c", code, str(tmp_path / "edge")], capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr[-2000:]


def test_open_store_talks_to_a_server_when_a_url_is_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, home=tmp_path, QDRANT_URL="https://127.0.0.1:9", QDRANT_API_KEY="k")
    # Nothing listens there: only qdrant-client's background version probe fails (with a warning).
    store = open_store(settings, FakeEmbeddings())
    try:
        assert store.client.init_options["url"] == "https://127.0.0.1:9"
        assert store.client.init_options["api_key"] == "k"
        assert not settings.qdrant_path.exists() and not settings.edge_path.exists()
    finally:
        store.close()


def test_a_collection_records_its_embedding_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = QdrantStore.in_memory(FakeEmbeddings(), embeddings_id="fake")
    store.ensure_collection("docs")
    same_size = QdrantStore(store.client, FakeEmbeddings(), embeddings_id="other/model")
    with pytest.raises(ConfigurationError, match=r"another embedding model \(fake, 64 dimensions"):
        same_size.ensure_collection("docs")


def test_an_edge_collection_is_indexed_once_it_is_large_and_again_after_it_grows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from workbench.providers.edge_store import EdgeStore

    store = EdgeStore(tmp_path / "edge", FakeEmbeddings())
    built: list[int] = []
    store.hnsw_min_points = 5
    try:
        store.upsert("docs", CHUNKS[:4])
        shard = store._shard("docs")
        original = shard.optimize
        store._shards["docs"] = _Spy(shard, lambda: built.append(store.count("docs")) or original())
        store.upsert("docs", CHUNKS[4:6])  # 6 points: past the threshold, indexed
        store.upsert("docs", CHUNKS[5:6])  # still 6: no growth, not again
        store.upsert("docs", CHUNKS[6:])  # 7 points: grew by more than a tenth
        assert built == [6, 7]
        assert store.search("docs", "reciprocal rank fusion", k=1)[0]["source"] == "retrieval.md"
    finally:
        store.close()


class _Spy:
    """An Edge shard whose optimize() is replaced (the shard's own class is native and cannot be patched)."""

    def __init__(self, shard: object, optimize: object) -> None:
        self._shard, self.optimize = shard, optimize

    def __getattr__(self, name: str) -> object:
        return getattr(self._shard, name)

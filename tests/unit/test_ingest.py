"""Ingestion into an in-memory Qdrant with fake embeddings: skipping, replacing, folders, failures, PDFs."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.errors import IngestError
from workbench.ingest import IngestProgress, build_chunks, ingest_bytes, ingest_paths
from workbench.ingest.loaders import load_document
from workbench.providers.fake_embeddings import FakeEmbeddings
from workbench.providers.qdrant_store import QdrantStore

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
COLLECTION = "test"


def _build_pdf():
    spec = importlib.util.spec_from_file_location("make_sample_pdf", DATASETS / "make_sample_pdf.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_pdf


build_pdf = _build_pdf()


class CountingStore(QdrantStore):
    """An in-memory store that counts its writes."""

    def __init__(self) -> None:
        store = QdrantStore.in_memory(FakeEmbeddings())
        super().__init__(store.client, store.embeddings)
        self.upserted = 0
        self.deletes = 0

    def upsert(self, name, chunks, batch_size=256):  # type: ignore[no-untyped-def]
        self.upserted += len(chunks)
        return super().upsert(name, chunks, batch_size)

    def delete_source(self, name, source, *, keep_hash=None):  # type: ignore[no-untyped-def]
        self.deletes += 1
        super().delete_source(name, source, keep_hash=keep_hash)


@pytest.fixture
def store() -> Iterator[CountingStore]:
    store = CountingStore()
    yield store
    store.close()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    (folder / "guide.md").write_text(
        "# Guide\n\n## Install\nRun uv sync to install.\n\n## Serve\nRun workbench serve.\n"
    )
    (folder / "notes.txt").write_text("Plain notes about qdrant collections.")
    (folder / "sub" / "deep.markdown").write_text("# Deep\nA nested document about fusion.")
    (folder / "sub" / "image.png").write_bytes(b"\x89PNG")
    (folder / ".hidden" / "secret.md").write_text("# Secret\nnever indexed")
    (folder / ".dotfile.md").write_text("# Dot\nnever indexed")
    return folder


def sources(store: QdrantStore) -> set[str]:
    return set(store.source_hashes(COLLECTION))


def test_folders_are_expanded_recursively_skipping_hidden_and_unsupported_files(
    store: CountingStore, docs: Path
) -> None:
    report = ingest_paths(store, [docs], COLLECTION)
    expected = {"docs/guide.md", "docs/notes.txt", "docs/sub/deep.markdown"}
    assert sources(store) == expected
    assert (report.files_seen, report.added, report.failed) == (3, 3, 0)
    assert report.chunks_written == store.count(COLLECTION) == 4  # guide has two sections


def test_reingesting_unchanged_files_writes_nothing(store: CountingStore, docs: Path) -> None:
    ingest_paths(store, [docs], COLLECTION)
    writes, deletes, count = store.upserted, store.deletes, store.count(COLLECTION)
    report = ingest_paths(store, [docs], COLLECTION)
    assert (report.unchanged, report.added, report.updated, report.chunks_written) == (3, 0, 0, 0)
    assert (store.upserted, store.deletes, store.count(COLLECTION)) == (writes, deletes, count)


def test_a_changed_file_replaces_its_old_chunks(store: CountingStore, docs: Path) -> None:
    ingest_paths(store, [docs], COLLECTION)
    guide = docs / "guide.md"
    guide.write_text("# Guide\n\nEverything changed: now it talks about reciprocal rank fusion.\n")
    report = ingest_paths(store, [docs], COLLECTION)
    assert (report.updated, report.unchanged, report.chunks_written) == (1, 2, 1)
    texts = [
        doc["text"]
        for doc in store.search(COLLECTION, "install serve fusion", k=10, filters={"source": f"{docs.name}/guide.md"})
    ]
    assert len(texts) == 1 and "reciprocal rank fusion" in texts[0]
    assert store.count(COLLECTION) == 3


def test_sources_are_relative_to_the_folder_given_and_hold_no_server_path(store: CountingStore, docs: Path) -> None:
    ingest_paths(store, [docs, docs / "guide.md"], COLLECTION)
    sources = set(store.source_hashes(COLLECTION))
    assert f"{docs.name}/guide.md" in sources and not any(str(docs.parent) in s for s in sources)


def test_an_index_made_with_absolute_sources_is_renamed_without_duplicates(store: CountingStore, docs: Path) -> None:
    from workbench.ingest.pipeline import build_chunks

    guide = docs / "guide.md"
    store.ensure_collection(COLLECTION)
    store.upsert(COLLECTION, build_chunks(str(guide), guide.read_bytes()))
    assert str(guide) in store.source_hashes(COLLECTION)
    ingest_paths(store, [docs], COLLECTION)
    assert str(guide) not in store.source_hashes(COLLECTION)
    assert store.count(COLLECTION) == 4  # guide's two sections once, the other two files


def test_one_bad_file_is_reported_and_the_others_are_ingested(store: CountingStore, docs: Path) -> None:
    bad = docs / "broken.txt"
    bad.write_bytes(b"\xff\xfe\x00binary")
    unsupported = docs / "table.csv"
    unsupported.write_text("a,b")
    report = ingest_paths(store, [docs, unsupported, docs / "missing.md"], COLLECTION)
    assert set(report.failures) == {"docs/broken.txt", "table.csv", "missing.md"}
    assert "UTF-8" in report.failures["docs/broken.txt"]
    assert ".pdf" in report.failures["table.csv"]  # names the supported types
    assert report.added == 3 and "docs/notes.txt" in sources(store)
    assert "3 failed" in report.summary()


def test_progress_reports_every_file(store: CountingStore, docs: Path) -> None:
    updates: list[IngestProgress] = []
    ingest_paths(store, [docs], COLLECTION, progress=updates.append)
    assert [(u.file_index, u.total_files) for u in updates] == [(1, 3), (2, 3), (3, 3)]
    assert updates[-1].chunks_written == 4
    assert updates[0].path.endswith("guide.md")


def test_pdf_pages_become_chunks_with_page_numbers_and_the_metadata_title() -> None:
    data = build_pdf([["First page about installing."], ["Second page about qdrant."]], "Manual")
    chunks = build_chunks("manual.pdf", data)
    assert [(c["page"], c["title"], c["section"]) for c in chunks] == [(1, "Manual", None), (2, "Manual", None)]
    assert "qdrant" in chunks[1]["text"]


def test_a_pdf_without_text_is_an_ingest_error() -> None:
    with pytest.raises(IngestError, match="no extractable text"):
        load_document("scan.pdf", build_pdf([[""]], ""))
    with pytest.raises(IngestError, match="not a readable PDF"):
        load_document("fake.pdf", b"not a pdf at all")


def test_chunks_carry_title_section_and_stable_ids() -> None:
    data = b"# Guide\n\n## Install\nRun uv sync.\n"
    first, again = build_chunks("/docs/guide.md", data), build_chunks("/docs/guide.md", data)
    assert [c["chunk_id"] for c in first] == [c["chunk_id"] for c in again]
    assert first[0]["title"] == "Guide" and first[0]["section"] == "Guide > Install"
    assert build_chunks("/docs/other.md", data)[0]["chunk_id"] != first[0]["chunk_id"]


def test_uploads_are_ingested_under_their_name_and_skipped_when_unchanged(store: CountingStore) -> None:
    report = ingest_bytes(store, "upload.md", b"# Upload\nAbout voice sessions.", COLLECTION)
    assert (report.added, report.chunks_written) == (1, 1)
    assert ingest_bytes(store, "upload.md", b"# Upload\nAbout voice sessions.", COLLECTION).unchanged == 1
    assert sources(store) == {"upload.md"}
    failed = ingest_bytes(store, "upload.exe", b"MZ", COLLECTION)
    assert failed.failed == 1 and "unsupported" in failed.failures["upload.exe"]


def test_sample_qa_facts_are_exact_substrings_of_their_sources() -> None:
    lines = (DATASETS / "qa.jsonl").read_text().splitlines()
    assert len(lines) >= 40
    for line in lines:
        case = json.loads(line)
        path = DATASETS / "corpus" / case["source"]
        text = "\n".join(section.text for section in load_document(path.name, path.read_bytes()))
        assert case["facts"], case["id"]
        for fact in case["facts"]:
            assert fact in text, (case["id"], fact)

"""Indexing work per file is bounded and can be stopped: a PDF whose pages make pypdf parse far more than the file
holds (one large content stream shared by every page, a form drawn again and again) is refused at once, naming
the file as uploaded; a normal one still indexes; a set cancel event stops a slow parse between operations."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PageObject

from tests.pdfs import repeated_form_pdf, shared_stream_pdf
from workbench.errors import IngestError
from workbench.ingest.loaders import load_document
from workbench.ingest.pdf import IngestCancelled
from workbench.ingest.pipeline import ingest_bytes, ingest_paths
from workbench.providers.fake_embeddings import FakeEmbeddings
from workbench.providers.qdrant_store import QdrantStore
from workbench.settings import Settings

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


def sample_pdf(pages: list[list[str]]) -> bytes:
    spec = importlib.util.spec_from_file_location("make_sample_pdf", DATASETS / "make_sample_pdf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_pdf(pages, "A manual")


@pytest.fixture
def store() -> Iterator[QdrantStore]:
    store = QdrantStore.in_memory(FakeEmbeddings())
    yield store
    store.close()


@pytest.fixture
def no_extraction(monkeypatch):
    """Fail the test if pypdf starts extracting any page's text."""
    monkeypatch.setattr(PageObject, "extract_text", lambda *a, **k: pytest.fail("a page's text was extracted"))


def test_pages_sharing_one_large_stream_are_refused_before_any_text_is_extracted(no_extraction):
    hostile = shared_stream_pdf(pages=20, content_bytes=2_000_000)  # ~9 KB; its pages parse 40 MB
    assert len(hostile) < 12_000
    started = time.perf_counter()
    with pytest.raises(IngestError) as refused:
        load_document("quarterly report.pdf", hostile, max_pdf_content_bytes=Settings().ingest_pdf_max_content_bytes)
    assert time.perf_counter() - started < 20  # the unbounded parse took ~80 s of a core
    message = str(refused.value)
    assert message.startswith("quarterly report.pdf: too much page content to index")
    assert "split the PDF" in message and "/tmp" not in message and "Error" not in message


def test_an_upload_over_budget_is_reported_under_its_name_and_nothing_is_written(store, no_extraction):
    report = ingest_bytes(store, "notes.pdf", shared_stream_pdf(20, 2_000_000), "docs")
    assert report.failed == 1 and report.chunks_written == 0
    assert report.failures["notes.pdf"].startswith("notes.pdf: too much page content to index")


def test_the_budget_is_a_setting(monkeypatch):
    hostile = shared_stream_pdf(pages=4, content_bytes=20_000)  # 80 KB of page content in all
    monkeypatch.setenv("WORKBENCH_INGEST_PDF_MAX_CONTENT_BYTES", "50000")
    from workbench.settings import get_settings

    get_settings.cache_clear()
    try:
        with pytest.raises(IngestError, match="too much page content"):
            load_document("small.pdf", hostile)
        assert len(load_document("small.pdf", hostile, max_pdf_content_bytes=100_000)) == 4  # explicit beats env
    finally:
        get_settings.cache_clear()


def test_a_form_drawn_again_and_again_is_refused_by_the_operation_count():
    hostile = repeated_form_pdf(draws=4000, form_bytes=2_000)  # 28 KB of page content, 200,000 operations
    with pytest.raises(IngestError, match="its pages draw more than 25,000 operations"):
        load_document("forms.pdf", hostile, max_pdf_content_bytes=100_000)


def test_normal_multi_page_pdfs_still_index_under_the_default_budget(store):
    release_notes = (DATASETS / "corpus" / "release-notes.pdf").read_bytes()
    assert [s.page for s in load_document("release-notes.pdf", release_notes)] == [1, 2]
    pages = [[f"Page {n} explains step {n} of installing the workbench."] * 30 for n in range(1, 61)]
    report = ingest_bytes(store, "manual.pdf", sample_pdf(pages), "docs")
    assert report.failed == 0 and report.added == 1 and report.chunks_written >= 60


class StartedEvent(threading.Event):
    """A cancel event that says when the parse has looked at it ``after`` times: past the first look per page
    before extraction, it is looking between a page's operations."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.looks = 0
        self.extracting = threading.Event()

    def is_set(self) -> bool:
        self.looks += 1
        if self.looks > self.after:
            self.extracting.set()
        return super().is_set()


def test_a_set_cancel_event_stops_a_slow_parse_mid_way(monkeypatch):
    pages = 40
    slow = shared_stream_pdf(pages=pages, content_bytes=400_000)  # ~40 s of a core unbounded
    extracted: list[int] = []
    extract = PageObject.extract_text
    monkeypatch.setattr(PageObject, "extract_text", lambda page, **kw: extracted.append(1) or extract(page, **kw))
    cancel = StartedEvent(after=pages + 3)  # the pre-scan looks once a page, extraction once a page and more
    outcome: list[BaseException] = []

    def parse() -> None:
        try:
            load_document("slow.pdf", slow, max_pdf_content_bytes=10**9, cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=parse)
    worker.start()
    assert cancel.extracting.wait(60)
    cancel.set()
    stopped_at = time.perf_counter()
    worker.join(60)
    assert not worker.is_alive()
    assert time.perf_counter() - stopped_at < 15  # at most one page's parse after the event is set
    assert len(outcome) == 1 and isinstance(outcome[0], IngestCancelled)
    assert len(extracted) < pages


def test_a_cancelled_folder_ingest_stops_between_files(store, tmp_path):
    for n in range(3):
        (tmp_path / f"note{n}.md").write_text(f"# Note {n}\n\nSome text about thing {n}.\n")
    cancel = threading.Event()
    seen: list[str] = []

    def progress(update) -> None:
        seen.append(update.path)
        cancel.set()  # the UI's Stop after the first file

    with pytest.raises(IngestCancelled):
        ingest_paths(store, [tmp_path], "docs", progress=progress, cancel=cancel)
    assert len(seen) == 1
    assert store.source_hashes("docs") == {seen[0]: store.source_hashes("docs")[seen[0]]}


def chat_tab_events(services: object) -> dict[Any, Any]:
    """The Chat tab's event listeners by id (Gradio's ``demo.fns``)."""
    import gradio as gr

    from workbench.ui import chat_tab

    with gr.Blocks() as demo:
        chat_tab.render(services, demo)  # type: ignore[arg-type]
    return dict(demo.fns)


def named(events: dict[Any, Any], name: str) -> tuple[Any, Any]:
    return next((key, fn) for key, fn in events.items() if fn.name == name)


def test_the_chat_tab_indexes_several_uploads_at_once_and_has_a_stop_for_them():
    events = chat_tab_events(object())
    key, index = named(events, "index_files")
    assert index.concurrency_limit == 4 and index.concurrency_id == "chat-index"  # Gradio's default: 1, for all
    assert any(key in (fn.cancels or []) for fn in events.values())


async def test_stopping_the_chat_tabs_indexing_stops_the_parse_in_its_thread(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from workbench.ui import chat_tab

    upload = tmp_path / "slow.pdf"
    upload.write_bytes(b"%PDF-1.4")
    parsing, stopped = threading.Event(), threading.Event()

    def slow_ingest(store: object, name: str, data: bytes, collection: str, *, cancel: threading.Event) -> None:
        parsing.set()
        if cancel.wait(30):
            stopped.set()
        raise IngestCancelled(name)

    monkeypatch.setattr("workbench.ingest.pipeline.ingest_bytes", slow_ingest)
    monkeypatch.setattr(chat_tab, "uploaded_file", lambda path, uploads: Path(path))
    resources = SimpleNamespace(settings=Settings(home=tmp_path), store=object())
    _, index = named(chat_tab_events(SimpleNamespace(resources=lambda: resources)), "index_files")
    task = asyncio.create_task(index.fn([str(upload)], "docs", progress=lambda *a, **k: None))
    assert await asyncio.to_thread(parsing.wait, 30)
    task.cancel()  # what Gradio does for Stop indexing, a closed page or a server shutting down
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(stopped.wait, 30)

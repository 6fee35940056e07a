"""The ``workbench`` entry point on errors a user can act on: one ``error:`` line on stderr and exit status 2, no
traceback unless ``workbench --debug`` asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT
from workbench.providers.fake_embeddings import FakeEmbeddings
from workbench.providers.stores import open_store
from workbench.providers.vectorstore import VectorStore
from workbench.settings import Settings

pytestmark = pytest.mark.integration

WORKBENCH = Path(sys.executable).with_name("workbench")


def workbench(home: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed ``workbench`` command on its own home, output captured as text."""
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_LLM": "extractive"}
    return subprocess.run([str(WORKBENCH), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def refused_in_one_line(done: subprocess.CompletedProcess) -> str:
    """The one line a refused command printed on stderr (after checking it exited 2 and printed nothing else)."""
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    return lines[0]


@pytest.fixture
def held_store(tmp_path: Path) -> Iterator[VectorStore]:
    """The home's embedded vector store, held open by this process (as a running server holds it)."""
    store = open_store(Settings(_env_file=None, home=tmp_path), FakeEmbeddings())  # type: ignore[call-arg]
    try:
        yield store
    finally:
        store.close()


def test_a_store_another_process_holds_is_refused_in_one_line(tmp_path: Path, held_store: VectorStore) -> None:
    done = workbench(tmp_path, "index", "export", str(tmp_path / "docs.jsonl"))
    line = refused_in_one_line(done)
    assert "in use by another workbench process" in line and "QDRANT_URL" in line
    assert not (tmp_path / "docs.jsonl").exists()


def test_an_unknown_collection_is_refused_in_one_line_and_no_file_is_written(tmp_path: Path) -> None:
    done = workbench(tmp_path, "index", "export", "--collection", "nope", str(tmp_path / "nope.jsonl"))
    assert refused_in_one_line(done) == "error: no collection 'nope'; collections: none"
    assert not (tmp_path / "nope.jsonl").exists()


@pytest.mark.parametrize(
    ("command", "content", "says"),
    [
        ("index import", b'{"format": "something else"}\n', "line 1: not a workbench index file"),
        ("index import", b"\xff\xfe\x00 not text", "the file is not UTF-8 text"),
        ("transcribe", os.urandom(4096), "is not audio"),
    ],
)
def test_a_file_that_is_not_what_the_command_reads_is_refused_in_one_line(
    tmp_path: Path, command: str, content: bytes, says: str
) -> None:
    bad = tmp_path / "given.bin"
    bad.write_bytes(content)
    done = workbench(tmp_path, *command.split(), str(bad))
    assert says in refused_in_one_line(done) and done.stdout == ""


def test_debug_shows_the_traceback_of_a_user_error_and_still_exits_2(tmp_path: Path) -> None:
    done = workbench(tmp_path, "--debug", "index", "export", "--collection", "nope", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr and "UnknownCollection" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1] == "error: no collection 'nope'; collections: none"

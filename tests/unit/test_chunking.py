"""Chunking: headings are hard boundaries, long text is split by structure with overlap, no chunk is empty."""

from __future__ import annotations

import random

import pytest

from workbench.ingest.chunking import markdown_title, split_markdown, split_text

WORDS = ["qdrant", "vector", "chunk", "overlap", "heading", "sparse", "dense", "fusion", "ingest", "corpus", "model"]


def prose(seed: int, paragraphs: int = 12, words: list[str] = WORDS) -> str:
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(4, 30))).capitalize() + "."

    return "\n\n".join(" ".join(sentence() for _ in range(rng.randint(1, 8))) for _ in range(paragraphs))


def test_markdown_sections_follow_headings_with_their_heading_path() -> None:
    text = "Intro line.\n# Guide\n\nGuide text.\n## Install\nInstall text.\n### Linux\nLinux text.\n## Use\nUse text."
    sections = split_markdown(text)
    assert [s.heading_path for s in sections] == [
        None,
        "Guide",
        "Guide > Install",
        "Guide > Install > Linux",
        "Guide > Use",
    ]
    assert sections[3].text == "### Linux\nLinux text."


def test_heading_only_sections_are_dropped_but_live_on_in_the_path() -> None:
    sections = split_markdown("# Title\n## Empty\n### Child\nchild text")
    assert [(s.heading_path, s.text) for s in sections] == [("Title > Empty > Child", "### Child\nchild text")]


def test_hashes_inside_fenced_code_are_not_headings() -> None:
    text = "# Setup\n```bash\n# install it\nuv sync\n```\nDone."
    sections = split_markdown(text)
    assert len(sections) == 1
    assert "# install it" in sections[0].text
    assert markdown_title("```\n# comment\n```\n# Real title\ntext") == "Real title"


def test_chunks_never_cross_a_heading() -> None:
    text = "# A\n\n" + prose(1, words=["ant", "ape"]) + "\n\n## B\n\n" + prose(2, words=["bee", "bat"])
    sections = split_markdown(text)
    chunks = {s.heading_path: split_text(s.text) for s in sections}
    assert len(chunks["A"]) > 1 and len(chunks["A > B"]) > 1
    assert not any("bee" in chunk.lower() or "bat" in chunk.lower() for chunk in chunks["A"])
    assert not any("ant" in chunk.lower() or "ape" in chunk.lower() for chunk in chunks["A > B"])


@pytest.mark.parametrize("seed", range(5))
def test_chunk_sizes_are_bounded_and_no_chunk_is_empty(seed: int) -> None:
    chunks = split_text(prose(seed, paragraphs=20), size=800, overlap=120)
    assert len(chunks) > 3
    assert all(chunk.strip() for chunk in chunks)
    assert max(len(chunk) for chunk in chunks) <= 800 + 120
    assert sum(len(chunk) <= 800 for chunk in chunks) >= len(chunks) - 1


def test_each_chunk_starts_with_the_end_of_the_previous_one() -> None:
    chunks = split_text(prose(7, paragraphs=20), size=800, overlap=120)
    for previous, chunk in zip(chunks, chunks[1:], strict=False):
        opening = chunk[:40]
        assert opening in previous[-120:], (previous[-120:], opening)


def test_all_text_is_kept() -> None:
    text = prose(3, paragraphs=15)
    chunks = split_text(text, size=500, overlap=100)
    words = text.split()
    covered = " ".join(chunks).split()
    assert set(words) <= set(covered)
    assert chunks[0].split()[:5] == words[:5] and chunks[-1].split()[-5:] == words[-5:]


def test_text_without_separators_is_still_split() -> None:
    chunks = split_text("x" * 2000, size=800, overlap=120)
    assert all(len(chunk) <= 800 for chunk in chunks)
    assert "".join(chunks).count("x") >= 2000


def test_short_text_is_one_chunk_and_blank_text_none() -> None:
    assert split_text("  Just a line.  ") == ["Just a line."]
    assert split_text(" \n\n ") == []


def test_a_tiny_trailing_fragment_is_merged_into_the_previous_chunk() -> None:
    text = ("Sentence number one is here. " * 30).strip() + "\n\nEnd."
    chunks = split_text(text, size=400, overlap=100)
    assert chunks[-1].endswith("End.")
    assert len(chunks[-1]) > 100


def test_overlap_must_leave_room_for_new_text() -> None:
    with pytest.raises(ValueError):
        split_text("text", size=100, overlap=80)

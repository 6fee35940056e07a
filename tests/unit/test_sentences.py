"""One sentence segmenter for the project: initials, abbreviations, decimals, addresses and file names stay inside
their sentence; Markdown structure and hard-wrapped lines are respected; streamed text yields only finished ones."""

from __future__ import annotations

import pytest

from workbench.citations import supporting_documents
from workbench.evals.metrics import sentences
from workbench.providers.llm_extractive import extract_answer
from workbench.sentences import complete_sentences, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("In November 1960, John F. Kennedy was elected. He took office in 1961.",
         ["In November 1960, John F. Kennedy was elected.", "He took office in 1961."]),
        ("The most important are St. Peter's and St. Paul's [4]. Both are old.",
         ["The most important are St. Peter's and St. Paul's [4].", "Both are old."]),
        ("Dr. Smith came at 5 p.m. on Friday, e.g. after lunch. Mr. Jones left.",
         ["Dr. Smith came at 5 p.m. on Friday, e.g. after lunch.", "Mr. Jones left."]),
        ("The model needs 1.5 GB of memory. It runs at 3.2 tokens per second.",
         ["The model needs 1.5 GB of memory.", "It runs at 3.2 tokens per second."]),
        ("Open http://127.0.0.1:8000/docs.html in a browser. Then log in.",
         ["Open http://127.0.0.1:8000/docs.html in a browser.", "Then log in."]),
        ("The home is ./.workbench [1]. Run .venv/bin/workbench serve. Done!",
         ["The home is ./.workbench [1].", "Run .venv/bin/workbench serve.", "Done!"]),
        ("Is it ready? Yes.", ["Is it ready?", "Yes."]),
    ],
)  # fmt: skip
def test_sentences_end_only_where_a_sentence_ends(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_markdown_blocks_end_sentences_and_wrapped_lines_do_not() -> None:
    text = "# Install\nRun the setup script, which\ninstalls uv. Then serve\n\n- one item\n- another item\n| a | b |"
    assert split_sentences(text) == [
        "# Install",
        "Run the setup script, which installs uv.",
        "Then serve",
        "- one item",
        "- another item",
        "| a | b |",
    ]


def test_streamed_text_gives_only_the_sentences_already_finished() -> None:
    assert complete_sentences("He met John F.") == ([], "He met John F.")
    done, rest = complete_sentences("He met John F. Kennedy. Then he")
    assert done == ["He met John F. Kennedy."] and rest.strip() == "Then he"
    assert complete_sentences("It costs 1.")[0] == [], "a decimal may still be coming"
    assert complete_sentences("First item.\n- second")[0] == ["First item."]


def test_the_extractive_answer_quotes_whole_sentences() -> None:
    passage = "In November 1960, John F. Kennedy was elected president of the United States. He served until 1963."
    answer = extract_answer("Who was elected president in November 1960?", [(1, passage)])
    assert "John F. Kennedy was elected president of the United States. [1]" in answer


def test_citations_and_metrics_cut_answers_the_same_way() -> None:
    answer = "The data folder is ./.workbench by default [1]. It holds runs.duckdb, e.g. for SQL [2]."
    assert [text for text, _ in sentences(answer)] == split_sentences(answer)
    assert [numbers for _, numbers in sentences(answer)] == [[1], [2]]
    passages = ["The data folder is ./.workbench by default.", "It holds runs.duckdb, for example for SQL."]
    assert supporting_documents(answer.replace(" [1]", "").replace(" [2]", ""), passages) == [1, 2]


def test_a_bare_figure_is_attributed_to_the_first_passage_holding_it():
    from workbench.citations import supporting_documents

    passages = ["The server listens on port 9001 in the recipe.", "By default the server listens on port 8000."]
    assert supporting_documents("8000", passages) == [2]
    assert supporting_documents("8000.", ["Nothing here.", "No figure."]) == []
    assert supporting_documents("Yes.", passages) == [], "a short answer without a figure is not attributed"

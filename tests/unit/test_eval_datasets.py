"""Imported question files for the chat-rag suite: JSON Lines and CSV load into cases, every bad line is named
in one error, several accepted answers score the best one, and the suite runs the imported questions only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evals.chat_rag import ChatRagSuite, score_answer
from workbench.evals.cases import promoted_path
from workbench.evals.datasets import MAX_ROWS, DatasetError, load_qa_dataset
from workbench.evals.suite import Variant
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel

PORT_CHUNK = "By default the server listens on `127.0.0.1` port `8000`. Pass --port to change it."


def _jsonl(tmp_path, *lines: str, name: str = "questions.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _refusal(path) -> str:
    with pytest.raises(DatasetError) as caught:
        load_qa_dataset(path)
    return str(caught.value)


# -- loading ----------------------------------------------------------------------------------------------------


def test_a_jsonl_file_loads_its_questions_answers_sources_and_ids(tmp_path):
    path = _jsonl(
        tmp_path,
        json.dumps({"id": "port", "question": "Which port?", "answer": "8000", "source": "installation.md"}),
        "",
        json.dumps({"question": " Home folder? ", "answers": ["./.workbench", "the .workbench folder"]}),
        json.dumps({"id": 7, "question": "Top k?", "answer": "5", "answers": ["five", "5"], "source": "d/config.md"}),
    )
    dataset = load_qa_dataset(path)
    assert (dataset.name, dataset.version) == ("questions.jsonl", hashlib.sha256(path.read_bytes()).hexdigest()[:12])
    assert [c.id for c in dataset.cases] == ["port", "line-3", "7"]  # line-N: the file's line, blanks counted
    assert {c.source for c in dataset.cases} == {"imported"}
    port, home, top = dataset.cases
    assert port.input == {"question": "Which port?"}
    assert port.expected == {"answers": ["8000"], "answer": "8000", "sources": ["installation.md"]}
    assert home.input == {"question": "Home folder?"}
    assert home.expected == {"answers": ["./.workbench", "the .workbench folder"], "answer": "./.workbench"}
    assert top.expected == {"answers": ["5", "five"], "answer": "5", "sources": ["config.md"]}


def test_a_csv_file_loads_with_its_extra_answer_columns(tmp_path):
    path = tmp_path / "questions.csv"
    rows = [
        " Question ,ANSWER,answer_3,answer_2,source,id",
        '"Which port, by default?",8000,port number 8000,port 8000,docs\\installation.md,',
        '"Which file holds the',
        'settings?",configuration.md,,,,cfg',
        "",
        "Home folder?,./.workbench,,,,home",
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode())  # a spreadsheet's BOM and line ends
    dataset = load_qa_dataset(path)
    assert dataset.name == "questions.csv"
    assert [c.id for c in dataset.cases] == ["line-2", "cfg", "home"]
    port, settings_file, home = dataset.cases
    assert port.input == {"question": "Which port, by default?"}
    assert port.expected == {
        "answers": ["8000", "port 8000", "port number 8000"],  # answer, answer_2, answer_3: by number
        "answer": "8000",
        "sources": ["installation.md"],
    }
    assert settings_file.input == {"question": "Which file holds the\r\nsettings?"}
    assert settings_file.expected == {"answers": ["configuration.md"], "answer": "configuration.md"}
    assert home.expected["answers"] == ["./.workbench"]


# -- refusals ---------------------------------------------------------------------------------------------------

GOOD = json.dumps({"id": "a", "question": "Which port?", "answer": "8000"})


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ('{"question": "Which port?", "answer": 8000', "not valid JSON"),
        ('["Which port?", "8000"]', "a list, not a JSON object"),
        (json.dumps({"answer": "8000"}), "no question"),
        (json.dumps({"question": "   ", "answer": "8000"}), "question is empty"),
        (json.dumps({"question": "Which port?"}), "no answer"),
        (json.dumps({"question": "Which port?", "answers": []}), "no answer"),
        (json.dumps({"question": "Which port?", "answer": 8000}), "answer is a number: it must be text"),
        (json.dumps({"question": "Which port?", "answers": ["8000", None]}), "answers item 2 is null"),
        (json.dumps({"question": "Which port?", "answers": "8000"}), "`answers` is text: give a list"),
        (json.dumps({"question": "Which port?", "answer": "8000", "anwser": "x"}), "unknown key 'anwser'"),
        (json.dumps({"id": "a", "question": "Which port?", "answer": "8000"}), "id 'a' is already used on line 1"),
        (json.dumps({"question": "q" * 2001, "answer": "8000"}), "question is 2,001 characters long"),
        (json.dumps({"question": "Which port?", "answer": "a" * 4001}), "answer is 4,001 characters long"),
        (json.dumps({"question": "Which port?", "answer": "8000", "source": 3}), "source is a number"),
    ],
)
def test_each_bad_jsonl_line_is_named_with_what_is_wrong(tmp_path, bad, says):
    message = _refusal(_jsonl(tmp_path, GOOD, "", bad))
    assert message.startswith("questions.jsonl cannot be evaluated: 1 line to fix")
    assert f"\n  line 3: {says}" in message and "\n  line 1:" not in message


def test_an_unknown_key_error_lists_the_known_keys(tmp_path):
    message = _refusal(_jsonl(tmp_path, json.dumps({"question": "q", "answer": "a", "category": "x"})))
    assert "line 1: unknown key 'category': the known keys are id, question, answer, answers, source" in message


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        (["question,answer,notes", "Which port?,8000,x"], "line 1: unknown column 'notes': the known columns are id"),
        (["question,answer,", "Which port?,8000,"], "line 1: column 3 has no name"),
        (["query,answer", "Which port?,8000"], "line 1: no 'question' column"),
        (["question,source", "Which port?,installation.md"], "line 1: no 'answer' column"),
        (["question,answer,answer_1", "Which port?,8000,x"], "line 1: column 'answer_1'"),
        (["question,answer,answer", "Which port?,8000,x"], "line 1: column 'answer' is named more than once"),
        (["question,answer", "Which port?,8000", ",8000"], "line 3: question is empty"),
        (["question,answer", "Which port?,8000", "Home?,"], "line 3: no answer"),
        (["question,answer", "Which port?,8000", "Which port, by default?,8000"], "line 3: 3 cells but the header"),
        (["question,answer,id", "Which port?,8000,a", "Home?,x,a"], "line 3: id 'a' is already used on line 2"),
    ],
)
def test_each_bad_csv_line_is_named_with_what_is_wrong(tmp_path, rows, says):
    path = tmp_path / "questions.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert says in _refusal(path)


def test_every_bad_line_is_listed_at_once_up_to_twenty(tmp_path):
    lines = [json.dumps({"question": f"q{i}"}) for i in range(25)]
    message = _refusal(_jsonl(tmp_path, *lines))
    assert "25 lines to fix" in message
    assert "line 20: no answer" in message and "line 21:" not in message
    assert message.splitlines()[-2:] == ["  and 5 more", "Fix these lines and run the eval again."]


def test_files_that_cannot_be_questions_are_refused_by_name_only(tmp_path):
    (tmp_path / "questions.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "empty.csv").write_text("\ufeff \n\n", encoding="utf-8")
    (tmp_path / "header.csv").write_text("question,answer\n", encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes("question,answer\nCafé?,oui\n".encode("latin-1"))
    refusals = {
        "questions.xlsx": "questions.xlsx: .xlsx is not a question file; use .jsonl",
        "empty.csv": "empty.csv is empty",
        "header.csv": "header.csv has a header row but no questions",
        "latin1.csv": "latin1.csv is not UTF-8 text (line 2 holds the first byte that is not)",
        "missing.jsonl": "missing.jsonl does not exist",
    }
    for name, says in refusals.items():
        message = _refusal(tmp_path / name)
        assert message.startswith(says), message
        assert str(tmp_path) not in message and "Error" not in message and "Traceback" not in message


def test_a_file_over_the_row_limit_is_refused(tmp_path):
    line = json.dumps({"question": "q", "answer": "a"})
    message = _refusal(_jsonl(tmp_path, *[line] * (MAX_ROWS + 1)))
    assert "10,001 questions; one eval takes at most 10,000: split the file" in message


# -- scoring and the suite --------------------------------------------------------------------------------------


def _doc(source: str, text: str) -> dict:
    return {"chunk_id": "c1", "source": f"/corpus/{source}", "text": text, "score": 1.0}


def test_an_answer_matching_the_second_accepted_answer_scores_full_token_f1(tmp_path):
    row = {"id": "port", "question": "Which port?", "answers": ["8000", "port 8000"], "source": "installation.md"}
    (case,) = load_qa_dataset(_jsonl(tmp_path, json.dumps(row))).cases
    docs = [_doc("installation.md", PORT_CHUNK)]
    passed, scores, _ = score_answer(case, "Port 8000.", docs, [], "attributed", 0.9)
    assert passed and scores["token_f1"] == 1.0 and scores["answer_quality"] == 1.0
    assert scores["source_hit"] == 1.0 and "recall_at_k" not in scores

    (single,) = load_qa_dataset(_jsonl(tmp_path, json.dumps(row | {"answers": ["8000"]}), name="one.jsonl")).cases
    passed, scores, _ = score_answer(single, "Port 8000.", [_doc("other.md", PORT_CHUNK)], [], "attributed", 0.9)
    assert not passed and scores["token_f1"] < 0.9 and scores["source_hit"] == 0.0


def test_the_suite_runs_an_imported_files_questions_only(tmp_path):
    settings = Settings(home=tmp_path)
    promoted = promoted_path(settings, "chat-rag")
    promoted.parent.mkdir(parents=True)
    promoted.write_text(json.dumps({"id": "run-1", "input": {"question": "Which port?"}, "expected": {}}) + "\n")
    path = tmp_path / "mine.csv"
    path.write_text("id,question,answer\nx1,Which port?,8000\nx2,Home folder?,./.workbench\n", encoding="utf-8")
    suite = ChatRagSuite()
    assert any(c.source == "promoted" for c in suite.cases(settings))
    cases = suite.cases(settings, dataset=path)
    assert [(c.id, c.source) for c in cases] == [("x1", "imported"), ("x2", "imported")]


class OneDocStore:
    def collections(self) -> list[str]:
        return ["docs"]

    def count(self, name: str) -> int:
        return 1


async def test_setup_logs_the_imported_files_name_and_hash(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings(home=tmp_path, llm="fake")
    resources = Resources(settings, store=OneDocStore(), models=ModelRegistry(settings, {"fake": ScriptedChatModel()}))
    path = _jsonl(tmp_path, GOOD)
    suite = ChatRagSuite()
    imported = await suite.setup(resources, Variant("mine", {"model": "fake", "dataset": str(path)}))
    assert imported["dataset"] == "questions.jsonl"
    assert imported["dataset_version"] == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    bundled = await suite.setup(resources, Variant("qa", {"model": "fake"}))
    assert "dataset" not in bundled and bundled["dataset_version"] != imported["dataset_version"]


def test_facts_and_style_score_an_imported_question_as_the_bundled_ones_are(tmp_path):
    path = tmp_path / "held.jsonl"
    row = {"id": "h1", "question": "Which port?", "answer": "8000", "source": "docs/configuration.md",
           "facts": ["listens on port 8000"], "style": "natural"}  # fmt: skip
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "id": "h2", "source": None}) + "\n")
    with pytest.raises(DatasetError, match="line 2: facts without a source"):
        load_qa_dataset(path)
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "id": "h2", "facts": "port 8000"}) + "\n")
    with pytest.raises(DatasetError, match="line 2: `facts` is"):
        load_qa_dataset(path)
    path.write_text(json.dumps(row) + "\n")
    (case,) = load_qa_dataset(path).cases
    assert case.expected["source"] == "configuration.md" and case.expected["facts"] == ["listens on port 8000"]
    assert case.expected["style"] == "natural"
    bundled = load_qa_dataset(Path(__file__).resolve().parents[2] / "datasets" / "qa-holdout.jsonl")
    assert len(bundled.cases) == 60 and all(c.expected.get("facts") for c in bundled.cases)

"""Question files a researcher brings to the chat-rag suite instead of the bundled ``datasets/qa.jsonl``.

Two formats, both UTF-8 (a byte-order mark is fine):

- JSON Lines (``.jsonl`` or ``.json``): one object per line, blank lines skipped, with ``question`` (text),
  ``answer`` (text) and/or ``answers`` (a list of texts; the accepted answers are ``answer`` then ``answers``),
  and optionally ``source``, ``id`` (text or a whole number), ``facts`` (a list of short spans of the source that
  hold the answer, as ``datasets/qa.jsonl`` has them) and ``style`` (a label the metrics are split by).
- CSV (``.csv``): a header row naming the columns (case and surrounding spaces ignored): ``question``,
  ``answer``, optionally more accepted answers in ``answer_2``, ``answer_3``... (an empty cell is no answer;
  a cell is never split, since answers may hold any character), ``source`` and ``id``.

``source`` is the corpus file the answer comes from (a path is reduced to its file name): the suite then checks
that retrieval brought back a chunk of that file (``source_hit``); with ``facts`` too, a chunk of it holding a fact
(``recall_at_k``), and the answer is also scored by how much of the facts it states (``fact_containment``), as
the bundled questions are. A row without ``id`` is ``line-N``, N being the
line it starts on. Every row is checked before anything runs, so a researcher fixes the whole file at once: the
error lists each bad line and what to do about it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from workbench.evals.suite import Case

SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}
JSON_KEYS = ("id", "question", "answer", "answers", "source", "facts", "style")
MAX_FACTS = 20
CSV_COLUMNS = "id, question, answer, answer_2, answer_3 (and so on), source"
MAX_BYTES = 32 * 1024 * 1024
MAX_ROWS = 10_000
MAX_QUESTION = 2_000
MAX_ANSWER = 4_000
MAX_ANSWERS = 20
MAX_ID = 200
MAX_SOURCE = 500
MAX_LISTED = 20
"""Problems listed in one error; the rest are counted."""
_EXTRA_ANSWER = re.compile(r"answer_([1-9][0-9]*)")

Row = tuple[int, dict[str, Any]]
"""A row's first line in the file and its raw fields: id, question, answers (``[(label, value)]``), source."""


class DatasetError(ValueError):
    """A question file that cannot be evaluated; the message names each bad line and what to do."""


@dataclass
class QaDataset:
    cases: list[Case]
    name: str
    """The file's name (never its folder: it is logged with the run)."""
    version: str
    """The first 12 hex digits of the file's sha256: the run's ``dataset_version``."""


@dataclass
class _Problems:
    found: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, problem: str) -> None:
        self.found.append((line, problem))

    def message(self, name: str) -> str:
        lines = sorted({line for line, _ in self.found})
        head = f"{name} cannot be evaluated: {len(lines)} {_plural(len(lines), 'line')} to fix"
        listed = [
            f"  line {line}: {problem}" for line, problem in sorted(self.found, key=lambda found: found[0])[:MAX_LISTED]
        ]
        if len(self.found) > MAX_LISTED:
            listed.append(f"  and {len(self.found) - MAX_LISTED} more")
        return "\n".join([head, *listed, "Fix these lines and run the eval again."])


def load_qa_dataset(path: Path) -> QaDataset:
    """The cases of a question file; :class:`DatasetError` listing its bad lines when any line is wrong."""
    name = path.name
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DatasetError(
            f"{name}: {path.suffix or 'a file without an extension'} is not a question file; "
            "use .jsonl (one JSON object per line) or .csv (with a header row)"
        )
    data = _read(path)
    text = _decode(data, name)
    if not text.strip():
        raise DatasetError(f"{name} is empty: write one question per line (see the file format in the user guide)")
    problems = _Problems()
    rows = _jsonl_rows(text, problems) if kind == "jsonl" else _csv_rows(text, problems)
    if len(rows) > MAX_ROWS:
        raise DatasetError(f"{name} has {len(rows):,} questions; one eval takes at most {MAX_ROWS:,}: split the file")
    cases = _cases(rows, problems)
    if problems.found:
        raise DatasetError(problems.message(name))
    if not cases:
        raise DatasetError(f"{name} has a header row but no questions: add one question per row below it")
    return QaDataset(cases, name, hashlib.sha256(data).hexdigest()[:12])


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise DatasetError(f"{path.name} is over {MAX_BYTES // 2**20} MiB: keep at most {MAX_ROWS:,} questions")
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path.name} does not exist: check the file's path") from None
    except OSError as exc:
        raise DatasetError(f"{path.name} cannot be read ({exc.strerror}): check the file and its permissions") from None


def _decode(data: bytes, name: str) -> str:
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"{name} is not UTF-8 text (line {line} holds the first byte that is not): save it as UTF-8 "
            "(a spreadsheet's 'CSV UTF-8' format) and try again"
        ) from None


def _jsonl_rows(text: str, problems: _Problems) -> list[Row]:
    rows: list[Row] = []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 may sit inside a JSON string
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = "; a JSON array must be written as one object per line" if line.lstrip().startswith("[") else ""
            problems.add(number, f"not valid JSON ({exc.msg} at column {exc.colno}){hint}")
            continue
        if not isinstance(value, dict):
            problems.add(number, f"{_kind(value)}, not a JSON object: write one object per line")
            continue
        unknown = sorted(set(value) - set(JSON_KEYS))
        if unknown:
            keys = ", ".join(repr(k) for k in unknown)
            problems.add(
                number, f"unknown {_plural(len(unknown), 'key')} {keys}: the known keys are {', '.join(JSON_KEYS)}"
            )
        answers = [("answer", value["answer"])] if "answer" in value else []
        more = value.get("answers", [])
        if isinstance(more, list):
            answers += [(f"answers item {i}", v) for i, v in enumerate(more, 1)]
        else:
            problems.add(number, f'`answers` is {_kind(more)}: give a list of texts, like ["8000", "port 8000"]')
        facts = value.get("facts", [])
        if not isinstance(facts, list):
            problems.add(number, f'`facts` is {_kind(facts)}: give a list of texts, like ["listens on port 8000"]')
            facts = []
        fields = {k: value.get(k) for k in ("id", "question", "source", "style")}
        rows.append(
            (number, fields | {"answers": answers, "facts": [(f"facts item {i}", v) for i, v in enumerate(facts, 1)]})
        )
    return rows


def _csv_rows(text: str, problems: _Problems) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[Row] = []
    header: list[str] | None = None
    ended = 0  # the line the previous row ended on
    try:
        for cells in reader:
            start, ended = ended + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                if not _header_ok(header, start, problems):
                    return []
                continue
            if len(cells) > len(header):
                problems.add(start, f"{len(cells)} cells but the header names {len(header)} columns: "
                                    "quote a value that holds a comma")  # fmt: skip
                continue
            values = {column: cell.strip() for column, cell in zip(header, cells, strict=False)}
            answers = [(c, values[c]) for c in _answer_columns(header) if values.get(c)]
            fields = {k: values.get(k) or None for k in ("id", "source")}  # an empty cell: none given
            question = values.get("question", "")
            rows.append((start, fields | {"question": question, "answers": answers, "facts": [], "style": None}))
    except csv.Error as exc:
        problems.add(reader.line_num, f"the CSV cannot be read from here on ({exc}): check its quotes")
    return rows


def _header_ok(header: list[str], line: int, problems: _Problems) -> bool:
    """Whether the header names each column once, only known ones, with a question and an answer column."""
    before = len(problems.found)
    for index, column in enumerate(header, 1):
        if not column:
            problems.add(line, f"column {index} has no name: name it or delete it; the known columns are {CSV_COLUMNS}")
        elif column not in ("id", "question", "answer", "source") and not _EXTRA_ANSWER.fullmatch(column):
            problems.add(line, f"unknown column {column!r}: the known columns are {CSV_COLUMNS}")
        elif column == "answer_1":
            problems.add(line, "column 'answer_1': the first answer's column is 'answer', the next 'answer_2'")
    repeated = sorted({c for c in header if c and header.count(c) > 1})
    if repeated:
        problems.add(line, f"column {', '.join(map(repr, repeated))} is named more than once: keep one")
    if "question" not in header:
        problems.add(line, "no 'question' column: the first row must name the columns, e.g. question,answer,source")
    if not _answer_columns(header):
        problems.add(line, "no 'answer' column: add one with each question's accepted answer")
    return len(problems.found) == before


def _answer_columns(header: list[str]) -> list[str]:
    """``answer`` first, then ``answer_2``, ``answer_3``... in their number's order."""
    extra = sorted((int(m[1]), c) for c in header if (m := _EXTRA_ANSWER.fullmatch(c)) and m[1] != "1")
    return (["answer"] if "answer" in header else []) + [c for _, c in extra]


def _cases(rows: list[Row], problems: _Problems) -> list[Case]:
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for line, fields in rows:
        question = None
        if fields["question"] is None:
            problems.add(line, "no question: every line needs its question")
        else:
            question = _text(line, "question", fields["question"], MAX_QUESTION, problems)
        answers = [_text(line, label, value, MAX_ANSWER, problems) for label, value in fields["answers"]]
        if not fields["answers"]:
            problems.add(line, "no answer: every question needs at least one accepted answer")
        elif len(answers) > MAX_ANSWERS:
            problems.add(line, f"{len(answers)} accepted answers: keep at most {MAX_ANSWERS}")
        source = None if fields["source"] is None else _text(line, "source", fields["source"], MAX_SOURCE, problems)
        case_id = _case_id(line, fields["id"], problems)
        if case_id is not None and case_id in first_line:
            problems.add(line, f"id {case_id!r} is already used on line {first_line[case_id]}: give each its own")
        elif case_id is not None:
            first_line[case_id] = line
        accepted = list(dict.fromkeys(a for a in answers if a is not None))
        if question is None or case_id is None or not accepted:
            continue  # its problems are recorded: the file is refused
        facts = [_text(line, label, value, MAX_ANSWER, problems) for label, value in fields["facts"]]
        if len(facts) > MAX_FACTS:
            problems.add(line, f"{len(facts)} facts: keep at most {MAX_FACTS}")
        if facts and source is None:
            problems.add(line, "facts without a source: name the corpus file the facts are spans of")
        style = None if fields["style"] is None else _text(line, "style", fields["style"], MAX_ID, problems)
        expected: dict[str, Any] = {"answers": accepted, "answer": accepted[0]}
        if source is not None:
            expected["sources"] = [PureWindowsPath(source).name]  # either slash: the corpus's file name
        if source is not None and facts and None not in facts:
            expected |= {"source": expected["sources"][0], "facts": facts}
        if style is not None:
            expected["style"] = style
        cases.append(Case(case_id, {"question": question}, expected, source="imported"))
    return cases


def _case_id(line: int, value: Any, problems: _Problems) -> str | None:
    if value is None:
        return f"line-{line}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(line, "id", value, MAX_ID, problems)


def _text(line: int, label: str, value: Any, limit: int, problems: _Problems) -> str | None:
    """``value`` stripped, or None once the problem with it is recorded."""
    if not isinstance(value, str):
        problems.add(line, f"{label} is {_kind(value)}: it must be text")
        return None
    text = value.strip()
    if not text:
        problems.add(line, f"{label} is empty: fill it in or delete the line")
    elif len(text) > limit:
        problems.add(line, f"{label} is {len(text):,} characters long: keep it within {limit:,}")
    else:
        return text
    return None


def _kind(value: Any) -> str:
    """What a JSON value is, in the file's terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else "text"


def _plural(n: int, noun: str) -> str:
    return noun if n == 1 else f"{noun}s"

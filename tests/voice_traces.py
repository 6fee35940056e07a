"""Privacy scans for the voice tests: every trace of a recording or of a spoken reply in the files the workbench
writes (the checkpoints, the run log's DuckDB tables and its crash journal), each read raw and through its reader.

A clip betrays itself by its bytes, its base64 and slices of both; any audio container header (``RIFF`` /
``fLaC``, raw or as base64) betrays one too, whatever clip it came from.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from workbench.runlog.journal import journal_path

HEADERS = (b"RIFF", b"UklGR", b"fLaC", b"ZkxhQ")
"""WAV and FLAC headers, raw and base64 (a stored clip starts with one of them)."""


def traces(clip: bytes) -> list[bytes]:
    """What would betray ``clip``: its bytes, its base64, and slices of both (from its middle and its end)."""
    encoded = base64.b64encode(clip)
    middle, encoded_middle = len(clip) // 2, len(encoded) // 2
    found = [clip, encoded, clip[middle : middle + 48], encoded[encoded_middle : encoded_middle + 64], encoded[-64:]]
    return [trace for trace in found if len(trace) >= 32]


def sent_audio(events: list[dict[str, Any]]) -> list[bytes]:
    """The reply audio a turn's events carried (``audio_chunk`` and ``audio``), decoded."""
    return [base64.b64decode(e["data"]) for e in events if e.get("type") in ("audio", "audio_chunk") and e["data"]]


def raw_files(*paths: Path) -> dict[str, bytes]:
    """Each file with its SQLite / DuckDB companions (``-wal``, ``-shm``, ``-journal``, ``.wal``) as bytes."""
    found = {}
    for path in paths:
        for suffix in ("", "-wal", "-shm", "-journal", ".wal"):
            companion = path.with_name(path.name + suffix)
            if companion.is_file():
                found[f"{companion.name} (raw)"] = companion.read_bytes()
    return found


def sqlite_rows(path: Path) -> dict[str, bytes]:
    """Every row of every table of a SQLite file as text, with blobs also decoded by the checkpointer's
    serializer (checkpoints and writes)."""
    serde = JsonPlusSerializer()
    found: dict[str, bytes] = {}
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            cursor = db.execute(f'select * from "{table}"')  # the names come from the file itself
            columns = [c[0] for c in cursor.description]
            for i, row in enumerate(cursor):
                values: list[Any] = list(row)
                record = dict(zip(columns, row, strict=True))
                for blob_column, type_column in (("checkpoint", "type"), ("value", "type")):
                    if isinstance(record.get(blob_column), bytes) and record.get(type_column):
                        values.append(serde.loads_typed((record[type_column], record[blob_column])))
                found[f"{path.name}: {table} row {i}"] = b"".join(
                    v if isinstance(v, bytes) else repr(v).encode() for v in values
                )
    return found


def checkpointer_reads(path: Path) -> dict[str, bytes]:
    """Every checkpoint of a SQLite checkpointer file as LangGraph's own saver reads it back."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    with sqlite3.connect(path) as connection:
        return {f"checkpointer {i}": repr(item).encode() for i, item in enumerate(SqliteSaver(connection).list(None))}


def runlog_files(runlog: Path) -> dict[str, bytes]:
    """The run log as stored: every row of every DuckDB table, the journal's rows, and both files raw (the run log
    must be closed)."""
    found = raw_files(runlog, journal_path(runlog))
    with duckdb.connect(str(runlog), read_only=True) as db:
        tables = [name for (name,) in db.execute("select table_name from information_schema.tables").fetchall()]
        for table in tables:
            for i, row in enumerate(db.execute(f'select * from "{table}"').fetchall()):  # names from the file
                found[f"runs.duckdb: {table} row {i}"] = repr(row).encode()
    if journal_path(runlog).is_file():
        found |= sqlite_rows(journal_path(runlog))
    return found


def leaks(stored: dict[str, bytes], clips: list[bytes]) -> list[str]:
    """``where: what`` for each stored blob holding a trace of one of ``clips`` or an audio header."""
    out = []
    for name, blob in stored.items():
        out += [f"{name}: {len(t)} bytes of clip {i}" for i, c in enumerate(clips) for t in traces(c) if t in blob]
        out += [f"{name}: header {header!r}" for header in HEADERS if header in blob]
    return out

"""Records to DuckDB: deduplicated by key, converted column-wise to Arrow, written in one statement per table.

Used by the writer thread for its batches and by recovery to replay a stopped process's journal.
"""

from __future__ import annotations

import array
import itertools
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from workbench.runlog.schema import BOOLEAN_COLUMNS, JSON_COLUMNS, TABLES, Record, Table

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FIXED: dict[str, tuple[str, pa.DataType]] = {  # column -> (array typecode, Arrow type)
    "started_at": ("q", pa.timestamp("us", tz="UTC")),
    "ended_at": ("q", pa.timestamp("us", tz="UTC")),
    "ttft_ms": ("d", pa.float64()),
    "duration_ms": ("d", pa.float64()),
    "tokens_in": ("i", pa.int32()),
    "tokens_out": ("i", pa.int32()),
    "seq": ("i", pa.int32()),
    "created_at": ("q", pa.timestamp("us", tz="UTC")),
    "last_audited_at": ("q", pa.timestamp("us", tz="UTC")),
    "ts": ("q", pa.timestamp("us", tz="UTC")),
    "progress": ("d", pa.float64()),
    "percent": ("d", pa.float64()),
    "score": ("d", pa.float64()),
    "cwe": ("i", pa.int32()),
    "line": ("i", pa.int32()),
    "end_line": ("i", pa.int32()),
    "agreement": ("i", pa.int32()),
    "files": ("q", pa.int64()),
    "lines": ("q", pa.int64()),
}


_to_json = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _validity(values: list[Any]) -> pa.Buffer | None:
    if None not in values:
        return None
    bits = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value is not None:
            bits[i >> 3] |= 1 << (i & 7)
    return pa.py_buffer(bits)


def _micros(value: datetime) -> int:
    return ((value if value.tzinfo else value.replace(tzinfo=UTC)) - _EPOCH) // _MICROSECOND


def _column(name: str, values: list[Any]) -> pa.Array:
    """One Arrow column, built from buffers: ``pa.array`` would import pandas (about 1 s) on first use."""
    if name in _FIXED:
        typecode, arrow_type = _FIXED[name]
        if pa.types.is_timestamp(arrow_type):
            values = [None if v is None else _micros(v) for v in values]
        data = array.array(typecode, [0 if v is None else v for v in values])
        return pa.Array.from_buffers(arrow_type, len(values), [_validity(values), pa.py_buffer(data)])
    if name in BOOLEAN_COLUMNS:
        bits = bytearray((len(values) + 7) // 8)
        for i, value in enumerate(values):
            if value:
                bits[i >> 3] |= 1 << (i & 7)
        return pa.Array.from_buffers(pa.bool_(), len(values), [_validity(values), pa.py_buffer(bits)])
    if name in JSON_COLUMNS:
        values = [None if v is None else _to_json(v) for v in values]
    encoded = [b"" if v is None else str(v).encode(errors="replace") for v in values]
    offsets = array.array("q", [0])
    offsets.extend(itertools.accumulate(map(len, encoded)))
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.large_string(), len(values), [_validity(values), pa.py_buffer(offsets), data])


def to_arrow(records: Sequence[Record], columns: tuple[str, ...]) -> pa.Table:
    """A column-wise Arrow table of ``records`` (JSON columns serialized, naive timestamps taken as UTC)."""
    return pa.table({name: _column(name, [getattr(r, name) for r in records]) for name in columns})


def _insert(con: Any, table: Table, data: pa.Table, replay: bool) -> None:
    cols = ", ".join(f'"{c}"' for c in table.columns)
    if not table.replace:  # written once: only a replayed journal can bring a row again (the first one stays)
        verb = "INSERT OR IGNORE" if replay else "INSERT"  # checking for conflicts costs DuckDB more than the rows
        statement = f"{verb} INTO {table.name} ({cols}) SELECT {cols} FROM _runlog_batch"
    elif table.keep_when is None:
        statement = f"INSERT OR REPLACE INTO {table.name} ({cols}) SELECT {cols} FROM _runlog_batch"
    else:
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in table.columns if c not in table.key)
        statement = (
            f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM _runlog_batch ON CONFLICT ({', '.join(table.key)})"
            f" DO UPDATE SET {updates} WHERE NOT ({table.keep_when})"
        )
    con.register("_runlog_batch", data)
    try:
        con.execute(statement)
    finally:
        con.unregister("_runlog_batch")


Batch = dict[type, list[Record]]


class Pending:
    """Records waiting for DuckDB, one per key (a later record with the same key replaces the earlier one)."""

    def __init__(self) -> None:
        self._rows: dict[type, dict[tuple[Any, ...], Record]] = {kind: {} for kind in TABLES}
        self.count = 0

    def add(self, records: Iterable[Record]) -> None:
        for record in records:
            kind = type(record)
            key = tuple(getattr(record, name) for name in TABLES[kind].key)
            rows = self._rows[kind]
            self.count += key not in rows
            rows[key] = record

    def take(self) -> Batch:
        """Everything pending, by record type in table order; the container is empty afterwards."""
        batch = {kind: list(rows.values()) for kind, rows in self._rows.items() if rows}
        for rows in self._rows.values():
            rows.clear()
        self.count = 0
        return batch


def write_batch(con: Any, batch: Batch, *, replay: bool = False) -> None:
    """Insert or replace every record of ``batch`` through ``con`` (the caller owns the transaction); ``replay``:
    the records come from a journal, so some may be in DuckDB already."""
    tables = [(TABLES[kind], to_arrow(records, TABLES[kind].columns)) for kind, records in batch.items()]
    for table, data in tables:
        _insert(con, table, data, replay)


def describe(batch: Batch) -> str:
    return ", ".join(f"{len(records)} {TABLES[kind].name}" for kind, records in batch.items())

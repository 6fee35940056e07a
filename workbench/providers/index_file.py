"""A collection as a file: every point's id, dense and sparse vectors and payload, one JSON object per line.

``workbench index export`` writes one from any store and ``workbench index import`` reads it into any other
(Qdrant Edge, qdrant-client's local mode, a Qdrant server): the points keep their ids, vectors and payloads, so
nothing is embedded again. The first line says what the file holds::

    {"format": "workbench-index", "version": 1, "collection": "docs", "embeddings": "local/minilm-l6-int8", "dim": 384}

An import checks every line (a file may come from anywhere) and refuses the whole file, naming the line, before
it writes anything; it reads the file twice (check, then write), never all of it into memory.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from typing import IO, Any

from workbench.documents import COLLECTION_RULE, is_collection_name
from workbench.errors import ConfigurationError
from workbench.providers.sparse import SparseVector
from workbench.providers.vectorstore import IndexedPoint, VectorStore

FORMAT = "workbench-index"
VERSION = 1
BATCH = 512
MAX_LINE = 4 * 1024 * 1024


class IndexFileError(ConfigurationError):
    """The file is not a workbench index file, or one of its lines is broken."""


def export_collection(store: VectorStore, name: str, out: IO[str], embeddings_id: str | None, dim: int) -> int:
    """Write collection `name` of `store` to `out`; returns how many points."""
    out.write(json.dumps({"format": FORMAT, "version": VERSION, "collection": name, "embeddings": embeddings_id,
                          "dim": dim}) + "\n")  # fmt: skip
    count = 0
    for point in store.points(name):
        sparse = {"indices": list(point.sparse.indices), "values": list(point.sparse.values)} if point.sparse else None
        out.write(json.dumps({"id": point.id, "dense": list(point.dense), "sparse": sparse, "payload": point.payload}))
        out.write("\n")
        count += 1
    return count


def read_header(lines: Iterator[str]) -> dict[str, Any]:
    first = next(lines, "")
    try:
        header = json.loads(first) if len(first) <= MAX_LINE else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise IndexFileError("line 1: not a workbench index file (export one with `workbench index export`)")
    if header.get("version") != VERSION:
        raise IndexFileError(f"line 1: index file version {header.get('version')!r}; this workbench reads {VERSION}")
    if not isinstance(header.get("dim"), int) or header["dim"] < 1:
        raise IndexFileError("line 1: the header has no vector dimension")
    return header


def parse_point(line: str, number: int, dim: int) -> IndexedPoint:
    """One point line, checked: a UUID id, `dim` finite floats, an optional sparse vector, a payload object."""

    def bad(why: str) -> IndexFileError:
        return IndexFileError(f"line {number}: {why}")

    if len(line) > MAX_LINE:
        raise bad("longer than 4 MiB")
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        raise bad("not JSON") from None
    if not isinstance(data, dict) or set(data) != {"id", "dense", "sparse", "payload"}:
        raise bad("a point has exactly id, dense, sparse and payload")
    try:
        point_id = str(uuid.UUID(str(data["id"])))
    except ValueError:
        raise bad("the id is not a UUID") from None
    dense = data["dense"]
    if not isinstance(dense, list) or len(dense) != dim or not all(_finite(v) for v in dense):
        raise bad(f"dense is not {dim} finite numbers")
    sparse = data["sparse"]
    vector = None
    if sparse is not None:
        if not isinstance(sparse, dict) or set(sparse) != {"indices", "values"}:
            raise bad("sparse has indices and values")
        indices, values = sparse["indices"], sparse["values"]
        if (
            not isinstance(indices, list)
            or not isinstance(values, list)
            or len(indices) != len(values)
            or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**32 for i in indices)
            or len(set(indices)) != len(indices)
            or not all(_finite(v) for v in values)
        ):
            raise bad("sparse needs as many unique 32-bit indices as finite values")
        vector = SparseVector(indices, [float(v) for v in values])
    if not isinstance(data["payload"], dict):
        raise bad("payload is not an object")
    return IndexedPoint(point_id, [float(v) for v in dense], vector, data["payload"])


def import_collection(
    store: VectorStore, src: IO[str], embeddings_id: str | None, dim: int, name: str | None = None
) -> tuple[str, int]:
    """Check all of `src`, then write its points into collection `name` (default: the file's); returns the
    collection and how many points. Refused before anything is written when a line is broken or the file was
    made with another embedding model than the store's."""
    lines = iter(src)
    header = read_header(lines)
    if header["dim"] != dim or (header.get("embeddings") and embeddings_id and header["embeddings"] != embeddings_id):
        raise IndexFileError(
            f"the file was exported with another embedding model ({header.get('embeddings') or 'unknown'}, "
            f"{header['dim']} dimensions; this workbench uses {embeddings_id}, {dim}): switch WORKBENCH_EMBEDDINGS "
            "to match, or ingest the documents again"
        )
    target = name or str(header.get("collection") or "")
    if not is_collection_name(target):
        raise IndexFileError(f"{COLLECTION_RULE}; pass --collection")
    for number, line in enumerate(lines, start=2):  # check every line before anything is written
        if line.strip():
            parse_point(line, number, dim)
    src.seek(0)
    lines = iter(src)
    next(lines)
    store.ensure_collection(target)
    count, batch = 0, []
    for number, line in enumerate(lines, start=2):
        if line.strip():
            batch.append(parse_point(line, number, dim))
        if len(batch) == BATCH:
            store.put(target, batch)
            count, batch = count + len(batch), []
    if batch:
        store.put(target, batch)
    return target, count + len(batch)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

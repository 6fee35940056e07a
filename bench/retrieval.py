"""Retrieval benchmark, on every vector store that runs here, in one run.

Quality: the sample corpus is embedded once with MiniLM into Qdrant Edge and copied (the same vectors and
payloads) into qdrant-client's local mode (and a Qdrant server when ``QDRANT_URL`` is set); recall@1, recall@5
and MRR@10 of dense, sparse and hybrid search over ``datasets/qa.jsonl``, side by side. A retrieved chunk is
relevant when it comes from the question's source file and contains one of its facts.

Scale: synthetic chunks (384-dimension clustered unit vectors, BM25 vectors of Zipf-distributed words, 50
sources) at 100, 5,000, 20,000 and 100,000 points: ingest points/s of the store's writes (vectors computed
beforehand: embedding excluded) and query p50/p99 of hybrid search with and without a source filter (the query's
dense vector looked up, not embedded: embedding excluded), for each store, with ratios against local mode.

    .venv/bin/python bench/retrieval.py [--json] [--threads N] [--only quality|scale] [--sizes 100,5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from qdrant_client import QdrantClient

from workbench.documents import Chunk, RetrievedDoc, SearchMode
from workbench.ingest import ingest_paths
from workbench.providers.edge_store import EdgeStore
from workbench.providers.minilm import MiniLMEmbeddings
from workbench.providers.qdrant_store import QdrantStore
from workbench.providers.sparse import SparseEncoder
from workbench.providers.vectorstore import VectorStore, copy_collection

ROOT = Path(__file__).resolve().parents[1]
MODES: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")
DEPTH = 10
COLLECTION = "bench"
SIZES = (100, 5_000, 20_000, 100_000)
DIM = 384
SOURCES = 50


class TimedEmbeddings(MiniLMEmbeddings):
    """MiniLM that adds up the time spent embedding documents."""

    seconds = 0.0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return super().embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - started


def first_relevant_rank(docs: list[RetrievedDoc], case: dict[str, Any]) -> int | None:
    """1-based rank of the first relevant chunk, or None."""
    for rank, doc in enumerate(docs, start=1):
        if Path(doc["source"]).name == case["source"] and any(fact in doc["text"] for fact in case["facts"]):
            return rank
    return None


def scores(ranks: list[int | None]) -> dict[str, float]:
    """recall@1, recall@5 and MRR@10 of a list of first-relevant ranks."""
    n = len(ranks) or 1
    return {
        "recall@1": sum(r == 1 for r in ranks) / n,
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None) / n,
    }


def open_stores(folder: Path, embeddings: Embeddings) -> dict[str, VectorStore]:
    """Qdrant Edge, qdrant-client's local mode, and a Qdrant server when QDRANT_URL is set, in `folder`."""
    import os

    stores: dict[str, VectorStore] = {
        "edge": EdgeStore(folder / "edge", embeddings),
        "local": QdrantStore(QdrantClient(path=str(folder / "local")), embeddings),
    }
    if os.environ.get("QDRANT_URL"):
        client = QdrantClient(url=os.environ["QDRANT_URL"], api_key=os.environ.get("QDRANT_API_KEY"), timeout=30)
        stores["server"] = QdrantStore(client, embeddings)
    return stores


def quality(corpus: Path, qa_path: Path, threads: int | None) -> dict[str, Any]:
    """Ingest once (into Edge), copy into the other stores, query every case in every mode on each."""
    cases = [json.loads(line) for line in qa_path.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        embeddings = TimedEmbeddings(threads=threads)
        stores = open_stores(Path(tmp), embeddings)
        started = time.perf_counter()
        stores["edge"].ensure_collection(COLLECTION)  # loads the model (dimension probe)
        load_s = time.perf_counter() - started
        embeddings.seconds = 0.0
        report = ingest_paths(stores["edge"], [corpus], COLLECTION)
        embedding_s = embeddings.seconds
        if report.failures:
            raise SystemExit(f"ingest failed: {report.failures}")
        for name, store in stores.items():
            if name != "edge":
                copy_collection(stores["edge"], store, COLLECTION)
        by_store = {name: _quality_of(store, cases) for name, store in stores.items()}
        for store in stores.values():
            store.close()
    return {
        "corpus": str(corpus.relative_to(ROOT) if corpus.is_relative_to(ROOT) else corpus),
        "questions": len(cases),
        "model_load_s": load_s,
        "ingest": {
            "files": report.files_seen,
            "chunks": report.chunks_written,
            "seconds": report.seconds,
            "chunks_per_s": report.chunks_per_s,
            "embedding_s": embedding_s,
        },
        "stores": by_store,
    }


def _quality_of(store: VectorStore, cases: list[dict[str, Any]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    misses: dict[str, list[str]] = {}
    for mode in MODES:
        ranks, latencies = [], []
        by_style: dict[str, list[int | None]] = {}
        for case in cases:
            t0 = time.perf_counter()
            docs = store.search(COLLECTION, case["question"], k=DEPTH, mode=mode)
            latencies.append((time.perf_counter() - t0) * 1000)
            rank = first_relevant_rank(docs, case)
            ranks.append(rank)
            by_style.setdefault(case.get("style", "all"), []).append(rank)
            if rank is None or rank > 5:
                misses.setdefault(mode, []).append(case["id"])
        results[mode] = {
            **scores(ranks),
            "median_ms": statistics.median(latencies),
            "by_style": {style: scores(r) | {"n": len(r)} for style, r in sorted(by_style.items())},
        }
    return {"modes": results, "misses_at_5": misses}


class LookupEmbeddings(Embeddings):
    """Vectors computed beforehand, looked up by text: a search pays no embedding."""

    def __init__(self, vectors: dict[str, list[float]], dim: int = DIM) -> None:
        self.vectors = vectors
        self.dim = dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors.get(text) or [1.0] + [0.0] * (self.dim - 1)


def synthetic(n: int, queries: int, seed: int = 7) -> tuple[list[Chunk], np.ndarray, list[str], np.ndarray]:
    """`n` chunks with clustered unit vectors and Zipf-worded texts, and `queries` query texts and vectors."""
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((max(8, n // 250), DIM)).astype(np.float32)
    vectors = centroids[rng.integers(len(centroids), size=n)] + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocabulary = [f"w{i}" for i in range(20_000)]

    def words(count: int) -> str:
        return " ".join(vocabulary[i % len(vocabulary)] for i in rng.zipf(1.25, count))

    chunks = [
        Chunk(
            chunk_id=str(uuid.UUID(int=i + 1)), source=f"doc{i % SOURCES}.md", title=f"Doc {i % SOURCES}",
            section=None, page=None, text=words(60), ingested_at="2026-01-01T00:00:00+00:00",
            content_hash=f"h{i % SOURCES}", position=i,
        )
        for i in range(n)
    ]  # fmt: skip
    picks = rng.integers(n, size=queries)
    query_vectors = vectors[picks] + 0.1 * rng.standard_normal((queries, DIM)).astype(np.float32)
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    query_texts = [f"{words(5)} q{i}" for i in range(queries)]
    return chunks, vectors, query_texts, query_vectors


def scale(sizes: tuple[int, ...], queries: int, slow_queries: int) -> dict[str, Any]:
    """Ingest and query figures per store and size (see the module docstring)."""
    results: dict[str, Any] = {}
    sparse = SparseEncoder()
    for n in sizes:
        chunks, vectors, query_texts, query_vectors = synthetic(n, queries)
        dense = vectors.tolist()
        sparse_vectors = sparse.encode_documents(c["text"] for c in chunks)
        lookup = LookupEmbeddings(dict(zip(query_texts, query_vectors.tolist(), strict=True)))
        filters = {"source": ["doc1.md", "doc2.md", "doc3.md"]}
        with tempfile.TemporaryDirectory(prefix="wb-bench-scale-") as tmp:
            stores = open_stores(Path(tmp), lookup)
            for name, store in stores.items():
                store.ensure_collection(COLLECTION)
                started = time.perf_counter()
                store.write(COLLECTION, chunks, dense, sparse_vectors)  # type: ignore[attr-defined]  # batched inside
                ingest_s = time.perf_counter() - started
                assert store.count(COLLECTION) == n
                asked = query_texts[: slow_queries if name == "local" and n > 5_000 else queries]
                row: dict[str, Any] = {"ingest_points_per_s": n / ingest_s, "queries": len(asked)}
                for label, wanted in (("hybrid", None), ("hybrid_filtered", filters)):
                    times = []
                    for text in asked:
                        t0 = time.perf_counter()
                        store.search(COLLECTION, text, k=5, filters=wanted)
                        times.append((time.perf_counter() - t0) * 1000)
                    row[f"{label}_p50_ms"] = statistics.median(times)
                    row[f"{label}_p99_ms"] = float(np.percentile(times, 99))
                results.setdefault(str(n), {})[name] = row
                store.close()
    return results


def run(corpus: Path, qa_path: Path, threads: int | None, only: str | None, sizes: tuple[int, ...]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if only in (None, "quality"):
        figures["quality"] = quality(corpus, qa_path, threads)
    if only in (None, "scale"):
        figures["scale"] = scale(sizes, queries=50, slow_queries=10)
    return figures


def print_table(figures: dict[str, Any]) -> None:
    if "quality" in figures:
        print_quality(figures["quality"])
    if "scale" in figures:
        print_scale(figures["scale"])


def print_quality(figures: dict[str, Any]) -> None:
    """Recall and MRR per store and mode, with ratios against dense (and each store's difference from local)."""
    ingest = figures["ingest"]
    print(f"corpus {figures['corpus']}: {ingest['files']} files, {ingest['chunks']} chunks", end=", ")
    print(f"{figures['questions']} questions")
    print(f"model load {figures['model_load_s']:.2f} s")
    print(
        f"ingest {ingest['seconds']:.2f} s = {ingest['chunks_per_s']:.1f} chunks/s "
        f"(dense embedding {ingest['embedding_s']:.2f} s, the rest parsing, BM25 and the store's writes)"
    )
    metrics = ("recall@1", "recall@5", "mrr@10")
    for store, result in figures["stores"].items():
        print(f"\n[{store}]")
        base = result["modes"]["dense"]
        print(f"{'mode':<8}" + "".join(f"{m:>18}" for m in metrics) + f"{'median ms':>12}")
        for mode, row in result["modes"].items():
            cells = "".join(f"{row[m]:>9.3f} (x{row[m] / base[m] if base[m] else float('nan'):4.2f})" for m in metrics)
            print(f"{mode:<8}{cells}{row['median_ms']:>12.1f}")
        for mode, ids in result["misses_at_5"].items():
            print(f"  missed at 5 by {mode}: {' '.join(ids)}")
        for note in diagnose(result["modes"]):
            print(f"note: {note}")
    local = figures["stores"].get("local")
    for store, result in figures["stores"].items():
        if store == "local" or local is None:
            continue
        deltas = [
            f"{mode} {m} {result['modes'][mode][m] - local['modes'][mode][m]:+.3f}" for mode in MODES for m in metrics
        ]
        print(f"\n{store} - local: " + ", ".join(deltas))


def print_scale(figures: dict[str, Any]) -> None:
    """Ingest and query figures per size and store, with ratios against local mode."""
    print("\nscale (synthetic chunks; embedding excluded): ingest points/s, hybrid query p50 / p99 ms")
    header = f"{'points':>8} {'store':<7}{'ingest/s':>10}{'ratio':>8}{'hybrid p50':>12}{'p99':>8}{'filtered p50':>14}"
    print(header + f"{'p99':>8}{'speed-up p50':>14}")
    for size, stores in figures.items():
        local = stores.get("local")
        for name, row in stores.items():
            ingest_ratio = row["ingest_points_per_s"] / local["ingest_points_per_s"] if local else float("nan")
            speedup = local["hybrid_filtered_p50_ms"] / row["hybrid_filtered_p50_ms"] if local else float("nan")
            print(
                f"{int(size):>8} {name:<7}{row['ingest_points_per_s']:>10.0f}{ingest_ratio:>7.1f}x"
                f"{row['hybrid_p50_ms']:>12.2f}{row['hybrid_p99_ms']:>8.2f}{row['hybrid_filtered_p50_ms']:>14.2f}"
                f"{row['hybrid_filtered_p99_ms']:>8.2f}{speedup:>13.1f}x  ({row['queries']} queries)"
            )


def diagnose(modes: dict[str, Any]) -> list[str]:
    """Explain a hybrid score below the better single mode, if any."""
    notes = []
    for metric in ("recall@1", "recall@5", "mrr@10"):
        best = max(("dense", "sparse"), key=lambda m: modes[m][metric])
        if modes["hybrid"][metric] < modes[best][metric]:
            notes.append(
                f"hybrid {metric} {modes['hybrid'][metric]:.3f} is below {best} alone ({modes[best][metric]:.3f}). "
                "RRF uses ranks only: when one list has the answer at rank 1 and the other ranks a different chunk "
                "first, the two tie and the order between them is arbitrary; an answer the weaker list misses "
                "entirely can also fall behind chunks that both lists rank moderately."
            )
    return notes


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--corpus", type=Path, default=ROOT / "datasets" / "corpus")
    parser.add_argument("--qa", type=Path, default=ROOT / "datasets" / "qa.jsonl")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all cores)")
    parser.add_argument("--only", choices=["quality", "scale"], default=None)
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES), help="comma-separated point counts")
    args = parser.parse_args(argv)
    sizes = tuple(int(n) for n in args.sizes.split(",") if n.strip())
    figures = run(args.corpus.resolve(), args.qa, args.threads, args.only, sizes)
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
    else:
        print_table(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

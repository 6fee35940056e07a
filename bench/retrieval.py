"""Retrieval benchmark: ingest the sample corpus with MiniLM into a fresh local Qdrant, then measure recall@1,
recall@5 and MRR@10 of dense, sparse and hybrid search over ``datasets/qa.jsonl``.

    .venv/bin/python bench/retrieval.py [--json] [--threads N]

A retrieved chunk is relevant when it comes from the question's source file and contains one of its facts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient

from workbench.documents import RetrievedDoc, SearchMode
from workbench.ingest import ingest_paths
from workbench.providers.minilm import MiniLMEmbeddings
from workbench.providers.vectorstore import QdrantStore

ROOT = Path(__file__).resolve().parents[1]
MODES: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")
DEPTH = 10
COLLECTION = "bench"


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


def run(corpus: Path, qa_path: Path, threads: int | None) -> dict[str, Any]:
    """Ingest, query every case in every mode, and return all figures."""
    cases = [json.loads(line) for line in qa_path.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        embeddings = TimedEmbeddings(threads=threads)
        store = QdrantStore(QdrantClient(path=tmp), embeddings)
        started = time.perf_counter()
        store.ensure_collection(COLLECTION)  # loads the model (dimension probe)
        load_s = time.perf_counter() - started
        embeddings.seconds = 0.0
        report = ingest_paths(store, [corpus], COLLECTION)
        embedding_s = embeddings.seconds
        if report.failures:
            raise SystemExit(f"ingest failed: {report.failures}")
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
        "modes": results,
        "misses_at_5": misses,
    }


def print_table(figures: dict[str, Any]) -> None:
    """Human-readable report with ratios against dense."""
    ingest = figures["ingest"]
    print(f"corpus {figures['corpus']}: {ingest['files']} files, {ingest['chunks']} chunks", end=", ")
    print(f"{figures['questions']} questions")
    print(f"model load {figures['model_load_s']:.2f} s")
    print(
        f"ingest {ingest['seconds']:.2f} s = {ingest['chunks_per_s']:.1f} chunks/s "
        f"(dense embedding {ingest['embedding_s']:.2f} s, the rest parsing, BM25 and Qdrant writes)"
    )
    print()
    metrics = ("recall@1", "recall@5", "mrr@10")
    base = figures["modes"]["dense"]
    print(f"{'mode':<8}" + "".join(f"{m:>18}" for m in metrics) + f"{'median ms':>12}")
    for mode, row in figures["modes"].items():
        cells = "".join(f"{row[m]:>9.3f} (x{row[m] / base[m] if base[m] else float('nan'):4.2f})" for m in metrics)
        print(f"{mode:<8}{cells}{row['median_ms']:>12.1f}")
    print()
    styles = sorted(next(iter(figures["modes"].values()))["by_style"])
    print("recall@5 by question style: " + ", ".join(styles))
    for mode, row in figures["modes"].items():
        parts = [f"{s} {row['by_style'][s]['recall@5']:.2f} (n={row['by_style'][s]['n']})" for s in styles]
        print(f"  {mode:<8}" + "  ".join(parts))
    for mode, ids in figures["misses_at_5"].items():
        print(f"  missed at 5 by {mode}: {' '.join(ids)}")
    for note in diagnose(figures):
        print(f"\nnote: {note}")


def diagnose(figures: dict[str, Any]) -> list[str]:
    """Explain a hybrid score below the better single mode, if any."""
    notes = []
    modes = figures["modes"]
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
    args = parser.parse_args(argv)
    figures = run(args.corpus.resolve(), args.qa, args.threads)
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
    else:
        print_table(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

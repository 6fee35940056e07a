"""Run-log write throughput through the RunLog queue, against row-by-row ``executemany`` into the same schema.

Enqueues N runs (``log_run``) and E events (``log_events``, one call per run) from the caller's thread, then
``flush()``; reports the enqueue cost per call on the caller's thread (µs, median and p99), end-to-end rows/s
(first enqueue to everything on disk), and the ratio to a baseline of ``executemany`` writing B run rows one by
one in this process. Usage: ``python bench/runlog_writes.py [--runs 20000] [--events 100000] [--baseline 2000]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from workbench.runlog import EventRecord, RunLog, RunRecord, count_runs
from workbench.runlog.schema import RUN_COLUMNS, connect


def make_runs(n: int, prefix: str) -> list[RunRecord]:
    now = datetime.now(UTC)
    return [
        RunRecord(
            run_id=f"{prefix}{i}",
            graph="chat",
            entry_point="cli",
            session_id=f"s{i % 50}",
            model="fake/bench",
            prompt_version="v1",
            input="What does the workbench log for each run?",
            output="One row per run and one row per node, LLM call and tool call.",
            started_at=now,
            ended_at=now,
            ttft_ms=12.5,
            tokens_in=42,
            tokens_out=17,
            retrieved=[{"chunk_id": f"c{i}", "source": "a.md", "score": 0.5, "dense_score": 0.4, "sparse_score": 1.2}],
            metadata={"bench": True},
        )
        for i in range(n)
    ]


def make_events(runs: list[RunRecord], per_run: int) -> list[list[EventRecord]]:
    now = datetime.now(UTC)
    return [
        [
            EventRecord(r.run_id, seq, f"node{seq}", "node", now, now, 1.25, "ok", {"step": seq})
            for seq in range(per_run)
        ]
        for r in runs
    ]


def queued(path: Path, runs: list[RunRecord], events: list[list[EventRecord]]) -> dict[str, float]:
    """Everything through one RunLog; per-call enqueue cost measured on this (the caller's) thread."""
    run_calls: list[float] = []
    event_calls: list[float] = []
    with RunLog(path) as log:
        log.log_run(RunRecord("warm-up", "bench"))  # first connection + migrations, outside the timing
        log.flush()
        start = time.perf_counter()
        for run, run_events in zip(runs, events, strict=True):
            t0 = time.perf_counter()
            log.log_run(run)
            t1 = time.perf_counter()
            log.log_events(run_events)
            t2 = time.perf_counter()
            run_calls.append(t1 - t0)
            event_calls.append(t2 - t1)
        enqueued = time.perf_counter() - start
        assert log.flush(timeout=300), "flush timed out"
        elapsed = time.perf_counter() - start
        batches = log.batches_written - 1
    rows = len(runs) + sum(len(e) for e in events)
    assert count_runs(path) == len(runs) + 1
    return {
        "rows": rows,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "enqueue_s": enqueued,
        "batches": batches,
        "log_run_us_p50": statistics.median(run_calls) * 1e6,
        "log_run_us_p99": sorted(run_calls)[int(0.99 * len(run_calls))] * 1e6,
        "log_events_us_p50": statistics.median(event_calls) * 1e6,
        "log_events_us_p99": sorted(event_calls)[int(0.99 * len(event_calls))] * 1e6,
    }


def row_by_row(path: Path, runs: list[RunRecord]) -> dict[str, float]:
    """The baseline: one prepared INSERT per row through ``executemany``, one connection, one transaction."""
    import json

    rows = [
        [
            json.dumps(v) if name in ("retrieved", "metadata") else v
            for name, v in ((c, getattr(r, c)) for c in RUN_COLUMNS)
        ]
        for r in runs
    ]
    with connect(path):  # create the schema
        pass
    con = duckdb.connect(str(path))
    placeholders = ", ".join("?" for _ in RUN_COLUMNS)
    start = time.perf_counter()
    con.begin()
    con.executemany(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({placeholders})", rows)
    con.commit()
    elapsed = time.perf_counter() - start
    con.close()
    return {"rows": len(rows), "seconds": elapsed, "rows_per_s": len(rows) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000, help="total events, spread evenly over the runs")
    parser.add_argument("--baseline", type=int, default=2_000, help="rows written one by one for the baseline")
    args = parser.parse_args()

    runs = make_runs(args.runs, "r")
    events = make_events(runs, max(1, args.events // max(1, args.runs)))
    with tempfile.TemporaryDirectory() as tmp:
        base = row_by_row(Path(tmp) / "baseline.duckdb", make_runs(args.baseline, "b"))
        q = queued(Path(tmp) / "runs.duckdb", runs, events)

    print(f"RunLog queue: {q['rows']:,} rows ({args.runs:,} runs + {q['rows'] - args.runs:,} events)")
    print(f"  end to end  {q['seconds']:.2f} s = {q['rows_per_s']:,.0f} rows/s in {q['batches']:.0f} batches")
    print(f"  enqueueing  {q['enqueue_s']:.2f} s on the caller's thread")
    print(f"  log_run     {q['log_run_us_p50']:.1f} µs p50, {q['log_run_us_p99']:.1f} µs p99 per call")
    print(f"  log_events  {q['log_events_us_p50']:.1f} µs p50, {q['log_events_us_p99']:.1f} µs p99 per call")
    rate = f"{base['rows_per_s']:,.0f} rows/s"
    print(f"executemany baseline: {base['rows']:,} runs row by row in {base['seconds']:.2f} s = {rate}")
    print(f"ratio: the queue writes {q['rows_per_s'] / base['rows_per_s']:,.0f}x more rows/s")


if __name__ == "__main__":
    main()

"""Run-log write throughput and the crash journal's cost, against row-by-row ``executemany`` into the same schema.

1. Sustained rows/s: enqueues N runs (``log_run``) and E events (``log_events``, one call per run) from the
   caller's thread, then ``flush()``, once without the journal (the write path before it existed) and once with
   it; reports the enqueue cost per call (µs, median and p99), end-to-end rows/s (first enqueue to everything in
   DuckDB) and the ratio to a baseline of ``executemany`` writing B run rows one by one in this process.
2. Cost per run: T chat-like runs one after another (a ``running`` row, 6 events, the final row), each followed by
   ``await runlog.durable()``, which is what a turn waits for before it tells its client ``done``; reports that
   wait (ms, p50 / p99) with ``synchronous=NORMAL`` (survives kill -9, the default) and ``FULL`` (survives power
   loss too).

Usage: ``python bench/runlog_writes.py [--runs 20000] [--events 100000] [--baseline 2000] [--turns 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from workbench.runlog import EventRecord, RunLog, RunRecord, count_runs
from workbench.runlog.journal import Synchronous
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


def queued(path: Path, runs: list[RunRecord], events: list[list[EventRecord]], journal: bool) -> dict[str, float]:
    """Everything through one RunLog; per-call enqueue cost measured on this (the caller's) thread."""
    run_calls: list[float] = []
    event_calls: list[float] = []
    with RunLog(path, journal=journal) as log:
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


def per_turn(path: Path, turns: int, synchronous: Synchronous) -> dict[str, float]:
    """``turns`` chat-like runs in sequence, each waiting for ``durable()`` as a turn does before ``done``."""
    waits: list[float] = []

    async def main(log: RunLog) -> None:
        for i in range(turns):
            run = make_runs(1, f"t{i}-")[0]
            log.log_run(RunRecord(run.run_id, "chat", status="running", started_at=run.started_at))
            log.log_events(make_events([run], 6)[0])
            log.log_run(run)
            t0 = time.perf_counter()
            assert await log.durable()
            waits.append(time.perf_counter() - t0)

    with RunLog(path, synchronous=synchronous) as log:
        log.flush()
        start = time.perf_counter()
        asyncio.run(main(log))
        elapsed = time.perf_counter() - start
        assert log.flush(timeout=300)
    waits.sort()
    return {
        "turns_per_s": turns / elapsed,
        "durable_ms_p50": statistics.median(waits) * 1e3,
        "durable_ms_p99": waits[int(0.99 * len(waits))] * 1e3,
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
    parser.add_argument("--turns", type=int, default=2_000, help="runs in sequence for the per-run journal cost")
    args = parser.parse_args()

    runs = make_runs(args.runs, "r")
    events = make_events(runs, max(1, args.events // max(1, args.runs)))
    with tempfile.TemporaryDirectory() as tmp:
        base = row_by_row(Path(tmp) / "baseline.duckdb", make_runs(args.baseline, "b"))
        plain = queued(Path(tmp) / "plain.duckdb", runs, events, journal=False)
        journaled = queued(Path(tmp) / "runs.duckdb", make_runs(args.runs, "j"), events_for("j", runs, events), True)
        normal = per_turn(Path(tmp) / "turns.duckdb", args.turns, "NORMAL")
        full = per_turn(Path(tmp) / "turns-full.duckdb", args.turns, "FULL")

    total = f"{plain['rows']:,} rows ({args.runs:,} runs + {plain['rows'] - args.runs:,} events)"
    print(f"RunLog queue, sustained: {total}")
    for name, q in (("without journal", plain), ("with journal", journaled)):
        print(f"  {name:<16} {q['seconds']:6.2f} s = {q['rows_per_s']:>9,.0f} rows/s in {q['batches']:.0f} batches;"
              f" enqueueing {q['enqueue_s']:.2f} s; log_run {q['log_run_us_p50']:.1f} µs p50 /"
              f" {q['log_run_us_p99']:.1f} µs p99, log_events {q['log_events_us_p50']:.1f} /"
              f" {q['log_events_us_p99']:.1f} µs")  # fmt: skip
    print(f"  the journal keeps {journaled['rows_per_s'] / plain['rows_per_s']:.2f}x of the rows/s without it")
    print(f"Cost per run ({args.turns:,} chat-like runs of 8 rows in sequence, each then awaiting durable()):")
    for name, t in (("synchronous=NORMAL", normal), ("synchronous=FULL", full)):
        print(f"  {name:<19} durable() {t['durable_ms_p50']:.2f} ms p50, {t['durable_ms_p99']:.2f} ms p99;"
              f" {t['turns_per_s']:,.0f} runs/s")  # fmt: skip
    rate = f"{base['rows_per_s']:,.0f} rows/s"
    print(f"executemany baseline: {base['rows']:,} runs row by row in {base['seconds']:.2f} s = {rate}")
    print(f"ratio: the queue writes {plain['rows_per_s'] / base['rows_per_s']:,.0f}x (with journal"
          f" {journaled['rows_per_s'] / base['rows_per_s']:,.0f}x) more rows/s")  # fmt: skip


def events_for(prefix: str, runs: list[RunRecord], events: list[list[EventRecord]]) -> list[list[EventRecord]]:
    """The same events, for the runs renamed with ``prefix``."""
    return [[EventRecord(f"{prefix}{i}", e.seq, e.node, e.kind, e.started_at, e.ended_at, e.duration_ms, e.status,
                         e.detail) for e in run_events] for i, run_events in enumerate(events)]  # fmt: skip


if __name__ == "__main__":
    main()

"""What a session's per-step checkpoints cost a chat turn, against saving once per turn, in one process.

Sessions keep a checkpoint after every step of a turn (LangGraph ``durability="async"``) so that their history can
be read and forked at any step; before, a turn was saved once, when it ended (``"exit"``). This runs the same chat
turns (the extractive baseline over the bundled corpus, retrieval included, so a turn is as short as a real one
gets and the checkpoint writes weigh the most) on a SQLite checkpointer under each mode, alternating the modes
turn by turn so both see the same machine, and prints per mode: the turn's wall time p50/p95, checkpoints and
database bytes per turn; then, for the per-step mode, how long reading one session's history and listing the
graph's sessions take.

Run: ``.venv/bin/python bench/session_checkpoints.py [--sessions 20] [--turns 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = ["How do I configure the data folder?", "What is hybrid search?", "Which port does the server use?"]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(sessions: int, turns: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    os.environ["WORKBENCH_HOME"] = str(home)
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from workbench.ingest.corpus import index_corpus_if_empty
    from workbench.resources import Resources
    from workbench.runtime import local
    from workbench.runtime.local import LocalRuntime
    from workbench.settings import Settings
    from workbench.turns.chat import ChatService, TurnRequest

    resources = Resources(Settings(home=home, llm="extractive"))
    await index_corpus_if_empty(resources.store, resources.settings)
    modes = ("exit", "async")
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    async with (
        AsyncSqliteSaver.from_conn_string(str(home / "exit.sqlite")) as exit_saver,
        AsyncSqliteSaver.from_conn_string(str(home / "async.sqlite")) as async_saver,
    ):
        services = {
            "exit": ChatService(resources, LocalRuntime(exit_saver, resources=resources)),
            "async": ChatService(resources, LocalRuntime(async_saver, resources=resources)),
        }
        for mode in modes:  # warm-up: models, index, graph compiled
            local.SESSION_DURABILITY = mode  # type: ignore[assignment]
            [e async for e in services[mode].stream(TurnRequest(QUESTIONS[0], "warm-up", entry_point="bench"))]
        for turn in range(turns):
            for session in range(sessions):
                for mode in modes if (turn + session) % 2 == 0 else reversed(modes):
                    local.SESSION_DURABILITY = mode  # type: ignore[assignment]
                    request = TurnRequest(QUESTIONS[turn % len(QUESTIONS)], f"s{session}", entry_point="bench")
                    started = time.perf_counter()
                    [e async for e in services[mode].stream(request)]
                    times[mode].append(time.perf_counter() - started)
        runtime = services["async"].runtime
        started = time.perf_counter()
        history = await runtime.history("chat", "s0")
        history_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        listed = await runtime.threads("chat", limit=200)
        threads_ms = (time.perf_counter() - started) * 1000
    report(home, times, sessions, turns)
    print(f"  history of a {turns}-turn session: {len(history)} checkpoints in {history_ms:.1f} ms")
    print(f"  sessions listed: {len(listed)} of {sessions + 1} in {threads_ms:.1f} ms")


def report(home: Path, times: dict[str, list[float]], sessions: int, turns: int) -> None:
    total = sessions * turns
    print(f"{sessions} sessions x {turns} turns per mode, extractive model, SQLite checkpointer")
    p50s = {}
    for mode, spent in times.items():
        path = home / f"{mode}.sqlite"
        with sqlite3.connect(path) as con:
            checkpoints = con.execute("SELECT count(*) FROM checkpoints").fetchone()[0] - 1  # the warm-up's
        p50s[mode] = quantile(spent, 0.5) * 1000
        wal = Path(f"{path}-wal")
        size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        print(
            f"  {mode:<6} turn p50 {p50s[mode]:6.1f} ms  p95 {quantile(spent, 0.95) * 1000:6.1f} ms"
            f"  mean {statistics.fmean(spent) * 1000:6.1f} ms"
            f"  checkpoints/turn {checkpoints / total:4.1f}  bytes/turn {size / (total + 1):8.0f}"
        )
    print(f"  per-step / once-per-turn turn p50: {p50s['async'] / p50s['exit']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.turns))

"""What tracing costs a chat turn on the server: CPU per turn with spans on and off.

Two real ``workbench serve`` processes on one home each, one with tracing off (``OTEL_SDK_DISABLED=true``: the
run rows only, no spans), one with it on (the default: every run's spans built, journaled and written to DuckDB).
Each takes the same chat turns over /ws/chat (the scripted ``fake/stream`` model, so the model costs no CPU and
what is measured is the workbench's own work: the graph, the protocol, the run log); the server's CPU time (user
+ system, all its threads) is read from /proc before and after each block of turns. The two servers take blocks in
turn, so noise from other jobs on the machine falls on both. Prints the CPU per turn of each (median over blocks)
and the ratio on/off. Usage: ``python bench/tracing.py [--turns 40] [--blocks 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import psutil
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import Server  # noqa: E402

MODEL = "fake/stream"
QUESTION = "What is hybrid search?"


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def block(server: Server, turns: int, tag: str) -> float:
    """CPU milliseconds the server spent per turn over ``turns`` turns (each its own session)."""
    assert server.process is not None
    before = cpu_s(server.process.pid)
    with connect(f"{server.ws_url}/ws/chat", open_timeout=30) as ws:
        for turn in range(turns):
            ws.send(
                json.dumps({"type": "user_message", "content": QUESTION, "session_id": f"{tag}-{turn}", "model": MODEL})
            )
            while True:
                message = json.loads(ws.recv(timeout=60))
                if message.get("type") == "done":
                    assert message["status"] == "ok", message
                    break
                if message.get("type") == "error":
                    raise RuntimeError(message)
    return (cpu_s(server.process.pid) - before) * 1000 / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40, help="turns per block")
    parser.add_argument("--blocks", type=int, default=5, help="blocks per server (after one warm-up block each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        servers = {}
        for name, env in (("off", {"OTEL_SDK_DISABLED": "true"}), ("on", {})):
            home = Path(tmp) / name
            home.mkdir()
            servers[name] = Server(
                home, {"WORKBENCH_TESTING": "true", "WORKBENCH_LLM": MODEL, "OTEL_TRACES_EXPORTER": "none", **env}
            ).start()
        try:
            for name, server in servers.items():
                block(server, 10, f"warm-{name}")  # first-turn costs (imports, index) are not per-turn costs
            figures: dict[str, list[float]] = {"off": [], "on": []}
            for number in range(args.blocks):
                for name, server in servers.items():
                    figures[name].append(block(server, args.turns, f"{name}-{number}"))
            spans = _spans_per_turn(servers["on"].home)
        finally:
            for server in servers.values():
                server.stop()
    off, on = statistics.median(figures["off"]), statistics.median(figures["on"])
    print(f"chat turns over /ws/chat ({MODEL}), {args.blocks} blocks of {args.turns} turns per server")
    print(f"  spans off: {off:.2f} ms CPU per turn  (blocks: {', '.join(f'{v:.2f}' for v in figures['off'])})")
    print(f"  spans on:  {on:.2f} ms CPU per turn  (blocks: {', '.join(f'{v:.2f}' for v in figures['on'])})")
    print(f"  ratio on/off: {on / off:.3f}  ({(on / off - 1) * 100:+.1f} %), {spans:.1f} spans per turn")


def _spans_per_turn(home: Path) -> float:
    from workbench.runlog.schema import connect as connect_db

    with connect_db(home / "runs.duckdb", read_only=True) as con:
        row = con.execute("SELECT count(*) / count(DISTINCT run_id) FROM spans").fetchone()
    return float(row[0]) if row else 0.0


if __name__ == "__main__":
    main()

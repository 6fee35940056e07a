"""Per-token latency the /ws/chat server adds, against streaming the same graph in-process.

A fake model emits one token every DELAY seconds; for token i of a turn, its lateness is
``arrival_i - arrival_0 - i * DELAY`` (how far behind the model's own schedule it reaches the consumer).
In-process, the consumer is ``ChatService.stream``; over the protocol, N concurrent WebSocket clients on a real
uvicorn server. Prints p50/p99 of both and their ratio. Usage: ``python bench/ws_latency.py [--sessions 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import running_server  # noqa: E402

MODEL = "fake/stream"
DELAY = 0.01  # FAKE_MODELS["stream"] in workbench.providers.llm


def lateness(arrivals: list[float]) -> list[float]:
    return [(t - arrivals[0] - i * DELAY) * 1000 for i, t in enumerate(arrivals)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def in_process(turns: int, sessions: int) -> list[float]:
    from langgraph.checkpoint.memory import InMemorySaver

    from workbench.events import TokenEvent
    from workbench.resources import Resources
    from workbench.runtime import LocalRuntime
    from workbench.settings import Settings
    from workbench.turns.chat import ChatService, TurnRequest

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), llm=MODEL, testing=True)
        resources = Resources(settings)
        from workbench.ingest.corpus import index_corpus_if_empty

        await index_corpus_if_empty(resources.store, resources.settings)
        service = ChatService(resources, LocalRuntime(InMemorySaver(), resources=resources))

        async def session(n: int) -> list[float]:
            out: list[float] = []
            for t in range(turns):
                arrivals = []
                async for event in service.stream(TurnRequest("What is hybrid search?", f"s{n}-{t}", model=MODEL)):
                    if isinstance(event, TokenEvent):
                        arrivals.append(time.perf_counter())
                out += lateness(arrivals)
            return out

        results = await asyncio.gather(*(session(n) for n in range(sessions)))
        resources.close()
    return [x for r in results for x in r]


async def over_websocket(url: str, turns: int, sessions: int) -> list[float]:
    async def session(n: int) -> list[float]:
        out: list[float] = []
        async with connect(f"{url}/ws/chat") as ws:
            for t in range(turns):
                msg = {"type": "user_message", "content": "What is hybrid search?", "session_id": f"w{n}-{t}"}
                await ws.send(json.dumps({**msg, "model": MODEL}))
                arrivals = []
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("role") == "assistant":
                        arrivals.append(time.perf_counter())
                    elif message.get("type") == "done":
                        break
                out += lateness(arrivals)
        return out

    results = await asyncio.gather(*(session(n) for n in range(sessions)))
    return [x for r in results for x in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    base = asyncio.run(in_process(args.turns, args.sessions))
    with (
        tempfile.TemporaryDirectory() as home,
        running_server(Path(home), WORKBENCH_LLM=MODEL, WORKBENCH_TESTING="true") as server,
    ):
        asyncio.run(over_websocket(server.ws_url, 1, 1))  # warm up
        ws = asyncio.run(over_websocket(server.ws_url, args.turns, args.sessions))
    print(f"{args.sessions} concurrent sessions x {args.turns} turns, fake model at 1 token / {DELAY * 1000:.0f} ms")
    print(f"{'':24}{'p50 ms':>10}{'p99 ms':>10}{'tokens':>8}")
    for name, values in (("in-process (baseline)", base), ("/ws/chat (uvicorn)", ws)):
        print(f"{name:24}{pct(values, 0.5):10.2f}{pct(values, 0.99):10.2f}{len(values):8}")
    added50 = pct(ws, 0.5) - pct(base, 0.5)
    added99 = pct(ws, 0.99) - pct(base, 0.99)
    print(f"server-added lateness per token: p50 {added50:+.2f} ms, p99 {added99:+.2f} ms")
    print(f"ratio ws/in-process (mean lateness + token interval): "
          f"{(statistics.mean(ws) + DELAY * 1000) / (statistics.mean(base) + DELAY * 1000):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()

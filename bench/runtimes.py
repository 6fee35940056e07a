"""Chat throughput and time to first token of the graph runtimes, side by side, in one run.

N concurrent clients (``--sockets 20,200``) each run ``--turns`` turns (default 2) one after another on a session
of their own, with the scripted model ``fake/stream`` (100 tokens, 10 ms apart), against five configurations:

- ``inprocess``  in-process graph: ``ChatService`` on ``LocalRuntime(InMemorySaver())`` in this process;
- ``sqlite``     one ``workbench serve``, sessions in SQLite, N ``/ws/chat`` WebSocket clients;
- ``postgres``   two ``workbench serve`` (own homes) on one fresh Postgres database, clients split round-robin;
- ``remote``     one gateway with ``WORKBENCH_GRAPH_SERVER`` on a real ``langgraph dev`` (sharing its home);
- ``sdk``        the same ``langgraph dev`` driven by the LangGraph SDK directly (one client and thread each).

Per configuration and N: tokens/s = every token received / wall time of the whole batch (WebSockets are opened
and SDK threads created before the clock starts); TTFT p50/p99 = send -> first token over all turns, in ms;
tokens received / expected; errors (failed turns) with the first one's text. Each configuration gets a warm-up
turn first. Then every configuration's tokens/s and TTFT p50 as ratios to the in-process graph, for each N.

Run: ``.venv/bin/python bench/runtimes.py [--sockets 20,200] [--turns 2] [--only sqlite,sdk] [--logs DIR]``
(``postgres`` needs ``bash scripts/postgres.sh start``; ``--logs`` keeps the servers' logs). Every server and
temporary folder it starts is removed at the end, on failure and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager as AsyncCM
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path

from langgraph_sdk import get_client
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import postgres_database  # noqa: E402
from tests.integration.conftest import Server, free_port, run_cli, server_config  # noqa: E402
from tests.servers import wait_until_answers  # noqa: E402
from workbench.providers.llm import FAKE_MODELS  # noqa: E402

MODEL = "fake/stream"
TOKENS = len(FAKE_MODELS["stream"]["default"].split())
QUESTION = "What is hybrid search?"
TURN_TIMEOUT_S = 300
ENV = {  # for every process: the scripted models, and the per-client-address limits out of the bench's way
    "WORKBENCH_TESTING": "true", "WORKBENCH_LLM": MODEL, "WORKBENCH_WARM_SPEECH": "false",
    "WORKBENCH_MAX_TURNS_PER_CLIENT": "1000", "WORKBENCH_MAX_MESSAGES_PER_S": "1000",
}  # fmt: skip
CONFIGS = {
    "inprocess": "in-process graph", "sqlite": "gateway, SQLite", "postgres": "gateway, Postgres ×2",
    "remote": "gateway → langgraph dev", "sdk": "langgraph dev via SDK",
}  # fmt: skip

Tokens = Callable[[], AsyncIterator[str]]  # one turn: sends it, yields its tokens, raises when it fails
Client = Callable[[int], AsyncCM[Tokens]]  # client i, connected for the block
Clients = Callable[[str], Client]  # the clients of one batch, their sessions named after the tag


class TurnFailed(Exception): ...


@dataclass
class Turn:
    ttft_ms: float | None
    tokens: int
    error: str | None = None


@dataclass
class Result:
    config: str
    n: int
    wall_s: float
    turns: list[Turn]

    @property
    def tokens(self) -> int:
        return sum(t.tokens for t in self.turns)

    @property
    def rate(self) -> float:
        return self.tokens / self.wall_s

    @property
    def errors(self) -> list[str]:
        return [t.error for t in self.turns if t.error]

    def ttft(self, q: float) -> float:
        values = sorted(t.ttft_ms for t in self.turns if t.ttft_ms is not None)
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


async def timed(turn: Tokens) -> Turn:
    start, first, count, error = time.perf_counter(), 0.0, 0, None
    try:
        async with asyncio.timeout(TURN_TIMEOUT_S):
            async for _ in turn():
                first = first or time.perf_counter()
                count += 1
    except Exception as exc:
        error = describe(exc)
    return Turn((first - start) * 1000 if first else None, count, error)


async def batch(config: str, client: Client, n: int, turns: int) -> Result:
    """N clients connect, then (the clock started) run their turns concurrently."""

    async def run(turn: Tokens | BaseException) -> list[Turn]:
        if isinstance(turn, BaseException):  # it could not connect
            return [Turn(None, 0, describe(turn))] * turns
        return [await timed(turn) for _ in range(turns)]

    async with contextlib.AsyncExitStack() as stack:
        opened = await asyncio.gather(*(stack.enter_async_context(client(i)) for i in range(n)), return_exceptions=True)
        start = time.perf_counter()
        per_client = await asyncio.gather(*(run(turn) for turn in opened))
        wall_s = time.perf_counter() - start
    return Result(config, n, wall_s, [t for client_turns in per_client for t in client_turns])


async def measure(config: str, clients: Clients, sockets: list[int], turns: int) -> list[Result]:
    warm = await batch(config, clients("warm"), 2, 1)  # models loaded, both gateways reached
    if warm.errors:
        print(f"  {config}: warm-up failed: {warm.errors[0]}", file=sys.stderr)
    results = []
    for n in sockets:
        results.append(await batch(config, clients(f"n{n}"), n, turns))
        print(f"  {config} N={n}: {results[-1].wall_s:.1f} s", file=sys.stderr)
    return results


# --- clients --------------------------------------------------------------------------------------------------


def ws_clients(urls: list[str], tag: str) -> Client:
    @asynccontextmanager
    async def client(i: int) -> AsyncIterator[Tokens]:
        async with connect(f"{urls[i % len(urls)]}/ws/chat", open_timeout=60) as ws:
            message = {"type": "user_message", "content": QUESTION, "session_id": f"{tag}-{i}", "model": MODEL}

            async def turn() -> AsyncIterator[str]:
                await ws.send(json.dumps(message))
                error = None
                while True:
                    event = json.loads(await ws.recv())
                    if event.get("role") == "assistant":
                        yield event["content"]
                    elif event.get("type") == "error":
                        error = f"{event['code']}: {event['message']}"
                        if event.get("run_id") is None or event["code"] == "busy":  # no done follows
                            raise TurnFailed(error)
                    elif event.get("type") == "done":
                        if error or event["status"] != "ok":
                            raise TurnFailed(error or f"done with status {event['status']}")
                        return

            yield turn

    return client


def sdk_clients(url: str, tag: str) -> Client:
    @asynccontextmanager
    async def client(i: int) -> AsyncIterator[Tokens]:
        sdk = get_client(url=url, api_key=None)
        try:
            thread = (await sdk.threads.create())["thread_id"]

            async def turn() -> AsyncIterator[str]:
                stream = sdk.runs.stream(
                    thread, "chat", input={"messages": [{"role": "human", "content": QUESTION}]},
                    stream_mode=["messages-tuple"], multitask_strategy="reject",
                )  # fmt: skip
                async for part in stream:
                    if part.event == "messages":
                        chunk, meta = part.data
                        ours = meta.get("langgraph_node") == "generate" and chunk.get("type") == "AIMessageChunk"
                        if ours and chunk.get("content"):  # the last chunk carries only usage (the gateway skips it)
                            yield chunk["content"]
                    elif part.event == "error":
                        raise TurnFailed(str(part.data))

            yield turn
        finally:
            await sdk.http.client.aclose()

    return client


async def in_process(sockets: list[int], turns: int) -> list[Result]:
    from langgraph.checkpoint.memory import InMemorySaver

    from workbench.events import TokenEvent
    from workbench.ingest.corpus import index_corpus_if_empty
    from workbench.resources import Resources
    from workbench.runtime import LocalRuntime
    from workbench.settings import Settings
    from workbench.turns.chat import ChatService, TurnRequest

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), llm=MODEL, testing=True)
        resources = Resources(settings)
        try:
            await index_corpus_if_empty(resources.store, resources.settings)
            service = ChatService(resources, LocalRuntime(InMemorySaver(), resources=resources))

            def clients(tag: str) -> Client:
                @asynccontextmanager
                async def client(i: int) -> AsyncIterator[Tokens]:
                    async def turn() -> AsyncIterator[str]:
                        async for event in service.stream(TurnRequest(QUESTION, f"{tag}-{i}", model=MODEL)):
                            if isinstance(event, TokenEvent):
                                yield event.content

                    yield turn

                return client

            return await measure("inprocess", clients, sockets, turns)
        finally:
            resources.close()


# --- deployments: each yields the clients of its configurations ------------------------------------------------


@contextmanager
def gateways(homes: list[Path], env: dict[str, str]) -> Iterator[list[str]]:
    with ExitStack() as stack:
        urls = []
        for home in homes:
            home.mkdir(exist_ok=True)
            server = Server(home, env)
            stack.callback(server.stop)
            urls.append(server.start(timeout=300).ws_url)
        yield urls


@contextmanager
def dev_server(home: Path, workdir: Path, jobs: int) -> Iterator[str]:
    """``langgraph dev`` as tests.integration.conftest starts it, with ``jobs`` runs at once."""
    port, logfile = free_port(), home / "langgraph.log"
    with open(logfile, "w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
             "--host", "127.0.0.1", "--port", str(port), "--config", str(server_config(workdir)),
             "--n-jobs-per-worker", str(jobs)],
            cwd=workdir, env={**os.environ, "WORKBENCH_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_answers(f"{url}/ok", process, timeout=300, output=logfile.read_text, interval=0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def deployment(group: str, base: Path, jobs: int) -> Iterator[dict[str, Clients]]:
    """The servers of one group of configurations (GROUPS), for the block: each configuration's clients."""
    with ExitStack() as stack:
        if group == "sqlite":
            yield {"sqlite": partial(ws_clients, stack.enter_context(gateways([base / "home"], {})))}
        elif group == "postgres":  # two gateways, two homes (a local Qdrant folder is one process's), one database
            found = subprocess.run(["bash", "scripts/postgres.sh", "url"], cwd=ROOT, capture_output=True, text=True)
            if found.returncode:
                raise RuntimeError(f"no PostgreSQL ({found.stderr.strip()})")
            env = {"WORKBENCH_CHECKPOINTER_URL": stack.enter_context(postgres_database(found.stdout.strip()))}
            yield {"postgres": partial(ws_clients, stack.enter_context(gateways([base / "a", base / "b"], env)))}
        else:  # as the conformance suite: the corpus ingested first, the dev server sharing the gateway's home
            home, workdir = base / "home", base / "langgraph"
            home.mkdir()
            workdir.mkdir()
            ingested = run_cli(home, "ingest", str(ROOT / "datasets" / "corpus"))
            if ingested.returncode:
                raise RuntimeError(f"workbench ingest failed: {ingested.stderr[-2000:]}")
            url = stack.enter_context(dev_server(home, workdir, jobs))
            urls = stack.enter_context(gateways([home], {"WORKBENCH_GRAPH_SERVER": url}))
            yield {"remote": partial(ws_clients, urls), "sdk": partial(sdk_clients, url)}


GROUPS = {"sqlite": ("sqlite",), "postgres": ("postgres",), "langgraph-dev": ("remote", "sdk")}


@contextmanager
def workspace(name: str, logs: Path | None) -> Iterator[Path]:
    """A temporary folder, its servers' logs copied to ``logs/name`` before it goes."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
        try:
            yield Path(folder)
        finally:
            for log in Path(folder).rglob("*.log") if logs else ():
                target = logs / name / log.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(log, target)


# --- the report -----------------------------------------------------------------------------------------------


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    cpu = f" ({models[0]})" if models else ""
    packages = ", ".join(f"{name} {version(name)}" for name in ("langgraph", "langgraph-api", "langgraph-sdk"))
    return f"machine: {len(os.sched_getaffinity(0))} cores{cpu}, Python {sys.version.split()[0]}; {packages}"


def report(results: list[Result], turns: int) -> None:
    print(f"\n{turns} turn(s) per client on its own session; {MODEL}: {TOKENS} tokens, 10 ms apart")
    print(f"{'configuration':26}{'N':>5}{'wall s':>8}{'tokens/s':>10}{'TTFT p50':>10}{'p99 ms':>9}"
          f"{'tokens recv/exp':>17}{'errors':>8}  first error")  # fmt: skip
    order = list(CONFIGS)
    results = sorted(results, key=lambda r: (r.n, order.index(r.config)))
    for r in results:
        received = f"{r.tokens}/{r.n * turns * TOKENS}"
        print(f"{CONFIGS[r.config]:26}{r.n:>5}{r.wall_s:>8.1f}{r.rate:>10.0f}{r.ttft(0.5):>10.1f}{r.ttft(0.99):>9.1f}"
              f"{received:>17}{len(r.errors):>8}  {r.errors[0] if r.errors else ''}")  # fmt: skip
    for n in sorted({r.n for r in results}):
        base = next((r for r in results if r.n == n and r.config == "inprocess"), None)
        if base is None or not base.rate:
            continue
        print(f"\nN={n}, against the in-process graph:{'tokens/s':>14}{'TTFT p50':>12}")
        for r in (r for r in results if r.n == n):
            print(f"  {CONFIGS[r.config]:36}{r.rate / base.rate:>11.2f}×{r.ttft(0.5) / base.ttft(0.5):>11.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", default="20,200", help="concurrent clients of each batch, comma-separated")
    parser.add_argument("--turns", type=int, default=2, help="turns per client, one after another")
    parser.add_argument("--only", default=",".join(CONFIGS), help=f"configurations to run: {', '.join(CONFIGS)}")
    parser.add_argument("--logs", type=Path, help="copy the servers' logs into this folder")
    args = parser.parse_args()
    sockets = [int(n) for n in args.sockets.split(",")]
    only = [name.strip() for name in args.only.split(",")]
    if unknown := set(only) - set(CONFIGS):
        parser.error(f"unknown configuration(s) {', '.join(sorted(unknown))}; known: {', '.join(CONFIGS)}")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where started with SIGINT ignored
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))  # a kill cleans up as Ctrl-C does
    os.environ.update(ENV)
    print(machine(), flush=True)
    results: list[Result] = []
    if "inprocess" in only:
        print("in-process graph ...", file=sys.stderr)
        results += asyncio.run(in_process(sockets, args.turns))
    for group, names in GROUPS.items():
        if not (wanted := [name for name in names if name in only]):
            continue
        try:
            with workspace(group, args.logs) as base, deployment(group, base, max(sockets)) as clients:
                for name in wanted:
                    print(f"{CONFIGS[name]} ...", file=sys.stderr)
                    results += asyncio.run(measure(name, clients[name], sockets, args.turns))
        except Exception as exc:
            print(f"{group}: failed, skipped: {describe(exc)}", file=sys.stderr)
    report(results, args.turns)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers and folders are gone by now
        sys.exit("interrupted")

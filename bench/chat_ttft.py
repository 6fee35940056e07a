"""Time to first token, generation speed and answer quality of the bundled chat model, step by step.

Every configuration answers the same questions (the first ``--questions`` of ``datasets/qa.jsonl``, each in a new
session) through the real chat service: in-process runtime, hybrid retrieval at the default top-k, the default
bundled model (``WORKBENCH_LOCAL_MODEL``), scored as the chat-rag suite scores (pass, answer quality, words).
Time to first token runs from the turn's start (retrieval included) to the first answer token.

- ``today``: prompt v1 (the passages in the system message), the chunks whole, no warm-up, no prompt lookup;
- ``context``: v1 with the best sentences within ``--budget`` tokens (``context_tokens``);
- ``prefix``: v3 (fixed system message, the passages in the question's message) after a warm-up that loads the
  model and reads the fixed instructions, the chunks whole;
- ``lookup``: v1 with prompt-lookup decoding (``WORKBENCH_LOCAL_LLM_PROMPT_LOOKUP``);
- ``greedy``: v1 with greedy decoding (the others above sample at temperature 0.2, as v1 shipped);
- ``all``: every step together; ``default``: what ships (every step but lookup, see docs/benchmarks.md).

Each runs idle, then (``--load``) beside a second process that keeps one core busy. ``--surfaces`` then times the
shipped default where a user meets it: over ``/ws/chat`` on a real, warm ``workbench serve`` (send to first token
message, each question in a new session) and in ``workbench ask`` (a new process per question: the first token's
time it reports, beside the loading time it reports). Usage:
``python bench/chat_ttft.py [--questions 10] [--budget 160] [--load] [--surfaces]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from evals.chat_rag import DATASET, answer_body, score_answer  # noqa: E402
from workbench.evals.suite import Case  # noqa: E402
from workbench.events import ChatDoneEvent, RetrievalEvent, TokenEvent  # noqa: E402
from workbench.resources import Resources  # noqa: E402
from workbench.runtime import LocalRuntime  # noqa: E402
from workbench.settings import Settings  # noqa: E402
from workbench.turns.chat import ChatService, TurnRequest, warm_chat_model  # noqa: E402

CONFIGS: dict[str, dict] = {
    "today": {"prompt": "v1", "context": 0, "warm": False, "lookup": 0, "temperature": 0.2},
    "context": {"prompt": "v1", "context": None, "warm": False, "lookup": 0, "temperature": 0.2},
    "prefix": {"prompt": "v3", "context": 0, "warm": True, "lookup": 0, "temperature": 0.2},
    "lookup": {"prompt": "v1", "context": 0, "warm": False, "lookup": 10, "temperature": 0.2},
    "greedy": {"prompt": "v1", "context": 0, "warm": False, "lookup": 0, "temperature": 0.0},
    "all": {"prompt": "v3", "context": None, "warm": True, "lookup": 10, "temperature": 0.0},
    "default": {"prompt": "v3", "context": None, "warm": True, "lookup": 0, "temperature": 0.0},
}
HOG = "import time\nwhile True:\n    pass\n"


def cases(limit: int) -> list[Case]:
    rows = [json.loads(line) for line in DATASET.read_text().splitlines() if line.strip()][:limit]
    keys = ("answer", "source", "facts", "style")
    return [Case(r["id"], {"question": r["question"]}, {k: r[k] for k in keys if k in r}) for r in rows]


async def run_config(name: str, knobs: dict, base: Resources, questions: list[Case], budget: int) -> dict:
    update = {"local_llm_prompt_lookup": knobs["lookup"], "local_llm_temperature": knobs["temperature"]}
    settings = base.settings.model_copy(update=update)
    resources = Resources(settings, store=base.store)  # its own models: prompt lookup is a loading option
    service = ChatService(resources, LocalRuntime(InMemorySaver(), resources=resources))
    if knobs["warm"]:
        await asyncio.to_thread(warm_chat_model, resources)
    ttfts, rates, passes, words = [], [], [], []
    for case in questions:
        request = TurnRequest(
            str(case.input["question"]),
            f"bench-{name}-{case.id}-{time.monotonic_ns()}",
            prompt_version=knobs["prompt"],
            context_tokens=budget if knobs["context"] is None else knobs["context"],
            entry_point="eval",
        )
        docs, done, first, count = [], ChatDoneEvent(), None, 0
        started = time.perf_counter()
        async for event in service.stream(request):
            if isinstance(event, RetrievalEvent):
                docs = [d.model_dump() for d in event.documents]
            elif isinstance(event, TokenEvent):
                first = first or time.perf_counter()
                count += 1
            elif isinstance(event, ChatDoneEvent):
                done = event
        ended = time.perf_counter()
        passed, _, _ = score_answer(case, done.answer, docs, done.citations, str(done.citation_mode or ""), 0.5)
        ttfts.append((first or ended) - started)
        if first and count > 1:
            rates.append((count - 1) / max(1e-9, ended - first))
        passes.append(passed)
        words.append(len(answer_body(done.answer).split()))
    return {
        "ttft_p50": statistics.median(ttfts),
        "ttft_p95": p95(ttfts),
        "tokens_per_s": statistics.median(rates) if rates else 0.0,
        "pass_rate": sum(passes) / len(passes),
        "mean_words": statistics.mean(words),
    }


async def measure(configs: list[str], questions: list[Case], budget: int, home: Path) -> dict[str, dict]:
    base = Resources(Settings(_env_file=None, home=home, warm_chat=False))
    from workbench.ingest.corpus import index_corpus_if_empty

    await index_corpus_if_empty(base.store, base.settings)
    results = {}
    for name in configs:
        results[name] = await run_config(name, CONFIGS[name], base, questions, budget)
        print_row(name, results[name])
    base.close()
    return results


def over_socket(home: Path, questions: list[Case]) -> list[float]:
    """Send to first token over /ws/chat on a warm server, one new session per question."""
    from websockets.sync.client import connect

    from tests.integration.conftest import running_server

    def ask(ws_url: str, question: str) -> float:
        with connect(f"{ws_url}/ws/chat", open_timeout=30) as ws:
            started = time.perf_counter()
            ws.send(json.dumps({"type": "user_message", "content": question, "session_id": f"b{time.monotonic_ns()}"}))
            while True:
                message = json.loads(ws.recv(timeout=300))
                if message.get("role") == "assistant" and message.get("content"):
                    return time.perf_counter() - started
                if message.get("type") in ("done", "error"):
                    raise RuntimeError(f"no answer token: {message}")

    with running_server(home, WORKBENCH_WARM_SPEECH="false") as server:
        ask(server.ws_url, "What is Agent Workbench?")  # waits for the warm-up the server started
        return [ask(server.ws_url, str(case.input["question"])) for case in questions]


def in_ask(home: Path, questions: list[Case]) -> tuple[list[float], list[float]]:
    """First-token and loading times ``workbench ask`` reports, one new process per question."""
    import os
    import re

    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    firsts, loads = [], []
    for case in questions:
        out = subprocess.run(
            [sys.executable, "-m", "workbench.cli", "ask", str(case.input["question"])],
            capture_output=True, text=True, env=env, timeout=600, check=True, cwd=ROOT,
        )  # fmt: skip
        firsts.append(float(re.search(r"first token ([\d.]+) s", out.stderr).group(1)))
        loads.append(float(re.search(r"ready in ([\d.]+) s", out.stderr).group(1)))
    return firsts, loads


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def print_surfaces(home: Path, questions: list[Case]) -> None:
    socket = over_socket(home, questions)
    print(f"  /ws/chat (warm server)   TTFT p50 {statistics.median(socket):.2f} s, p95 {p95(socket):.2f} s", flush=True)
    firsts, loads = in_ask(home, questions)
    print(f"  workbench ask            TTFT p50 {statistics.median(firsts):.2f} s, p95 {p95(firsts):.2f} s;"
          f" loading p50 {statistics.median(loads):.2f} s", flush=True)  # fmt: skip


def print_row(name: str, r: dict) -> None:
    print(f"  {name:<9} {r['ttft_p50']:>8.2f} {r['ttft_p95']:>8.2f} {r['tokens_per_s']:>9.1f}"
          f" {r['pass_rate']:>9.2f} {r['mean_words']:>10.1f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--budget", type=int, default=Settings(_env_file=None).local_context_tokens)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--load", action="store_true", help="run again beside a process that keeps one core busy")
    parser.add_argument("--surfaces", action="store_true", help="then time the default over /ws/chat and in ask")
    parser.add_argument("--home", type=Path, help="a WORKBENCH_HOME to reuse (its models/ and index)")
    args = parser.parse_args()
    questions = cases(args.questions)
    configs = [c for c in args.configs.split(",") if c]
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp)
        header = f"  {'config':<9} {'TTFT p50':>8} {'TTFT p95':>8} {'gen tok/s':>9} {'pass rate':>9} {'mean words':>10}"
        print(f"{len(questions)} questions, context budget {args.budget} tokens; idle:\n{header}")
        asyncio.run(measure(configs, questions, args.budget, home))
        if args.surfaces:
            print("the default where a user meets it, idle:")
            print_surfaces(home, questions)
        if args.load:
            hog = subprocess.Popen([sys.executable, "-c", HOG])
            try:
                print(f"beside a second process keeping one core busy:\n{header}")
                asyncio.run(measure(configs, questions, args.budget, home))
                if args.surfaces:
                    print("the default where a user meets it, beside that process:")
                    print_surfaces(home, questions)
            finally:
                hog.kill()


if __name__ == "__main__":
    main()

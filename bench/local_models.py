"""The bundled local chat models side by side: resident memory, time to first token and generation speed on a
RAG-sized prompt (5 chunks of 800 characters, the ingest default), and TTFT against the number of chunks (top_k),
each model in a fresh process (so its RSS is its own), with 1 and with all cores. "TTFT again" repeats the k=5
prompt: llama.cpp reuses the evaluated prefix of the previous prompt, which is what a follow-up turn with the same
system prompt and context gets.

Quality figures (pass rate, fact containment) come from ``workbench eval chat-rag --model local/<name>``; this
script measures what a person waits for. Usage: ``python bench/local_models.py [--models a,b] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, os, sys, time
import psutil
from pathlib import Path
from langchain_core.messages import HumanMessage, SystemMessage
from workbench.providers.llm import ModelRegistry
from workbench.settings import Settings

name, threads, runs, home = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
top_ks = [int(k) for k in sys.argv[5].split(",")]
settings = Settings(_env_file=None, home=Path(home), local_llm_threads=threads or None)
started = time.perf_counter()
model = ModelRegistry(settings).choose(f"local/{name}").model
model.invoke([HumanMessage("Hi")])
load_s = time.perf_counter() - started
CHUNK = ("The workbench server listens on 127.0.0.1 port 8000 by default. " * 13)[:800]  # the ingest chunk size


def prompt(k):
    context = "\\n\\n".join(f"[{i}] (source: corpus/doc{i}.md)\\n{CHUNK}" for i in range(1, k + 1))
    return "Answer the question from the numbered context and cite it like [1].\\n\\n" + context


by_k = {}
for k in top_ks:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for chunk in model.stream([SystemMessage(prompt(k)), HumanMessage("Which port does the server listen on?")]):
            if chunk.content:
                times.append(time.perf_counter() - t0)
                break
    by_k[k] = times
system = prompt(5)
ttfts, rates = [], []
for _ in range(runs):
    t0 = time.perf_counter()
    first, chunks = None, 0
    for chunk in model.stream([SystemMessage(system), HumanMessage("Which port does the server listen on?")]):
        if chunk.content:
            first = first or time.perf_counter()
            chunks += 1
    end = time.perf_counter()
    ttfts.append(first - t0)
    rates.append((chunks - 1) / max(1e-9, end - first))
print(json.dumps({"rss_mib": psutil.Process().memory_info().rss / 2**20, "load_s": load_s, "ttft_s": ttfts,
                  "tokens_per_s": rates, "ttft_by_top_k": by_k}))
"""


def measure(name: str, threads: int, runs: int, home: str, top_ks: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, name, str(threads), str(runs), home, top_ks],
        capture_output=True, text=True, timeout=1800, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b,smollm2-135m")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--home", help="a WORKBENCH_HOME whose models/ cache to reuse (default: a temporary one)")
    parser.add_argument("--top-k", default="1,3,5", help="context sizes (chunks of 800 characters) to time TTFT at")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or tmp
        ks = [int(k) for k in args.top_k.split(",")]
        head = " ".join(f"{f'k={k}':>6}" for k in ks)
        print(f"{'model':<22} {'threads':>7} {'RSS MiB':>8} {'load s':>7} {'TTFT again':>10} {'gen tok/s':>9}"
              f"   TTFT p50 s by top_k: {head}")  # fmt: skip
        for name in args.models.split(","):
            for threads in dict.fromkeys((1, cores)):
                started = time.perf_counter()
                m = measure(name, threads, args.runs, home, args.top_k)
                by_k = " ".join(f"{statistics.median(m['ttft_by_top_k'][str(k)]):>6.2f}" for k in ks)
                print(f"{name:<22} {threads:>7} {m['rss_mib']:>8.0f} {m['load_s']:>7.1f}"
                      f" {statistics.median(m['ttft_s']):>10.2f} {statistics.median(m['tokens_per_s']):>9.1f}"
                      f"   {' ' * 21}{by_k}   ({time.perf_counter() - started:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()

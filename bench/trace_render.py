"""How long the trace page takes to draw a run of 100, 1,000 and 10,000 spans in a real browser.

Each trace is synthetic but shaped like an agent's: steps of an ``agent`` node (one LLM call with its messages) and a
``tools`` node (a search tool that retrieves passages, a calculator beside it). They are written to the run log of
a fresh home, a real server (uvicorn, the offline defaults) is started on it on 127.0.0.1, and headless Chromium
opens ``/runs/<id>/trace`` five times per size. The page marks the moment its tree is drawn
(``window.__traceRenderedMs``, ``performance.now()`` from navigation); printed: the p50 of that, of the JSON's
fetch, and the ratio to the 100-span trace. Usage: ``python bench/trace_render.py [--loads 5]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import chromium, running_server  # noqa: E402
from workbench.runlog import RunLog, RunRecord  # noqa: E402
from workbench.runlog.schema import SpanRecord  # noqa: E402

SIZES = (100, 1_000, 10_000)
STEP_MS = 100
PASSAGE = "The workbench server listens on port 8000 by default; set --port to change it. " * 3


def _llm_attributes(step: int) -> dict[str, Any]:
    question = f"Step {step}: which tool answers the user's question about the server's default port?"
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "local/qwen2.5-coder-1.5b",
        "gen_ai.provider.name": "llama.cpp",
        "gen_ai.system_instructions": "You are a careful assistant. Cite the passages you use.",
        "gen_ai.input.messages": json.dumps([{"role": "user", "content": question}]),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "content": "I will search the documents.",
                    "tool_calls": [{"name": "search_docs", "arguments": {"query": "default port"}}],
                }
            ]
        ),  # fmt: skip
        "gen_ai.usage.input_tokens": 180 + step % 50,
        "gen_ai.usage.output_tokens": 24,
        "gen_ai.response.time_to_first_chunk": 0.012,
        "gen_ai.response.finish_reasons": ["tool_calls"],
        "workbench.tokens_per_s": 41.5,
    }


def _retrieval_attributes() -> dict[str, Any]:
    documents = [
        {"id": f"doc-{i}", "source": f"docs/guide-{i}.md", "score": 0.9 - i / 10, "dense_score": 0.8 - i / 10,
         "sparse_score": 0.5, "text": PASSAGE}
        for i in range(3)
    ]  # fmt: skip
    return {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.retrieval.query.text": "default port",
        "gen_ai.retrieval.documents": json.dumps(documents),
        "workbench.retrieval.mode": "hybrid",
        "workbench.retrieval.top_k": 3,
    }


def synthetic_trace(run_id: str, size: int, start: datetime) -> tuple[RunRecord, list[SpanRecord]]:
    """A run of ``size`` spans: a root, then agent steps of six spans each (cut at ``size``)."""
    trace_id = uuid.uuid4().hex
    counter = itertools.count(1)
    spans: list[SpanRecord] = []

    def add(parent: str | None, name: str, kind: str, begin: float, end: float, **attributes: Any) -> str:
        span_id = f"{next(counter):016x}"
        spans.append(SpanRecord(
            run_id, span_id, trace_id, parent, name, kind, start + timedelta(milliseconds=begin),
            start + timedelta(milliseconds=end), end - begin, "ok", None, attributes or None,
        ))  # fmt: skip
        return span_id

    steps = max(1, (size - 1 + 5) // 6)
    total = steps * STEP_MS + 2
    root = add(None, "agent", "run", 0, total)
    for step in range(steps):
        t = 1 + step * STEP_MS
        agent = add(root, "agent", "node", t, t + 60, **{"workbench.node": "agent"})
        add(agent, "chat local/qwen2.5-coder-1.5b", "llm", t + 1, t + 55, **_llm_attributes(step))
        tools = add(root, "tools", "node", t + 60, t + 99, **{"workbench.node": "tools"})
        search = add(tools, "search_docs", "tool", t + 61, t + 95, **{
            "gen_ai.tool.name": "search_docs", "gen_ai.tool.call.arguments": '{"query": "default port"}',
            "gen_ai.tool.call.result": PASSAGE,
        })  # fmt: skip
        add(search, "retrieve", "retrieval", t + 62, t + 80, **_retrieval_attributes())
        add(tools, "calculator", "tool", t + 61, t + 70, **{"gen_ai.tool.name": "calculator"})
    spans = spans[:size]
    run = RunRecord(run_id, "agent", status="ok", started_at=start, ended_at=start + timedelta(milliseconds=total),
                    input="a synthetic run", output="done", model="local/qwen2.5-coder-1.5b")  # fmt: skip
    return run, spans


def write_traces(home: Path) -> dict[int, str]:
    """The synthetic runs in ``home``'s run log, one per size; their ids by size."""
    ids = {size: f"bench-{size}" for size in SIZES}
    with RunLog(home / "runs.duckdb", journal=False) as runlog:
        for size, run_id in ids.items():
            run, spans = synthetic_trace(run_id, size, datetime.now(UTC))
            runlog.log_run(run)
            runlog.log_records(spans)
        runlog.flush(timeout=60)
    return ids


def measure(page: Any, url: str) -> tuple[float, float]:
    """One load of the page: (ms from navigation to the drawn tree, ms the JSON's fetch took)."""
    page.goto(url, wait_until="commit")
    page.wait_for_selector("html[data-trace-state=ready]", timeout=60_000)
    rendered = page.evaluate("window.__traceRenderedMs")
    fetched = page.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/runs/'))[0].duration"
    )
    assert page.locator(".span-row").count() < 200, "rows are virtualized"
    return float(rendered), float(fetched)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=5, help="page loads per size (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        ids = write_traces(home)
        with running_server(home, WORKBENCH_LLM="extractive") as server, chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            results: dict[int, tuple[float, float]] = {}
            for size, run_id in ids.items():
                url = f"{server.url}/runs/{run_id}/trace"
                measure(page, url)  # warm: the first load also compiles the script
                loads = [measure(page, url) for _ in range(args.loads)]
                results[size] = (statistics.median(r for r, _ in loads), statistics.median(f for _, f in loads))
            page.close()
    base = results[SIZES[0]][0]
    print(f"trace page, p50 of {args.loads} loads (headless Chromium, server on 127.0.0.1)")
    print(f"{'spans':>7}  {'rendered (ms)':>13}  {'of which fetch (ms)':>19}  {'vs 100':>6}")
    for size, (rendered, fetched) in results.items():
        print(f"{size:>7}  {rendered:>13.1f}  {fetched:>19.1f}  {rendered / base:>5.1f}x")


if __name__ == "__main__":
    main()

"""``langgraph dev`` serves the chat graph; the real LangGraph SDK client drives a streamed run on a thread."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from tests.integration.conftest import ROOT, free_port
from workbench.runlog import recent_runs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def langgraph_dev(tmp_path_factory):
    home = tmp_path_factory.mktemp("lg-home")
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_LLM": "extractive"}
    subprocess.run(
        [sys.executable, "-m", "workbench.cli", "ingest", str(ROOT / "datasets" / "corpus")], env=env, check=True
    )
    port = free_port()
    log = open(home / "langgraph.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (home / "langgraph.log").read_text()[-3000:]
        try:
            if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        raise TimeoutError((home / "langgraph.log").read_text()[-3000:])
    yield url, home
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


async def test_sdk_streams_a_cited_answer_and_keeps_thread_history(langgraph_dev):
    url, home = langgraph_dev
    client = get_client(url=url)
    assistants = await client.assistants.search(graph_id="chat")
    assert assistants, "langgraph.json registers the chat graph"
    thread = await client.threads.create()
    tokens, final = [], None
    async for part in client.runs.stream(
        thread["thread_id"], "chat",
        input={"messages": [{"role": "human", "content": "Which default port does the server listen on?"}]},
        stream_mode=["messages-tuple", "values"],
    ):  # fmt: skip
        if part.event == "messages" and part.data[1].get("langgraph_node") == "generate":
            tokens.append(part.data[0]["content"])
        elif part.event == "values":
            final = part.data
    answer = final["messages"][-1]["content"]
    assert "".join(tokens) == answer
    assert "[1]" in answer or "[2]" in answer
    assert final["retrieved_docs"] and final["model"] == "extractive"

    async for _ in client.runs.stream(
        thread["thread_id"], "chat", input={"messages": [{"role": "human", "content": "And the host?"}]}
    ):
        pass
    state = await client.threads.get_state(thread["thread_id"])
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai", "human", "ai"]

    deadline = time.monotonic() + 15
    while len(runs := recent_runs(home / "runs.duckdb", 10, entry_point="langgraph", status="ok")) < 2:
        assert time.monotonic() < deadline, "langgraph dev runs are logged to DuckDB"
        await asyncio.sleep(0.3)
    assert {r["graph"] for r in runs} == {"chat"}
    assert runs[-1]["session_id"] == thread["thread_id"]

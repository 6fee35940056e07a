"""``langgraph dev`` serves the chat, voice and repo-audit graphs; the real LangGraph SDK client drives streamed runs
on threads."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph_sdk import get_client

from tests.integration.conftest import ROOT, dev_server
from workbench.runlog import recent_runs
from workbench.voice.audio import decode_audio, wav_bytes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def audit_root(tmp_path_factory) -> Path:
    """The folder the server may audit, holding a copy of the inventory-api fixture repository."""
    root = tmp_path_factory.mktemp("lg-repos")
    shutil.copytree(ROOT / "datasets" / "repos" / "inventory-api", root / "inventory-api")
    return root


@pytest.fixture(scope="module")
def langgraph_dev(tmp_path_factory, audit_root):
    home = tmp_path_factory.mktemp("lg-home")
    env = {
        "WORKBENCH_HOME": str(home),
        "WORKBENCH_LLM": "extractive",
        "WORKBENCH_AUDIT_ALLOWED_ROOTS": str(audit_root),
    }
    subprocess.run(
        [sys.executable, "-m", "workbench.cli", "ingest", str(ROOT / "datasets" / "corpus")],
        env={**os.environ, **env}, check=True,
    )  # fmt: skip
    with dev_server(home, tmp_path_factory.mktemp("lg-workdir"), env) as url:
        yield url, home


def human(text: str) -> Any:
    return {"messages": [{"role": "human", "content": text}]}


async def streamed(client: Any, thread_id: str, graph: str, question: str) -> tuple[list[str], Any]:
    """One run of `graph` on the thread: the tokens its ``generate`` node streamed, and the final state."""
    tokens: list[str] = []
    final: Any = None
    async for part in client.runs.stream(
        thread_id, graph, input=human(question), stream_mode=["messages-tuple", "values"]
    ):
        if part.event == "messages" and part.data[1].get("langgraph_node") == "generate":
            tokens.append(part.data[0]["content"])
        elif part.event == "values":
            final = part.data
    return tokens, final


async def test_sdk_streams_a_cited_answer_and_keeps_thread_history(langgraph_dev):
    url, home = langgraph_dev
    client = get_client(url=url)
    assistants = await client.assistants.search(graph_id="chat")
    assert assistants, "langgraph.json registers the chat graph"
    thread = await client.threads.create()
    tokens, final = await streamed(client, thread["thread_id"], "chat", "Which default port does the server listen on?")
    answer = final["messages"][-1]["content"]
    assert "".join(tokens) == answer
    assert "[1]" in answer or "[2]" in answer
    assert final["retrieved_docs"] and final["model"] == "extractive"

    async for _ in client.runs.stream(thread["thread_id"], "chat", input=human("And the host?")):
        pass
    state: Any = await client.threads.get_state(thread["thread_id"])
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai", "human", "ai"]

    deadline = time.monotonic() + 15
    while len(runs := recent_runs(home / "runs.duckdb", 10, entry_point="langgraph", status="ok")) < 2:
        assert time.monotonic() < deadline, "langgraph dev runs are logged to DuckDB"
        await asyncio.sleep(0.3)
    assert {r["graph"] for r in runs} == {"chat"}
    assert runs[-1]["session_id"] == thread["thread_id"]


async def test_sdk_drives_a_voice_turn_from_a_flac_recording(langgraph_dev):
    url, home = langgraph_dev
    client = get_client(url=url)
    assert await client.assistants.search(graph_id="voice"), "langgraph.json registers the voice graph"
    thread = await client.threads.create()
    recording = base64.b64encode((ROOT / "datasets" / "speech" / "jfk.flac").read_bytes()).decode()
    created: list[str] = []
    custom: list[dict[str, Any]] = []
    final: Any = None
    async for part in client.runs.stream(
        thread["thread_id"], "voice",
        input={"audio": recording, "audio_format": "flac"},
        context={"model": "extractive", "persona": "docs-guide"},  # the run context reaches the graph
        stream_mode=["custom", "values"],
        on_run_created=lambda meta: created.append(str(meta["run_id"])),
    ):  # fmt: skip
        assert part.event != "error", part.data
        if part.event == "custom":
            custom.append(part.data)
        elif part.event == "values":
            final = part.data
    assert final is not None
    assert "country" in final["transcript"].lower()
    assert final["reply"].strip()
    assert final["models"] == {
        "stt": "local/tiny.en", "llm": "extractive", "tts": "piper/joe-us", "persona": "docs-guide",
    }  # fmt: skip
    speech = decode_audio(base64.b64decode(final["speech"]), "wav", max_bytes=50 << 20, max_seconds=600)
    assert final["speech_format"] == "wav" and speech.duration_s > 0.5
    kinds = [event["type"] for event in custom]  # speech is pipelined: audio may start before the response event
    assert kinds[:2] == ["transcription", "retrieval"] and kinds.count("response") == 1
    assert set(kinds[2:]) == {"response", "audio_chunk"}
    assert custom[1]["documents"], "the grounded persona searched the ingested corpus"
    chunks = [event for event in custom if event["type"] == "audio_chunk"]
    assert [c["index"] for c in chunks] == list(range(len(chunks))) and all(c["format"] == "wav" for c in chunks)
    assert not final.get("audio"), "the recording is not kept in the thread"

    deadline = time.monotonic() + 15
    while not (runs := recent_runs(home / "runs.duckdb", 5, session_id=thread["thread_id"], status="ok")):
        assert time.monotonic() < deadline, "the langgraph dev voice run is logged to DuckDB"
        await asyncio.sleep(0.3)
    (run,) = runs
    assert (run["graph"], run["entry_point"], run["model"]) == ("voice", "langgraph", "extractive")
    assert [run["run_id"]] == created
    assert "country" in run["input"].lower() and run["output"] == final["reply"]
    assert {"stt_s", "llm_s", "tts_s", "first_audio_s"} <= set(run["metadata"])
    assert run["metadata"]["persona"] == "docs-guide"


async def test_sdk_drives_a_repo_audit_with_task_events(langgraph_dev, audit_root):
    url, home = langgraph_dev
    client = get_client(url=url)
    assert await client.assistants.search(graph_id="repo_audit"), "langgraph.json registers the repo_audit graph"
    thread = await client.threads.create()
    repo = audit_root / "inventory-api"
    custom: list[dict[str, Any]] = []
    final: Any = None
    async for part in client.runs.stream(
        thread["thread_id"], "repo_audit",
        input={"repo": str(repo)},
        context={"model": "none"},  # no LLM triage
        stream_mode=["custom", "values"],
    ):  # fmt: skip
        assert part.event != "error", part.data
        if part.event == "custom":
            custom.append(part.data)
        elif part.event == "values":
            final = part.data

    kinds = [event["type"] for event in custom]
    assert kinds[0] == "task.started" and kinds[-1] == "task.completed"
    assert custom[0]["repo"] == str(repo)
    steps = [event["step"] for event in custom if event["type"] == "task.progress"]
    assert sorted(set(steps), key=steps.index) == ["clone", "select", "agents", "aggregate"]
    agents = sorted(event["agent"] for event in custom if event["type"] == "task.agent_result")
    assert agents == ["bug_hunter", "explorer", "security"]
    assert "task.error" not in kinds

    report = final["report"]
    assert report["status"] == custom[-1]["status"] == "completed"
    assert report["counts"] == custom[-1]["counts"] and sum(report["counts"].values()) == len(report["findings"])
    places = {(f["file"], f["line"], f["category"]) for f in report["findings"]}
    assert ("inventory/db.py", 32, "sql-injection") in places
    assert ("inventory/reports.py", 22, "command-injection") in places
    assert {name: agent["status"] for name, agent in report["agents"].items()} == {
        "explorer": "ok", "bug_hunter": "ok", "security": "ok",
    }  # fmt: skip
    assert not (home / "audits" / report["task_id"]).exists(), "the checkout is removed"

    deadline = time.monotonic() + 15
    while not (runs := recent_runs(home / "runs.duckdb", 5, session_id=thread["thread_id"], status="ok")):
        assert time.monotonic() < deadline, "the langgraph dev audit is logged to DuckDB"
        await asyncio.sleep(0.3)
    (run,) = runs
    assert (run["graph"], run["entry_point"]) == ("repo_audit", "langgraph")


def faint_noise(seconds: float, seed: int) -> bytes:
    """A wav of seeded noise too faint to hold speech: every slice of it is unique to it."""
    samples = np.random.default_rng(seed).uniform(-1e-3, 1e-3, int(16_000 * seconds))
    return wav_bytes(samples, 16_000)


def traces(recording: bytes) -> list[bytes]:
    """What would betray a recording: its bytes, its base64, and slices of both."""
    encoded = base64.b64encode(recording)
    return [recording, encoded, recording[2000:2048], encoded[3000:3064], encoded[-64:]]


def leaks(blobs: dict[str, bytes], recordings: list[bytes]) -> list[str]:
    return [
        f"{name}: {len(trace)} bytes of a recording"
        for name, blob in blobs.items()
        for recording in recordings
        for trace in traces(recording)
        if trace in blob
    ]


async def test_voice_turns_leave_no_recording_in_any_checkpoint_or_file(tmp_path):
    """Answered and failed audio turns: the thread's whole history holds no trace of the recordings, nor (once
    the runs are deleted: the server keeps each run's request until then) any file the dev server writes."""
    home, workdir = tmp_path / "home", tmp_path / "workdir"
    home.mkdir()
    workdir.mkdir()
    jfk = (ROOT / "datasets" / "speech" / "jfk.flac").read_bytes()
    faint, invalid = faint_noise(1.0, 1), b"RIFF\x00\x00\x00\x00WAVEjunk" + faint_noise(0.5, 2)[44:]
    recordings = [faint, invalid, jfk]
    with dev_server(home, workdir, {"WORKBENCH_HOME": str(home), "WORKBENCH_LLM": "extractive"}) as url:
        client = get_client(url=url)
        thread = await client.threads.create()
        outcomes = []
        for recording, fmt in [(faint, "wav"), (invalid, None), (jfk, "flac")]:
            errors: list[Any] = []
            async for part in client.runs.stream(
                thread["thread_id"], "voice",
                input={"audio": base64.b64encode(recording).decode(), "audio_format": fmt, "text": None},
                context={"speak": False},
                stream_mode=["values"],
            ):  # fmt: skip
                if part.event == "error":
                    errors.append(part.data)
            outcomes.append("error" if errors else "ok")
        assert outcomes == ["error", "error", "ok"]

        history = await client.threads.get_history(thread["thread_id"], limit=100)
        assert len(history) >= 4, "every turn left its checkpoints"
        assert "country" in history[0]["values"]["transcript"].lower()
        state = await client.threads.get(thread["thread_id"])
        seen = {"history": json.dumps(history).encode(), "thread": json.dumps(state, default=str).encode()}
        assert leaks(seen, recordings) == []
    saved = persisted(workdir)
    checkpoints = {name: data for name, data in saved.items() if name.startswith(".langgraph_checkpoint")}
    assert checkpoints, "the dev server saved the thread's checkpoints as it stopped"
    assert leaks(checkpoints, recordings) == []

    # The server keeps each run's request (its input) in its run store (.langgraph_ops.pckl) until the run is
    # deleted, which deletes the run's checkpoints too.
    with dev_server(home, workdir, {"WORKBENCH_HOME": str(home), "WORKBENCH_LLM": "extractive"}) as url:
        client = get_client(url=url)
        for run in await client.runs.list(thread["thread_id"]):
            await client.runs.delete(thread["thread_id"], run["run_id"])
    assert leaks(persisted(workdir), recordings) == []


def persisted(workdir: Path) -> dict[str, bytes]:
    """Every file the dev server wrote in its working folder."""
    return {p.name: p.read_bytes() for p in (workdir / ".langgraph_api").iterdir() if p.is_file()}


async def test_every_agent_spec_is_served_and_the_sdk_runs_one_on_a_thread(langgraph_dev):
    url, home = langgraph_dev
    client = get_client(url=url)
    for name in ("rag_chat", "research_loop", "calculator"):
        (assistant,) = await client.assistants.search(graph_id=name)
        drawing = await client.assistants.get_graph(assistant["assistant_id"])
        assert {n["id"] for n in drawing["nodes"]} >= {"__start__", "__end__"}, name
    drawing = await client.assistants.get_graph(
        (await client.assistants.search(graph_id="rag_chat"))[0]["assistant_id"]
    )
    assert {n["id"] for n in drawing["nodes"]} == {"__start__", "retrieve", "decide", "rewrite", "generate", "__end__"}

    thread = await client.threads.create()
    tokens, final = await streamed(
        client, thread["thread_id"], "rag_chat", "Which default port does the server listen on?"
    )
    answer = final["messages"][-1]["content"]
    assert "".join(tokens) == answer and "8000" in answer
    assert final["documents"] and final["model"] == "extractive" and final["rewrites"] == 0
    deadline = time.monotonic() + 15
    while not recent_runs(home / "runs.duckdb", 5, graph="rag_chat", status="ok"):
        assert time.monotonic() < deadline, "the server logs the agent's runs like the built-in graphs'"
        await asyncio.sleep(0.3)

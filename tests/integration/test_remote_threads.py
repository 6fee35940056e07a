"""Session histories on a LangGraph Server (a real ``langgraph dev``), read and written through the remote runtime
as the in-process runtime does them (``tests/unit/test_runtime_threads.py``): a chat turn's checkpoints newest
first, a fork at the retrieval step with edited state that runs on, the graph's threads with the fork's origin,
questions asked by an agent's ``interrupt`` node (in the graph and inside a subgraph) waited on, answered and
abandoned."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT, dev_server
from workbench.errors import ProviderUnavailable
from workbench.resources import Resources
from workbench.runtime import GraphRun, GraphRuntime, ThreadNotFound, open_runtime
from workbench.runtime.threads import INTERRUPTED, pending_questions
from workbench.settings import Settings

pytestmark = pytest.mark.integration

GATE = """\
name: gate
version: 1
state:
  approved: {type: str, default: ""}
nodes:
  ask: {kind: interrupt, question: "Ship it?", output: approved}
edges:
  - {from: START, to: ask}
  - {from: ask, to: END}
"""
GATED = """\
name: gated
version: 1
nodes:
  review: {kind: subgraph, agent: gate}
edges:
  - {from: START, to: review}
  - {from: review, to: END}
"""
QUESTION = "Which default port does the server listen on?"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """``langgraph dev`` serving the project's graphs and two test agents (an interrupt node, and that agent as a
    subgraph), on an ingested guide, answering extractively."""
    home, agents = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("agents")
    for spec in (ROOT / "agents").glob("*.yaml"):  # the agents langgraph.json serves, beside the test's
        shutil.copy(spec, agents / spec.name)
    (agents / "gate.yaml").write_text(GATE)
    (agents / "gated.yaml").write_text(GATED)
    env = {"WORKBENCH_HOME": str(home), "WORKBENCH_LLM": "extractive", "WORKBENCH_AGENTS_DIR": str(agents)}
    command = [sys.executable, "-m", "workbench.cli", "ingest", str(ROOT / "datasets" / "corpus")]
    subprocess.run(command, env={**os.environ, **env}, check=True, capture_output=True)
    graphs = {name: f"./graphs/agents.py:{name}" for name in ("gate", "gated")}
    with dev_server(home, tmp_path_factory.mktemp("workdir"), env, graphs) as url:
        yield url, home


@pytest.fixture
async def runtime(server) -> AsyncIterator[GraphRuntime]:
    url, home = server
    async with open_runtime(Resources(Settings(home=home, graph_server=url))) as remote:
        assert remote.kind == "remote"
        yield remote


async def run(runtime: GraphRuntime, graph: str, session: str, given: dict | None, **extra: Any) -> list:
    parts = GraphRun(graph, given, str(uuid.uuid4()), thread=session, stream_mode=("values",), **extra)
    return [part async for part in runtime.stream(parts)]


def human(text: str) -> dict[str, Any]:
    return {"messages": [{"type": "human", "content": text}]}


def session(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def test_a_chat_turn_reads_as_its_checkpoints_newest_first(runtime):
    chat = session("history")
    await run(runtime, "chat", chat, human(QUESTION))
    records = await runtime.history("chat", chat)
    root = [r for r in records if r.namespace == ""]
    assert root == records, "the chat graph calls no subgraph"
    assert root[-1].node == "input" and root[-1].source == "input"
    assert root[-2].node == "__start__" and root[-3].node == "retrieve"
    assert root[0].node == "generate" and root[0].next == [] and root[0].step == len(root) - 2
    assert [r.step for r in root] == sorted((r.step for r in root), reverse=True)
    assert all(r.parent_id == older.checkpoint_id for r, older in zip(root, root[1:], strict=False))
    assert root[-3].values["retrieved_docs"] and root[0].values["messages"][-1]["type"] == "ai"
    assert root[0].run_id is not None and root[0].created_at


async def test_a_fork_at_the_retrieval_step_with_edited_state_runs_on_apart_from_its_origin(runtime):
    rag = session("origin")
    await run(runtime, "rag_chat", rag, human(QUESTION))
    origin = await runtime.state("rag_chat", rag)
    retrieved = next(r for r in await runtime.history("rag_chat", rag) if r.node == "retrieve")
    assert retrieved.values["documents"], "the origin answered from passages"
    edits = {"documents": [], "relevance": 0.0, "rewrites": 1}  # nothing found, and no rewrite left
    fork, head = await runtime.fork("rag_chat", rag, retrieved.checkpoint_id, edits)
    assert fork.startswith(f"{rag}.fork-") and head.values["documents"] == [] and head.values["rewrites"] == 1
    assert head.next == ["decide"], "the fork goes on from the node after the retrieval"
    await run(runtime, "rag_chat", fork, None)
    forked = await runtime.state("rag_chat", fork)
    assert forked["messages"][0].content == QUESTION and forked["documents"] == []
    assert forked["messages"][-1].content != origin["messages"][-1].content, "no passages: another answer"
    assert await runtime.state("rag_chat", rag) == origin, "the original is untouched"
    listed = {t.session_id: t for t in await runtime.threads("rag_chat")}
    assert listed[fork].forked_from == {"session_id": rag, "checkpoint_id": retrieved.checkpoint_id}
    assert listed[rag].forked_from is None and listed[rag].first_question == QUESTION
    assert listed[rag].status == "idle"
    order = [t.session_id for t in await runtime.threads("rag_chat")]
    assert order.index(fork) < order.index(rag), "most recently changed first"


async def test_bad_forks_are_refused_with_what_to_do(runtime):
    chat = session("bad")
    await run(runtime, "chat", chat, human(QUESTION))
    records = await runtime.history("chat", chat)
    with pytest.raises(ValueError, match="no state field colour in this graph; its fields: messages, metadata"):
        await runtime.fork("chat", chat, records[0].checkpoint_id, {"colour": "red"})
    with pytest.raises(ValueError, match="holds a run's input"):
        await runtime.fork("chat", chat, records[-1].checkpoint_id)
    with pytest.raises(ValueError, match="messages"):
        await runtime.fork("chat", chat, records[0].checkpoint_id, {"messages": "hi"})
    started = next(r for r in records if r.node == "__start__")
    with pytest.raises(ValueError, match="is a __start__ step, which cannot write query; fork from the step"):
        await runtime.fork("chat", chat, started.checkpoint_id, {"query": "another"})
    retrieved = next(r for r in records if r.node == "retrieve")
    _, head = await runtime.fork("chat", chat, retrieved.checkpoint_id)  # the retrieval decided its route in its run
    assert head.next == ["generate"]
    with pytest.raises(ThreadNotFound):
        await runtime.fork("chat", chat, str(uuid.uuid4()))
    with pytest.raises(ThreadNotFound):
        await runtime.fork("chat", session("never"), records[0].checkpoint_id)


async def test_an_edited_message_replaces_the_one_with_its_id(runtime):
    chat = session("edited")
    await run(runtime, "chat", chat, human(QUESTION))
    answered = (await runtime.history("chat", chat))[0]
    question = answered.values["messages"][0]
    edited = {"type": "human", "content": "How do I install it?", "id": question["id"]}
    fork, head = await runtime.fork("chat", chat, answered.checkpoint_id, {"messages": [edited]})
    assert [m["content"] for m in head.values["messages"]][:1] == ["How do I install it?"]
    assert len(head.values["messages"]) == len(answered.values["messages"]), "replaced, not added"


@pytest.mark.parametrize("graph", ["gate", "gated"])
async def test_a_question_is_waited_on_answered_and_the_turn_ends(runtime, graph):
    gated = session(graph)
    parts = await run(runtime, graph, gated, human("release?"))
    kind, final = parts[-1]
    assert kind == "values"
    (question,) = pending_questions(final[INTERRUPTED])
    assert question["value"] == {"question": "Ship it?"} and question["id"]
    (waiting,) = await runtime.waiting(graph, gated)
    assert (waiting.id, waiting.value) == (question["id"], {"question": "Ship it?"})
    assert waiting.namespace.startswith("review:") if graph == "gated" else waiting.namespace == ""
    (listed,) = [t for t in await runtime.threads(graph) if t.session_id == gated]
    assert (listed.status, listed.first_question) == ("waiting", "release?")
    assert [i.value for i in listed.interrupts] == [{"question": "Ship it?"}]
    records = await runtime.history(graph, gated)
    root = [r for r in records if r.namespace == ""]
    assert root[0].next == ["ask" if graph == "gate" else "review"] and root[0].interrupts
    if graph == "gated":
        inside = [r for r in records if r.namespace]
        assert {r.namespace for r in inside} == {waiting.namespace}
        assert inside[0].interrupts[0].value == {"question": "Ship it?"} and inside[-1].source == "input"
    parts = await run(runtime, graph, gated, None, resume="yes")
    assert INTERRUPTED not in parts[-1][1]
    assert await runtime.waiting(graph, gated) == []
    if graph == "gate":
        assert (await runtime.state(graph, gated))["approved"] == "yes"
    (listed,) = [t for t in await runtime.threads(graph) if t.session_id == gated]
    assert listed.status == "idle" and listed.interrupts == []


async def test_abandoning_a_waiting_session_goes_back_to_where_its_last_finished_turn_ended(runtime):
    gated = session("abandon")
    await run(runtime, "gate", gated, human("one"))
    await run(runtime, "gate", gated, None, resume="yes")
    assert await runtime.abandon("gate", gated) is False, "it waits on nothing"
    await run(runtime, "gate", gated, human("two"))
    assert await runtime.waiting("gate", gated)
    assert await runtime.abandon("gate", gated) is True
    assert await runtime.waiting("gate", gated) == []
    state = await runtime.state("gate", gated)
    assert ([m.content for m in state["messages"]], state["approved"]) == (["one"], "yes")
    assert (await runtime.history("gate", gated))[0].source == "fork", "the turn's steps stay in the history"
    await run(runtime, "gate", gated, human("three"))
    assert [m.content for m in (await runtime.state("gate", gated))["messages"]] == ["one", "three"]
    never = session("never-answered")
    await run(runtime, "gate", never, human("never answered"))
    assert await runtime.abandon("gate", never) is True
    assert await runtime.state("gate", never) == {}, "no turn of it had finished: the session is cleared"
    assert never not in [t.session_id for t in await runtime.threads("gate")]
    await run(runtime, "gate", never, human("again"))
    assert [t.session_id for t in await runtime.threads("gate") if t.session_id == never] == [never]


async def test_a_server_that_does_not_answer_is_unavailable(tmp_path):
    from tests.servers import free_port

    settings = Settings(home=tmp_path, graph_server=f"http://127.0.0.1:{free_port()}")
    async with open_runtime(Resources(settings)) as remote:
        for call in (remote.threads("chat"), remote.history("chat", "s"), remote.waiting("chat", "s")):
            with pytest.raises(ProviderUnavailable, match="does not answer"):
                await call
        with pytest.raises(ProviderUnavailable):
            await remote.fork("chat", "s", str(uuid.uuid4()))

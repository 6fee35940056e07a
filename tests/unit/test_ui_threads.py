"""The Threads tab: its view builders on history records, and its handlers against a real in-process runtime on
SQLite: the history it shows is LangGraph's (subgraphs included), a fork with an edited question runs on to another
answer shown beside the original's, bad edits are warning lines, and the inbox lists a waiting agent session and
approves or abandons it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from tests.unit.test_chat_graph import doc
from tests.unit.test_runtime_threads import GRAPH, build, run
from workbench.providers.llm import ModelRegistry
from workbench.resources import Resources
from workbench.runtime import LocalRuntime
from workbench.runtime.threads import Checkpoint, Interrupt, ThreadSummary
from workbench.settings import Settings
from workbench.turns.chat import ChatService, TurnRequest
from workbench.ui import threads_tab as tab
from workbench.ui import threads_view as view
from workbench.ui.context import UiServices

RUN = "1f1f24c8-d24c-6527-8002-4ec9d2efce0e"
APPROVAL = """\
name: approval
version: 1
state:
  approved: {type: str, default: ""}
nodes:
  ask: {kind: interrupt, question: "Ship the release?", output: approved}
  answer: {kind: llm, model: smart, prompt: chat-answer@v1}
edges:
  - {from: START, to: ask}
  - {from: ask, to: answer}
  - {from: answer, to: END}
"""


def record(step: int, node: str, values: dict, namespace: str = "", parent: str | None = None, **extra) -> Checkpoint:
    return Checkpoint(checkpoint_id=f"c{step}{namespace}", parent_id=parent, namespace=namespace, step=step,
                      source="loop", node=node, next=extra.pop("next", []), created_at="2026-01-02T03:04:05.6+00:00",
                      run_id=extra.pop("run_id", RUN), values=values, **extra)  # fmt: skip


# View builders


def test_the_timeline_lists_each_checkpoint_with_its_node_namespace_and_a_link_to_its_runs_trace():
    rows = view.timeline_rows([
        record(2, "approve", {}, namespace="review:0a1b2c3d-4e5f|inner:99887766-5544", next=["approve"]),
        record(1, "plan", {}, next=["review"]),
        record(-1, "input", {}, run_id=None),
    ])  # fmt: skip
    assert list(rows.columns) == view.TIMELINE_COLUMNS
    assert rows["namespace"].tolist() == ["review:0a1b2c3d › inner:99887766", "", ""]
    assert rows["node"].tolist() == ["approve", "plan", "input"] and rows["next"].tolist() == ["approve", "review", ""]
    assert rows["time (UTC)"][0] == "2026-01-02 03:04:05"
    assert rows["run"][1] == f'<a href="/runs/{RUN}/trace" target="_blank" rel="noopener">{RUN[:8]}</a>'
    assert rows["run"][2] == ""


def test_the_diff_of_two_states_lists_the_messages_added_and_the_fields_changed():
    question = {"type": "human", "content": "Which port?", "id": "m1"}
    before = {"messages": [question], "query": "port", "rewrites": 0}
    reply = {"type": "ai", "content": "Port 8000 [1].", "id": "m2"}
    after: dict[str, Any] = {"messages": [question, reply], "query": "port", "rewrites": 1, "model": "extractive"}
    diff = view.state_diff(before, after)
    assert diff.messages_added == [reply]
    assert diff.changed == [("model", None, "extractive"), ("rewrites", 0, 1)]
    edited = view.state_diff(before, {**before, "messages": [{**question, "content": "Which voice?"}]})
    assert [m["content"] for m in edited.messages_added] == ["Which voice?"] and edited.changed == []
    assert view.state_diff(before, before).empty
    text = view.diff_markdown(diff)
    assert "**Messages added:** 1" in text and "Port 8000 \\[1\\]." in text and "| rewrites | 0 | 1 |" in text
    assert "| model | – | extractive |" in text


def test_the_previous_checkpoint_is_the_parent_in_the_same_namespace():
    root = [record(2, "generate", {}, parent="c1"), record(1, "retrieve", {}, parent="c0"), record(0, "x", {})]
    inner = record(3, "approve", {}, namespace="review:1", parent="c2review:1")
    inner_parent = record(2, "input", {}, namespace="review:1")
    records = [*root, inner, inner_parent]
    assert view.previous(records, root[0]) is root[1]
    assert view.previous(records, inner) is inner_parent
    assert view.previous(records, root[2]) is None


def test_the_drawing_marks_the_node_that_made_the_checkpoint():
    from graphs.chat import builder

    drawing = builder.compile().get_graph().draw_mermaid()
    marked = view.marked_drawing(drawing, view.marked_nodes(record(1, "retrieve", {})))
    assert marked.endswith(f"\tstyle retrieve {view.MARK_STYLE}") and marked.startswith(drawing.rstrip("\n"))
    assert view.marked_nodes(record(-1, "input", {})) == ["__start__"]
    assert view.marked_nodes(record(3, "approve", {}, namespace="review:1|inner:2")) == ["review"]
    assert view.marked_nodes(record(4, "plan, review", {})) == ["plan", "review"]
    assert view.marked_drawing(drawing, ["no_such_node"]) == drawing


def test_the_fork_starts_from_the_query_and_the_last_question_and_bad_edits_say_what_is_wrong():
    question = {"type": "human", "content": "Which port?", "id": "m1", "name": "x"}
    prefill = view.fork_prefill(record(1, "retrieve", {"messages": [question], "query": "port"}))
    assert view.parse_edits(prefill) == {"query": "port", "messages": [{"type": "human", "content": "Which port?",
                                                                          "id": "m1"}]}  # fmt: skip
    assert view.fork_prefill(record(1, "plan", {"answer": "x"})) == "{}"
    started = view.parse_edits(view.fork_prefill(record(0, "__start__", {"messages": [question], "query": "old"})))
    assert list(started) == ["messages"], "a run's start takes only its input: the question, not a query"
    assert view.parse_edits("  ") == {}
    with pytest.raises(ValueError, match="not JSON"):
        view.parse_edits("{query: 1}")
    with pytest.raises(ValueError, match="must be a JSON object"):
        view.parse_edits('["query"]')


def test_the_inbox_lists_each_waiting_session_with_its_questions():
    thread = ThreadSummary("approval", "s1", "waiting", "2026-01-02T03:04:05+00:00", "Release it?", "c1")
    asked = [Interrupt("i1", {"question": "Ship the release?"}), Interrupt("i2", "and the notes?", "review:1")]
    rows = view.inbox_rows([view.Waiting(thread, asked)])
    assert rows.values.tolist() == [["approval", "s1", "Ship the release? · and the notes?", "Release it?",
                                     "2026-01-02 03:04:05"]]  # fmt: skip
    assert view.Waiting(thread, asked).key == "approval/s1"


# Handlers, against a real runtime


class TopicStore:
    """A store whose passages depend on the query, so another question retrieves (and answers) otherwise."""

    def search(self, collection, query, k=5, filters=None, mode="hybrid"):
        if "port" in query.lower():
            return [doc(1, "The server listens on port 8000 by default.")]
        return [doc(2, "Voices are piper models kept under the voices folder.")]


@dataclass
class App:
    services: UiServices
    runtime: LocalRuntime
    saver: AsyncSqliteSaver


@pytest.fixture
async def app(tmp_path, monkeypatch) -> AsyncIterator[App]:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "approval.yaml").write_text(APPROVAL)
    monkeypatch.setenv("WORKBENCH_AGENTS_DIR", str(folder))
    monkeypatch.setenv("WORKBENCH_MODEL_SMART", "extractive")
    settings = Settings(home=tmp_path, llm="extractive", testing=True)
    resources = Resources(settings, store=cast(Any, TopicStore()), models=ModelRegistry(settings, {}))
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "checkpoints.sqlite")) as saver:
        runtime = LocalRuntime(saver, name="sqlite", resources=resources)
        runtime.graphs[GRAPH] = build(saver, gated=True)
        chat = ChatService(resources, runtime)
        services = UiServices(chat=lambda: chat, resources=lambda: resources, voice=lambda: None, tasks=lambda: None)  # type: ignore[arg-type,return-value]
        yield App(services, runtime, saver)


async def ask(app: App, question: str, session: str, agent: str | None = None) -> list:
    request = TurnRequest(question, session, agent=agent, entry_point="test")
    return [event async for event in app.services.chat().stream(request)]


async def test_the_history_shown_is_langgraphs_own_for_the_graph_and_the_saved_checkpoints_of_its_subgraphs(app):
    await run(app.runtime, "s1", "ship it?")
    shown, note = await tab.open_thread(app.services, GRAPH, "s1")
    assert shown == await app.runtime.history(GRAPH, "s1") and note.startswith(f"{len(shown)} checkpoint(s)")
    config = {"configurable": {"thread_id": app.runtime.thread_id(GRAPH, "s1")}}
    theirs = [s async for s in app.runtime.graphs[GRAPH].aget_state_history(config)]
    root = [r for r in shown if r.namespace == ""]
    assert [r.checkpoint_id for r in root] == [s.config["configurable"]["checkpoint_id"] for s in theirs]
    assert [r.values for r in root] == [dict(s.values) for s in theirs]
    inside = [r for r in shown if r.namespace]
    saved = [t async for t in app.saver.alist(config) if t.config["configurable"]["checkpoint_ns"]]
    assert inside and [r.checkpoint_id for r in inside] == [t.config["configurable"]["checkpoint_id"] for t in saved]
    assert view.timeline_rows(shown)["namespace"].str.startswith("review:").sum() == len(inside)
    threads, _ = await tab.list_threads(app.services, GRAPH)
    assert [(t.session_id, t.status) for t in threads] == [("s1", "waiting")]

    shown_step = tab.show_checkpoint(shown, inside[0].checkpoint_id, "graph TD;\n\treview(review)\n")
    assert shown_step.drawing is not None and shown_step.drawing.endswith(f"style review {view.MARK_STYLE}")
    assert '"answer": "plan for ship it?"' in shown_step.state
    planned = next(r for r in root if r.node == "plan")
    assert "| answer | – | plan for ship it? |" in tab.show_checkpoint(shown, planned.checkpoint_id, None).diff


async def test_a_fork_with_another_question_runs_on_to_another_answer_beside_the_original(app):
    events = await ask(app, "Which port does the server use?", "s2")
    original_run = events[-1].run_id
    records, _ = await tab.open_thread(app.services, "chat", "s2")
    before_retrieval = next(r for r in records if r.next == ["retrieve"])
    prefill = tab.show_checkpoint(records, before_retrieval.checkpoint_id, None).prefill
    edit = prefill.replace("Which port does the server use?", "What are voices?")
    outcome = await tab.fork_and_run(app.services, "chat", "s2", records, before_retrieval.checkpoint_id, edit)
    assert "port 8000" in outcome.original and "piper" in outcome.forked and "8000" not in outcome.forked
    assert outcome.session is not None and outcome.session.startswith("s2.fork-")
    assert f"/runs/{original_run}/trace" in outcome.status
    fork_head = (await app.runtime.history("chat", outcome.session))[0]
    assert fork_head.run_id and f"/runs/{fork_head.run_id}/trace" in outcome.status
    threads, _ = await tab.list_threads(app.services, "chat")
    assert [t.forked_from for t in threads if t.session_id == outcome.session] == [
        {"session_id": "s2", "checkpoint_id": before_retrieval.checkpoint_id}
    ]

    bad = await tab.fork_and_run(app.services, "chat", "s2", records, before_retrieval.checkpoint_id, "{nope")
    assert bad.status.startswith("⚠️ the state to change is not JSON") and not bad.forked
    unknown = await tab.fork_and_run(app.services, "chat", "s2", records, before_retrieval.checkpoint_id,
                                     '{"colour": "red"}')  # fmt: skip
    assert unknown.status.startswith("⚠️ no state field colour in this graph")
    assert "/" not in unknown.status.split("fields:")[0].replace("⚠️", "")  # no server path


async def test_the_inbox_lists_a_waiting_agent_session_and_approving_it_finishes_the_turn(app):
    events = await ask(app, "Release 1.2?", "s3", agent="approval")
    assert events[-1].type == "interrupt"
    items, note = await tab.inbox(app.services, tab.graph_choices())
    assert [(w.key, view.question_text(w.interrupts)) for w in items] == [("approval/s3", "Ship the release?")]
    assert note == "1 session(s) waiting"
    done = await tab.answer(app.services, "approval/s3", "approved")
    assert done.startswith("✅ Session s3 answered") and "/trace" in done
    state = await app.runtime.state("approval", "s3")
    assert state["approved"] == "approved" and state["messages"][-1].type == "ai"
    assert (await tab.inbox(app.services, ["approval"]))[0] == []
    assert "waits on nothing now" in await tab.answer(app.services, "approval/s3", "approved")


async def test_abandoning_from_the_inbox_drops_the_question(app):
    await ask(app, "Release 2.0?", "s4", agent="approval")
    assert "Abandoned" in await tab.abandon(app.services, "approval/s4")
    assert await app.runtime.waiting("approval", "s4") == []
    assert (await tab.inbox(app.services, ["approval"]))[0] == []
    assert "waits on nothing now" in await tab.abandon(app.services, "approval/s4")

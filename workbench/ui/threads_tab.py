"""The Threads tab (LangGraph Studio's thread view, offline): a graph's sessions, one session's checkpoints as a
timeline with each checkpoint's state, what its step changed and where it is in the graph's drawing; a fork from any
checkpoint with edited state, run on and shown beside the original's answer; and an inbox of the sessions of every
graph that wait on a human, answered (approve, reject) or abandoned from here.

Everything reads through the graph runtime (:class:`~workbench.runtime.base.GraphRuntime`) and runs turns through
the chat service, as the chat socket does; a runtime that keeps no histories, a bad edit or a busy session shows as
a warning line (:func:`~workbench.ui.threads_view.warning`), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from workbench.audit.markdown import md_fence, md_text
from workbench.errors import WorkbenchError
from workbench.events import ChatDoneEvent, InterruptEvent
from workbench.runtime import SessionBusy, ThreadNotFound
from workbench.runtime.threads import Checkpoint
from workbench.turns.chat import TurnRequest
from workbench.ui import threads_view as view
from workbench.ui.agents_tab import drawing as agent_drawing
from workbench.ui.agents_tab import mermaid_markdown
from workbench.ui.trace_links import trace_link

if TYPE_CHECKING:
    from workbench.ui.context import UiServices

TITLE = "Threads"
CHAT = "chat"
log = logging.getLogger(__name__)
EXPECTED = (WorkbenchError, SessionBusy, ThreadNotFound, ValueError, TimeoutError)
"""What a thread operation may fail with that the user can act on (each says what to do)."""


# Handlers (each testable against a real runtime without a browser)


def graph_choices() -> list[str]:
    """The graphs whose sessions can be browsed: the chat graph and the agents that validate."""
    from workbench.agents import catalog

    try:
        return [CHAT, *catalog.names()]
    except OSError:  # an unreadable agents folder must not keep the tab from rendering
        log.warning("the agents folder could not be read for the Threads tab", exc_info=True)
        return [CHAT]


def graph_drawing(graph: str) -> str | None:
    """The graph's Mermaid drawing (the chat graph's, or an agent's as the Agents tab draws it); None when it
    cannot be drawn."""
    from workbench.agents import catalog
    from workbench.runtime.local import compiled_graph

    try:
        if graph == CHAT:
            compiled = compiled_graph(CHAT, None)
            return compiled.get_graph().draw_mermaid() if compiled is not None else None
        return agent_drawing(catalog.require(graph))
    except Exception:  # a drawing is an aid: a graph that cannot be drawn still has its history shown
        log.info("graph %s could not be drawn for the Threads tab", graph, exc_info=True)
        return None


async def list_threads(services: UiServices, graph: str | None) -> tuple[list[Any], str]:
    """The graph's sessions, newest first, and a line saying how many (or what went wrong)."""
    if not graph:
        return [], "Choose a graph."
    try:
        threads = await services.chat().runtime.threads(graph)
    except EXPECTED as exc:
        return [], view.warning(exc)
    return threads, f"{len(threads)} session(s)" if threads else "_No sessions of this graph yet._"


async def open_thread(services: UiServices, graph: str | None, session: str | None) -> tuple[list[Checkpoint], str]:
    """The session's checkpoints as the runtime reports them (newest first, subgraphs after), and a status line."""
    if not graph or not session:
        return [], "Choose a session."
    try:
        records = await services.chat().runtime.history(graph, session)
    except EXPECTED as exc:
        return [], view.warning(exc)
    if not records:
        return [], f"No checkpoints in session {md_text(session)}."
    return records, f"{len(records)} checkpoint(s) of session {md_text(session)}"


@dataclass(frozen=True)
class CheckpointView:
    """One checkpoint as the tab shows it."""

    state: str
    diff: str
    drawing: str | None
    prefill: str


def show_checkpoint(records: list[Checkpoint], checkpoint_id: str | None, drawing: str | None) -> CheckpointView:
    """The checkpoint's state, what changed since the one before it in its namespace, the drawing with its node
    marked and the fork's starting edit."""
    record = next((r for r in records if r.checkpoint_id == checkpoint_id), None)
    if record is None:
        return CheckpointView("", "_Choose a checkpoint._", drawing, "{}")
    before = view.previous(records, record)
    diff = view.diff_markdown(view.state_diff(before.values if before else None, record.values), before is None)
    marked = view.marked_drawing(drawing, view.marked_nodes(record)) if drawing else None
    return CheckpointView(view.state_json(record.values), diff, marked, view.fork_prefill(record))


@dataclass(frozen=True)
class TurnEnd:
    """How a turn run from this tab ended: its answer and run, the questions it stopped on, or why it failed."""

    answer: str = ""
    run_id: str | None = None
    stopped: list[Any] | None = None
    problem: str | None = None


def agent_of(graph: str) -> str | None:
    return None if graph == CHAT else graph


async def run_on(services: UiServices, graph: str, session: str, resume: Any = None) -> TurnEnd:
    """Run the session on from where it stopped (with ``resume``, the answer to its question) through the chat
    service, and say how it ended."""
    request = TurnRequest(content="", session_id=session, agent=agent_of(graph), continues=True, resume=resume,
                          entry_point="ui")  # fmt: skip
    run_id = str(uuid.uuid4())
    try:
        async for event in services.chat().stream(request, run_id):
            if isinstance(event, ChatDoneEvent):
                return TurnEnd(answer=event.answer, run_id=event.run_id)
            if isinstance(event, InterruptEvent):
                return TurnEnd(run_id=event.run_id, stopped=list(event.interrupts))
    except EXPECTED as exc:
        return TurnEnd(run_id=run_id, problem=view.warning(exc))
    return TurnEnd(run_id=run_id, problem="⚠️ The turn ended without an answer; see its trace.")


@dataclass(frozen=True)
class ForkOutcome:
    """A fork run on, beside the session it was made from."""

    status: str
    original: str = ""
    forked: str = ""
    session: str | None = None


async def fork_and_run(services: UiServices, graph: str | None, session: str | None, records: list[Checkpoint],
                       checkpoint_id: str | None, edits: str | None) -> ForkOutcome:  # fmt: skip
    """Fork ``session`` at ``checkpoint_id`` with the typed state edit, run the fork on, and show its answer beside
    the original's last answer with both runs' trace links."""
    if not graph or not session or not checkpoint_id:
        return ForkOutcome("Choose a session and a checkpoint first.")
    runtime = services.chat().runtime
    try:
        new_session, _ = await runtime.fork(graph, session, checkpoint_id, view.parse_edits(edits))
    except EXPECTED as exc:
        return ForkOutcome(view.warning(exc))
    head = next((r for r in records if r.namespace == ""), None)
    original = view.last_answer(head.values) if head else ""
    end = await run_on(services, graph, new_session)
    if end.problem:
        return ForkOutcome(end.problem, original, session=new_session)
    status = view.answers_markdown(head.run_id if head else None, new_session, end.run_id)
    if end.stopped:
        status += "\n\n" + view.stopped_markdown(end.stopped)
    return ForkOutcome(status, original, end.answer, new_session)


async def inbox(services: UiServices, graphs: list[str]) -> tuple[list[view.Waiting], str]:
    """Every waiting session of ``graphs``, with what each asks, and a line saying how many."""
    runtime = services.chat().runtime
    found: list[view.Waiting] = []
    problems: list[str] = []
    for graph in graphs:
        try:
            for thread in await runtime.threads(graph):
                if thread.status == "waiting":
                    found.append(view.Waiting(thread, await runtime.waiting(graph, thread.session_id)))
        except EXPECTED as exc:
            problems.append(f"{graph}: {exc}")
    note = f"{len(found)} session(s) waiting" if found else "_No session waits on a human._"
    return found, note + "".join(f"  \n{view.warning(p)}" for p in problems)


CHOOSE_WAITING = "Choose a waiting session first."


def _inbox_key(key: str | None) -> tuple[str, str] | None:
    """The graph and session of an inbox entry's key (``graph/session``, :attr:`view.Waiting.key`)."""
    if not key or "/" not in key:
        return None
    graph, session = key.split("/", 1)
    return graph, session


def _waits_on_nothing(session: str) -> str:
    return f"Session {md_text(session)} waits on nothing now; refresh the inbox."


async def answer(services: UiServices, key: str | None, value: Any) -> str:
    """Resume the waiting session ``key`` (``graph/session``) with ``value`` (one answer for each question it
    waits on), and say how its turn ended: its answer, or the question it stopped on next."""
    chosen = _inbox_key(key)
    if chosen is None:
        return CHOOSE_WAITING
    graph, session = chosen
    try:
        questions = await services.chat().runtime.waiting(graph, session)
    except EXPECTED as exc:
        return view.warning(exc)
    if not questions:
        return _waits_on_nothing(session)
    resume = value if len(questions) == 1 else {q.id: value for q in questions}
    end = await run_on(services, graph, session, resume)
    if end.problem:
        return end.problem
    if end.stopped:
        return view.stopped_markdown(end.stopped)
    link = trace_link(end.run_id, "trace")
    return f"✅ Session {md_text(session)} answered ({link}):\n\n" + md_fence(end.answer)


async def abandon(services: UiServices, key: str | None) -> str:
    """Drop the question the session ``key`` waits on: it goes back to where its last finished turn ended."""
    chosen = _inbox_key(key)
    if chosen is None:
        return CHOOSE_WAITING
    graph, session = chosen
    try:
        dropped = await services.chat().runtime.abandon(graph, session)
    except EXPECTED as exc:
        return view.warning(exc)
    if not dropped:
        return _waits_on_nothing(session)
    return f"Abandoned: session {md_text(session)} is back where its last finished turn ended."


# The tab


def render(services: UiServices, demo: gr.Blocks) -> None:
    records = gr.State([])  # the open session's checkpoints (newest first)
    listed = gr.State([])  # the session ids of the threads table, in order
    drawn = gr.State(None)  # the open graph's Mermaid drawing
    waiting = gr.State([])  # the inbox's keys (graph/session), in order
    with gr.Tabs():
        with gr.Tab("Thread history", id="threads-history"):
            with gr.Row(equal_height=True):
                graph = gr.Dropdown(graph_choices(), value=CHAT, label="Graph", elem_id="threads-graph", scale=3)
                refresh = gr.Button("Refresh", elem_id="threads-refresh", scale=0, min_width=90)
            table = gr.Dataframe(view.thread_rows([]), interactive=False, wrap=True, max_height=300,
                                 elem_id="threads-list")  # fmt: skip
            list_status = gr.Markdown(elem_id="threads-list-status")
            session = gr.Dropdown(label="Session (select a row, or pick one)", choices=[], elem_id="threads-session")
            timeline = gr.Dataframe(view.timeline_rows([]), datatype=view.TIMELINE_TYPES, interactive=False,
                                    wrap=True, max_height=360, label="Checkpoints, newest first",
                                    elem_id="threads-timeline")  # fmt: skip
            thread_status = gr.Markdown(elem_id="threads-status")
            checkpoint = gr.Dropdown(label="Checkpoint", choices=[], elem_id="threads-checkpoint")
            with gr.Row():
                with gr.Column(scale=3):
                    diff = gr.Markdown(elem_id="threads-diff")
                    state = gr.Code(label="State", language="json", interactive=False, max_lines=30,
                                    elem_id="threads-state")  # fmt: skip
                with gr.Column(scale=2):
                    diagram = gr.Markdown(elem_id="threads-diagram")
            gr.Markdown("#### Fork from this checkpoint")
            edits = gr.Textbox(label="State fields to change (JSON)", value="{}", lines=6, max_lines=20,
                               elem_id="threads-fork-values")  # fmt: skip
            fork = gr.Button("Fork and run on", variant="primary", elem_id="threads-fork")
            fork_status = gr.Markdown(elem_id="threads-fork-status")
            with gr.Row():
                original = gr.Textbox(label="Original answer", lines=4, max_lines=16, interactive=False,
                                      elem_id="threads-original-answer")  # fmt: skip
                forked = gr.Textbox(label="Fork's answer", lines=4, max_lines=16, interactive=False,
                                    elem_id="threads-fork-answer")  # fmt: skip
        with gr.Tab("Inbox", id="threads-inbox-tab") as inbox_tab:
            with gr.Row(equal_height=True):
                inbox_status = gr.Markdown(elem_id="threads-inbox-status")
                inbox_refresh = gr.Button("Refresh", elem_id="threads-inbox-refresh", scale=0, min_width=90)
            inbox_table = gr.Dataframe(view.inbox_rows([]), interactive=False, wrap=True, elem_id="threads-inbox")
            pick = gr.Dropdown(label="Waiting session", choices=[], elem_id="threads-inbox-pick")
            reply = gr.Textbox(label="Answer (blank: approved)", elem_id="threads-inbox-answer")
            with gr.Row():
                approve = gr.Button("Approve", variant="primary", elem_id="threads-approve")
                reject = gr.Button("Reject", variant="stop", elem_id="threads-reject")
                drop = gr.Button("Abandon", elem_id="threads-abandon")
            inbox_result = gr.Markdown(elem_id="threads-inbox-result")

    async def load_threads(name: str | None, current: str | None = None) -> tuple:
        threads, note = await list_threads(services, name)
        ids = [t.session_id for t in threads]
        drawing = await asyncio.to_thread(graph_drawing, name) if name else None
        kept = current if current in ids else None
        return view.thread_rows(threads), ids, note, gr.update(choices=ids, value=kept), drawing

    async def load_session(name: str | None, chosen: str | None, drawing: str | None) -> tuple:
        found, note = await open_thread(services, name, chosen)
        choices = [(view.checkpoint_label(r), r.checkpoint_id) for r in found]
        first = found[0].checkpoint_id if found else None
        shown = show_checkpoint(found, first, drawing)
        return (found, view.timeline_rows(found), note, gr.update(choices=choices, value=first),
                *checkpoint_outputs(shown))  # fmt: skip

    def checkpoint_outputs(shown: CheckpointView) -> tuple:
        return shown.state, shown.diff, mermaid_markdown(shown.drawing), shown.prefill

    def load_checkpoint(found: list[Checkpoint], chosen: str | None, drawing: str | None) -> tuple:
        return checkpoint_outputs(show_checkpoint(found, chosen, drawing))

    def select_row(ids: list[str], evt: gr.SelectData) -> Any:
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        return ids[row] if isinstance(row, int) and 0 <= row < len(ids) else gr.update()

    def select_checkpoint(found: list[Checkpoint], evt: gr.SelectData) -> Any:
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        return found[row].checkpoint_id if isinstance(row, int) and 0 <= row < len(found) else gr.update()

    async def run_fork(name: str | None, chosen: str | None, found: list[Checkpoint], at: str | None,
                       typed: str | None) -> tuple:  # fmt: skip
        outcome = await fork_and_run(services, name, chosen, found, at, typed)
        return outcome.status, outcome.original, outcome.forked

    async def load_inbox() -> tuple:
        items, note = await inbox(services, await asyncio.to_thread(graph_choices))
        keys = [item.key for item in items]
        return view.inbox_rows(items), keys, note, gr.update(choices=keys, value=keys[0] if keys else None)

    async def approve_it(key: str | None, text: str | None) -> str:
        return await answer(services, key, (text or "").strip() or "approved")

    async def reject_it(key: str | None) -> str:
        return await answer(services, key, "rejected")

    async def abandon_it(key: str | None) -> str:
        return await abandon(services, key)

    async def relist(name: str | None) -> tuple:
        threads, note = await list_threads(services, name)
        ids = [t.session_id for t in threads]
        return view.thread_rows(threads), ids, note, gr.update(choices=ids)

    listing = [table, listed, list_status, session, drawn]
    opened = [records, timeline, thread_status, checkpoint, state, diff, diagram, edits]
    inbox_outputs = [inbox_table, waiting, inbox_status, pick]
    demo.load(load_threads, [graph], listing)
    refresh.click(load_threads, [graph, session], listing)
    graph.input(load_threads, [graph], listing)
    table.select(select_row, [listed], [session])
    session.change(load_session, [graph, session, drawn], opened)
    timeline.select(select_checkpoint, [records], [checkpoint])
    checkpoint.change(load_checkpoint, [records, checkpoint, drawn], [state, diff, diagram, edits])
    fork.click(run_fork, [graph, session, records, checkpoint, edits], [fork_status, original, forked]).then(
        relist, [graph], listing[:4]
    )
    inbox_tab.select(load_inbox, outputs=inbox_outputs)
    inbox_refresh.click(load_inbox, outputs=inbox_outputs)
    inbox_table.select(select_row, [waiting], [pick])
    approve.click(approve_it, [pick, reply], [inbox_result]).then(load_inbox, outputs=inbox_outputs)
    reject.click(reject_it, [pick], [inbox_result]).then(load_inbox, outputs=inbox_outputs)
    drop.click(abandon_it, [pick], [inbox_result]).then(load_inbox, outputs=inbox_outputs)

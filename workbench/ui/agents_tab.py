"""The Agents tab: the specs of the agents folder, each one's problems or its graph, and a chat with one of them.

The folder is read again by Reload (specs may be edited while the server runs) and when an agent is chosen; the
reads, checks and compiles run in a worker thread. Files are named by their file name alone, never by a path of
this server. A chat runs through :class:`~workbench.turns.chat.ChatService` like the Chat tab's, with one session
per browser tab and per agent: choosing another agent starts a new conversation. A spec with problems is listed
with them and cannot be chatted with.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import gradio as gr

from workbench.agents import catalog
from workbench.agents.catalog import Agent
from workbench.agents.source import SpecError, SpecProblem
from workbench.audit.markdown import md_fence, md_text
from workbench.turns.chat import TurnRequest
from workbench.ui.chat_tab import stream_turn

if TYPE_CHECKING:
    from workbench.ui.context import UiServices

TITLE = "Agents"
LIST_COLUMNS = ["file", "name", "version", "status", "hash", "description"]
NO_SOURCES = "_No sources yet._"
UNREADABLE = "⚠️ The agents folder cannot be read; check that it exists and is readable, then press Reload."
log = logging.getLogger(__name__)


# Pure helpers (testable without a server)


@dataclass(frozen=True)
class Detail:
    """What the tab shows for one agent: its problems (or that it validates), and its Mermaid drawing when it has
    one."""

    problems: str
    drawing: str | None = None

    @property
    def ok(self) -> bool:
        return self.drawing is not None


def read_agents() -> list[Agent]:
    """Every spec of the agents folder (``WORKBENCH_AGENTS_DIR`` or ``agents/``), read and checked now."""
    return catalog.agents()


def choices(agents: Iterable[Agent]) -> list[str]:
    """The agent names for the picker, in file order, each once (two files of one name run the first one)."""
    return list(dict.fromkeys(agent.name for agent in agents))


def find(agents: Iterable[Agent], name: str | None) -> Agent | None:
    """The agent called `name` (the first file of that name), or None."""
    return next((agent for agent in agents if agent.name == name), None)


def status_cell(agent: Agent) -> str:
    return "ok" if agent.ok else f"{len(agent.problems)} problem(s)"


def listing_rows(agents: Iterable[Agent]) -> list[list[str]]:
    """One row per spec file: file name, agent name, version, ok or how many problems, hash, description."""
    return [
        [
            agent.path.name,
            agent.name,
            agent.version,
            status_cell(agent),
            agent.digest,
            agent.spec.description if agent.spec is not None else "",
        ]
        for agent in agents
    ]


def listing_markdown(agents: list[Agent]) -> str:
    """The specs as a Markdown table (every cell escaped: a spec's text is shown, never interpreted)."""
    if not agents:
        return "_No agent specs: add a YAML spec to the agents folder and press Reload._"
    rows = ["| " + " | ".join(LIST_COLUMNS) + " |", "|" + "---|" * len(LIST_COLUMNS)]
    rows += ["| " + " | ".join(md_text(cell) or " " for cell in row) + " |" for row in listing_rows(agents)]
    return "\n".join(rows)


def problem_lines(problems: Iterable[SpecProblem]) -> list[str]:
    """Each problem as ``file:line: node NAME: message``, the file named by its file name only."""
    return [str(dataclasses.replace(problem, file=PurePath(problem.file).name)) for problem in problems]


def _problems_markdown(file: str, lines: list[str]) -> str:
    head = f"⚠️ **{md_text(file)}** has {len(lines)} problem(s); it cannot run until they are fixed (then Reload)."
    return f"{head}\n\n{md_fence(chr(10).join(lines))}"


def drawing(agent: Agent) -> str:
    """The agent's compiled graph as Mermaid text (one node per spec node, plus ``__start__`` and ``__end__``);
    :class:`SpecError` when a spec it runs as a subgraph has problems."""
    from workbench.agents.compiler import compile_spec

    if agent.spec is None:
        raise SpecError(agent.problems)
    return compile_spec(agent.spec, folder=agent.path.parent).get_graph().draw_mermaid()


def detail(agent: Agent | None) -> Detail:
    """The problems of a broken spec, or that it validates and its drawing."""
    if agent is None:
        return Detail("_Choose an agent._")
    if not agent.ok:
        return Detail(_problems_markdown(agent.path.name, problem_lines(agent.problems)))
    assert agent.spec is not None
    try:
        text = drawing(agent)
    except SpecError as exc:  # a subgraph's spec is broken: the agent validates but cannot be built
        return Detail(_problems_markdown(agent.path.name, problem_lines(exc.problems)))
    except Exception:
        log.exception("drawing agent %s", agent.name)
        return Detail(f"⚠️ **{md_text(agent.path.name)}** validates but its graph cannot be built.")
    nodes = len(agent.spec.nodes)
    return Detail(f"✅ **{md_text(agent.path.name)}** validates: {nodes} node(s), version {agent.version}.", text)


def mermaid_markdown(text: str | None) -> str:
    """The drawing as a Markdown ``mermaid`` block, which Gradio renders as a diagram."""
    return md_fence(text, "mermaid") if text else ""


def snapshot(agents: Iterable[Agent]) -> dict[str, bool]:
    """What the chat needs to know of the listing: whether each agent name can run."""
    found: dict[str, bool] = {}
    for agent in agents:
        found.setdefault(agent.name, agent.ok)
    return found


def refusal(name: str | None, known: dict[str, bool]) -> str | None:
    """Why a turn cannot be sent to `name`, or None when it can."""
    if not name:
        return "⚠️ Choose an agent first."
    if name not in known:
        return f"⚠️ There is no agent {md_text(name)} any more; press Reload."
    if not known[name]:
        return f"⚠️ {md_text(name)} cannot be chatted with: its spec has problems (listed above); fix them and Reload."
    return None


# The tab


def render(services: UiServices, demo: gr.Blocks) -> None:
    session = gr.State(lambda: str(uuid.uuid4()))
    known = gr.State({})  # agent name -> whether it validates, as last listed
    with gr.Row(equal_height=True):
        select = gr.Dropdown(label="Agent", choices=[], elem_id="agents-select", scale=4)
        reload = gr.Button("Reload", elem_id="agents-reload", scale=1)
    listing = gr.Markdown("_Reading the agents folder…_", elem_id="agents-list")
    with gr.Row():
        with gr.Column(scale=2):
            problems = gr.Markdown(elem_id="agents-problems")
            diagram = gr.Markdown(elem_id="agents-diagram", visible=False)
            graph = gr.Code(
                label="Graph (Mermaid)", language=None, interactive=False, elem_id="agents-drawing", visible=False
            )
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(elem_id="agents-chatbot", label="Conversation", height=420)
            question = gr.Textbox(elem_id="agents-input", placeholder="Ask the agent…", show_label=False)
            with gr.Row():
                send = gr.Button("Send", variant="primary", elem_id="agents-send")
                stop = gr.Button("Stop", variant="stop", elem_id="agents-stop")
            status = gr.Markdown(elem_id="agents-status")
            gr.Markdown("### Sources")
            sources = gr.Markdown(NO_SOURCES, elem_id="agents-sources")

    def shown(found: Detail) -> tuple[str, dict, dict]:
        return (
            found.problems,
            gr.update(value=mermaid_markdown(found.drawing), visible=found.ok),
            gr.update(value=found.drawing or "", visible=found.ok),
        )

    async def load_folder(current: str | None) -> tuple[Any, ...]:
        try:
            agents = await asyncio.to_thread(read_agents)
        except OSError:
            return UNREADABLE, gr.update(choices=[], value=None), {}, *shown(Detail(""))
        names = choices(agents)
        chosen = current if current in names else (names[0] if names else None)
        found = await asyncio.to_thread(detail, find(agents, chosen))
        picker = gr.update(choices=names, value=chosen)
        return listing_markdown(agents), picker, snapshot(agents), *shown(found)

    folder_outputs = [listing, select, known, problems, diagram, graph]
    demo.load(load_folder, [select], folder_outputs)
    reload.click(load_folder, [select], folder_outputs)

    async def choose(name: str | None) -> tuple[Any, ...]:
        """Another agent: its detail, and a new conversation (a session is per agent)."""
        try:
            agents = await asyncio.to_thread(read_agents)
        except OSError:
            return (UNREADABLE, *shown(Detail(""))[1:], str(uuid.uuid4()), [], NO_SOURCES, "")
        agent = find(agents, name)
        found = await asyncio.to_thread(detail, agent)
        note = "" if agent is None else f"New conversation with {md_text(agent.name)}."
        if agent is not None and not agent.ok:
            note = refusal(agent.name, snapshot(agents)) or note
        return (*shown(found), str(uuid.uuid4()), [], NO_SOURCES, note)

    async def respond(message: str, history: list, session_id: str, name: str | None, listed: dict[str, bool]):
        if not message.strip():
            yield history, gr.update(), gr.update(), ""
            return
        refused = refusal(name, listed)
        if refused is not None or name is None:
            yield history, gr.update(), gr.update(), refused
            return
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        yield history, gr.update(), "", "_Running…_"
        request = TurnRequest(content=message, session_id=session_id, agent=name, entry_point="ui")
        async for update in stream_turn(services.chat(), request, history):
            yield update

    inputs = [question, chatbot, session, select, known]
    outputs = [chatbot, sources, question, status]
    on_send = send.click(respond, inputs, outputs)
    on_submit = question.submit(respond, inputs, outputs)
    stop.click(lambda: "Stopped.", outputs=[status], cancels=[on_send, on_submit])
    select.change(choose, [select], [problems, diagram, graph, session, chatbot, sources, status],
                  cancels=[on_send, on_submit])  # fmt: skip

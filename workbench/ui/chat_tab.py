"""The Chat tab: streamed, cited answers; sources with their scores; model, collection, top-k; upload."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gradio as gr

from graphs.chat_prompts import ANSWER_PROMPTS, DEFAULT_VERSION
from workbench.audit.markdown import md_text
from workbench.citations import label
from workbench.documents import COLLECTION_RULE, RetrievedDoc, SearchMode, is_collection_name
from workbench.errors import WorkbenchError
from workbench.events import ChatDoneEvent, PublicDocument, RetrievalEvent, TokenEvent
from workbench.providers.llm import auto_note
from workbench.turns.chat import ChatService, SessionBusy, TurnRequest
from workbench.ui.trace_links import trace_link
from workbench.ui.uploads import NotAnUpload, uploaded_file

if TYPE_CHECKING:
    from workbench.ui.context import UiServices as Services

TITLE = "Chat"
INDEX_CONCURRENCY = 4
"""Uploads indexed at once, over all clients (Gradio runs an event one at a time unless told): each file's parse
is bounded (``WORKBENCH_INGEST_PDF_MAX_CONTENT_BYTES``), so one slow file holds up no one else's indexing."""


def sources_markdown(documents: list[PublicDocument], cited: list[int] | None = None) -> str:
    """The sources panel: each retrieved chunk with its fused, dense and sparse scores, cited ones marked."""
    if not documents:
        return "_No sources yet._"

    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    rows = ["| # | source | fused | dense | sparse | cited |", "|---|---|---|---|---|---|"]
    for i, doc in enumerate(documents, start=1):
        mark = "✅" if cited and i in cited else ""
        scores = " | ".join(fmt(score) for score in (doc.score, doc.dense_score, doc.sparse_score))
        rows.append(f"| {i} | {label(cast(RetrievedDoc, doc.model_dump()))} | {scores} | {mark} |")
    return "\n".join(rows)


async def stream_turn(
    chat: ChatService,
    request: TurnRequest,
    history: list[dict[str, Any]],
    note: Callable[[ChatDoneEvent], Awaitable[str | None]] | None = None,
) -> AsyncIterator[tuple[Any, Any, str, Any]]:
    """One chat turn for a tab (the Chat tab, the Agents tab): ``(chatbot, sources, question box, status)`` updates
    as the answer streams into ``history``'s last message. A turn stopped by the user (Stop, a new session, the page
    closed) is logged as aborted, even one stopped before its graph started; `note` adds a line to the status, which
    links the answer's trace."""
    documents: list[PublicDocument] = []
    answer = ""
    run_id = str(uuid.uuid4())
    try:
        async for event in chat.stream(request, run_id):
            if isinstance(event, RetrievalEvent):
                documents = event.documents
                yield history, sources_markdown(documents), "", "_Answering…_"
            elif isinstance(event, TokenEvent):
                answer += event.content
                history[-1] = {"role": "assistant", "content": answer}
                yield history, gr.update(), "", gr.update()
            elif isinstance(event, ChatDoneEvent):
                if event.answer and event.answer != answer:  # an answer that was not streamed token by token
                    history[-1] = {"role": "assistant", "content": event.answer}
                model = str(event.model or "the agent").replace("`", "")
                status = f"Answered by `{model}` · run `{event.run_id}` · {trace_link(event.run_id)}"
                extra = await note(event) if note is not None else None
                yield (
                    history,
                    sources_markdown(documents, event.citations),
                    "",
                    status + (f"  \nℹ️ {extra}" if extra else ""),
                )
    except SessionBusy:
        yield history, gr.update(), "", "⚠️ This conversation is still answering; wait or press Stop."
    except TimeoutError:
        yield history, gr.update(), "", "⚠️ The answer took too long and was stopped."
    except WorkbenchError as exc:
        yield history, gr.update(), "", f"⚠️ {md_text(exc)}"
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(chat.settle(request, run_id))
        raise


def render(services: Services, demo: gr.Blocks) -> None:
    session = gr.State(lambda: str(uuid.uuid4()))
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(elem_id="chatbot", label="Conversation", height=480)
            question = gr.Textbox(elem_id="chat-input", placeholder="Ask about your documents…", show_label=False)
            with gr.Row():
                send = gr.Button("Send", variant="primary", elem_id="chat-send")
                stop = gr.Button("Stop", variant="stop", elem_id="chat-stop")
                new_session = gr.Button("New session", elem_id="chat-new-session")
            status = gr.Markdown(elem_id="chat-status")
        with gr.Column(scale=2):
            model = gr.Dropdown(label="Model", choices=["auto"], value="auto", elem_id="chat-model")
            collection = gr.Dropdown(label="Collection", choices=[], allow_custom_value=True, elem_id="chat-collection")
            top_k = gr.Slider(1, 20, value=5, step=1, label="Top-k", elem_id="chat-top-k")
            mode = gr.Radio(["hybrid", "dense", "sparse"], value="hybrid", label="Retrieval")
            prompt = gr.Dropdown(list(ANSWER_PROMPTS), value=DEFAULT_VERSION, label="Prompt version")
            gr.Markdown("### Sources")
            sources = gr.Markdown("_No sources yet._", elem_id="chat-sources")
            upload = gr.File(
                label="Add documents (md, txt, pdf)", file_count="multiple", file_types=[".md", ".txt", ".pdf"]
            )
            with gr.Row():
                index = gr.Button("Index uploaded files", elem_id="chat-index")
                stop_index = gr.Button("Stop indexing", elem_id="chat-index-stop")
            ingest_status = gr.Markdown(elem_id="chat-ingest-status")

    def pickers() -> tuple[dict, dict]:
        resources = services.resources()
        names = resources.store.collections() or [resources.settings.collection]
        return (
            gr.update(choices=resources.models.available(), value=resources.settings.llm),
            gr.update(choices=names, value=resources.settings.collection),
        )

    demo.load(pickers, outputs=[model, collection])

    async def respond(message: str, history: list, session_id: str, model_spec: str, coll: str, k: float,
                      search_mode: str, prompt_version: str):  # fmt: skip
        if not message.strip():
            yield history, gr.update(), "", ""
            return
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        yield history, gr.update(), "", "_Searching…_"
        request = TurnRequest(
            content=message,
            session_id=session_id,
            model=model_spec,
            collection=coll or None,
            top_k=int(k),
            search_mode=cast(SearchMode, search_mode),
            prompt_version=prompt_version,
            entry_point="ui",
        )

        async def note(done: ChatDoneEvent) -> str | None:
            if done.model == "extractive" and (model_spec or "auto") == "auto":
                return await asyncio.to_thread(auto_note, services.resources().settings)
            return None

        async for update in stream_turn(services.chat(), request, history, note):
            yield update

    inputs = [question, chatbot, session, model, collection, top_k, mode, prompt]
    outputs = [chatbot, sources, question, status]
    on_send = send.click(respond, inputs, outputs)
    on_submit = question.submit(respond, inputs, outputs)
    stop.click(lambda: "Stopped.", outputs=[status], cancels=[on_send, on_submit])
    new_session.click(lambda: (str(uuid.uuid4()), [], "_No sources yet._", "New session."),
                      outputs=[session, chatbot, sources, status], cancels=[on_send, on_submit])  # fmt: skip

    async def index_files(files: list[str] | None, coll: str, progress: gr.Progress = gr.Progress()) -> str:
        if not files:
            return "Choose files first."
        from workbench.ingest.pdf import IngestCancelled
        from workbench.ingest.pipeline import ingest_bytes

        resources = services.resources()
        settings = resources.settings
        name = coll or settings.collection
        if not is_collection_name(name):
            return f"⚠️ {COLLECTION_RULE.capitalize()}."
        if len(files) > settings.max_upload_files:
            return f"⚠️ Index at most {settings.max_upload_files} files at once."
        lines = []
        for i, path in enumerate(files):
            label = Path(path).name
            progress((i, len(files)), desc=f"Indexing {label}")
            try:
                upload = uploaded_file(path, demo.upload_file_set)
            except NotAnUpload as exc:
                lines.append(f"- {label}: skipped, {exc}")
                continue
            if upload.stat().st_size > settings.max_upload_bytes:
                lines.append(f"- {label}: skipped, larger than {settings.max_upload_bytes} bytes")
                continue
            data = await asyncio.to_thread(upload.read_bytes)
            cancel = threading.Event()
            try:
                report = await asyncio.to_thread(ingest_bytes, resources.store, label, data, name, cancel=cancel)
            except asyncio.CancelledError:  # Stop indexing, the page closed, the server stopping: the parse
                cancel.set()  # stops at its next page or operation instead of running on in its thread
                raise
            except IngestCancelled:
                return "\n".join([*lines, f"- {label}: stopped"])
            reasons = "; ".join(reason.removeprefix(f"{label}: ") for reason in report.failures.values())
            lines.append(f"- {md_text(label)}: " + (f"⚠️ {md_text(reasons)}" if reasons else report.summary()))
        return "\n".join(lines)

    on_index = index.click(index_files, [upload, collection], [ingest_status], concurrency_limit=INDEX_CONCURRENCY,
                           concurrency_id="chat-index")  # fmt: skip
    stop_index.click(lambda: "Indexing stopped.", outputs=[ingest_status], cancels=[on_index])

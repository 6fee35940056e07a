"""``workbench ask``: one chat turn in the terminal (``workbench agents run`` takes one with an agent spec)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from workbench.cli.clients import opened

if TYPE_CHECKING:
    from workbench.resources import Resources
    from workbench.turns.chat import TurnRequest


def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    session: Annotated[str | None, typer.Option(help="Session id, to continue a conversation.")] = None,
    model: Annotated[str | None, typer.Option(help='"provider/model" (default: WORKBENCH_LLM).')] = None,
    collection: Annotated[str | None, typer.Option(help="Collection to search.")] = None,
) -> None:
    """One chat turn in the terminal, streamed, with its citations."""
    from workbench.turns.chat import TurnRequest

    session_id = session or new_session()
    turn(TurnRequest(question, session_id, model=model, collection=collection, entry_point="cli"))


def new_session() -> str:
    """A new session id, for a turn that continues none (printed on stderr, to continue it)."""
    return uuid.uuid4().hex[:12]


def turn(request: TurnRequest) -> None:
    """Run one chat turn, printing the answer as it streams, its citations under it, and the run on stderr."""
    from workbench.settings import get_settings

    with opened(get_settings()) as resources:
        asyncio.run(_stream(request, resources))


async def _warm(resources: Resources, model: str | None) -> None:
    """Load the model before the question is asked, and say how long that took (it is not the answer's time)."""
    from workbench.errors import WorkbenchError
    from workbench.turns.chat import warm_chat_model

    try:
        spent = await asyncio.to_thread(warm_chat_model, resources, model)
    except WorkbenchError:  # the turn reports it, as it would have without warming
        return
    if spent is not None:
        typer.echo(f"(model {resources.models.concrete(model)} loaded and ready in {spent:.1f} s)", err=True)


async def _stream(request: TurnRequest, resources: Resources) -> None:
    from workbench.events import ChatDoneEvent, PublicDocument, RetrievalEvent, TokenEvent
    from workbench.services import open_chat

    async with open_chat(resources) as service:
        if service.runtime.kind == "in-process":  # a LangGraph Server runs its own models
            await _warm(resources, request.model)
        documents: list[PublicDocument] = []
        started, first = time.perf_counter(), None
        async for event in service.stream(request):
            if isinstance(event, RetrievalEvent):
                documents = event.documents
            elif isinstance(event, TokenEvent):
                first = first or time.perf_counter() - started
                typer.echo(event.content, nl=False)
            elif isinstance(event, ChatDoneEvent):
                typer.echo("")
                for number in event.citations:
                    doc = documents[number - 1]
                    typer.echo(f"[{number}] {doc.source}" + (f" — {doc.section}" if doc.section else ""))
                waited = f"first token {first:.2f} s, " if first is not None else ""
                typer.echo(
                    f"(model: {event.model}, {waited}run: {event.run_id}, session: {request.session_id})", err=True
                )

"""The ``workbench`` command."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Agent Workbench: RAG chat, voice, repository audits, run log and evals.", no_args_is_help=True)

QUIET_OFFLINE = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",
}


@app.callback()
def _quiet() -> None:
    for key, value in QUIET_OFFLINE.items():
        os.environ.setdefault(key, value)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the UI at / and the protocols (/ws/chat, /health)."""
    import uvicorn

    from workbench.settings import get_settings

    settings = get_settings()
    typer.echo(f"Agent Workbench on http://{host}:{port}/ (data in {settings.home.resolve()})")
    uvicorn.run(
        "workbench.server:create_app",
        factory=True,
        host=host,
        port=port,
        ws_max_size=max(4 * settings.max_message_bytes, 1 << 20),
        log_level="info",
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (md, txt, pdf).", exists=True)],
    collection: Annotated[str | None, typer.Option(help="Collection (default: WORKBENCH_COLLECTION).")] = None,
) -> None:
    """Chunk, embed and index files; unchanged files are skipped, changed ones replaced."""
    from workbench.ingest.pipeline import ingest_paths
    from workbench.resources import get_resources

    resources = get_resources()
    name = collection or resources.settings.collection
    with typer.progressbar(length=1, label=f"Indexing into {name!r}") as bar:

        def progress(update: object) -> None:
            total = getattr(update, "total_files", 1) or 1
            bar.length = total
            bar.update(1)

        report = ingest_paths(resources.store, paths, name, progress=progress)
    typer.echo(report.summary())
    for source, problem in report.failures.items():
        typer.echo(f"failed: {source}: {problem}", err=True)
    resources.close()
    if report.failed:
        raise typer.Exit(1)


async def _ask(question: str, session_id: str, model: str | None, collection: str | None) -> None:
    from workbench.chat.service import TurnRequest
    from workbench.resources import get_resources
    from workbench.services import open_services

    resources = get_resources()
    async with open_services(resources) as services:
        service = services.chat
        request = TurnRequest(question, session_id, model=model, collection=collection, entry_point="cli")
        documents = []
        async for event in service.stream(request):
            if event["type"] == "retrieval":
                documents = event["documents"]
            elif event["type"] == "token":
                typer.echo(event["content"], nl=False)
            elif event["type"] == "done":
                typer.echo("")
                for number in event["citations"]:
                    doc = documents[number - 1]
                    typer.echo(f"[{number}] {doc['source']}" + (f" — {doc['section']}" if doc["section"] else ""))
                typer.echo(f"(model: {event['model']}, run: {event['run_id']}, session: {session_id})", err=True)
    resources.close()


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    session: Annotated[str | None, typer.Option(help="Session id, to continue a conversation.")] = None,
    model: Annotated[str | None, typer.Option(help='"provider/model" (default: WORKBENCH_LLM).')] = None,
    collection: Annotated[str | None, typer.Option(help="Collection to search.")] = None,
) -> None:
    """One chat turn in the terminal, streamed, with its citations."""
    asyncio.run(_ask(question, session or uuid.uuid4().hex[:12], model, collection))


@app.command()
def runs(
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    graph: Annotated[str | None, typer.Option(help="Only this graph.")] = None,
    status: Annotated[str | None, typer.Option(help="ok, error or aborted.")] = None,
) -> None:
    """Recent runs from the DuckDB run log."""
    from workbench.runlog import get_runlog

    rows = get_runlog().recent_runs(limit=limit, graph=graph, status=status)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    for row in rows:
        took = (row["ended_at"] - row["started_at"]).total_seconds() if row["ended_at"] else float("nan")
        text = (row["input"] or "").replace("\n", " ")[:60]
        typer.echo(
            f"{row['started_at']:%Y-%m-%d %H:%M:%S}  {row['run_id'][:8]}  {row['graph']:<10} {row['entry_point']:<9}"
            f" {row['status']:<8} {took:6.2f}s  {row['model'] or '-':<22} {text}"
        )


if __name__ == "__main__":
    app()

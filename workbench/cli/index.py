"""``workbench ingest`` and ``workbench index export|import``: the vector index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.clients import opened
from workbench.cli.errors import FAILED

app = typer.Typer(help="The vector index: move a collection between stores as a file.", no_args_is_help=True)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (md, txt, pdf).", exists=True)],
    collection: Annotated[str | None, typer.Option(help="Collection (default: WORKBENCH_COLLECTION).")] = None,
) -> None:
    """Chunk, embed and index files; unchanged files are skipped, changed ones replaced."""
    from workbench.ingest.pipeline import ingest_paths
    from workbench.settings import get_settings

    settings = get_settings()
    name = collection or settings.collection
    with opened(settings) as resources, typer.progressbar(length=1, label=f"Indexing into {name!r}") as bar:

        def progress(update: object) -> None:
            bar.length = getattr(update, "total_files", 1) or 1
            bar.update(1)

        report = ingest_paths(resources.store, paths, name, progress=progress)
    typer.echo(report.summary())
    for source, problem in report.failures.items():
        typer.echo(f"failed: {source}: {problem}", err=True)
    if report.failed:
        raise typer.Exit(FAILED)


@app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="The file to write (JSON lines).", dir_okay=False)],
    collection: Annotated[str | None, typer.Option(help="The collection (default: WORKBENCH_COLLECTION).")] = None,
) -> None:
    """Write a collection's points (ids, dense and sparse vectors, payloads) to a file, from the configured store."""
    from workbench.ingest.transfer import export_to_file
    from workbench.settings import get_settings

    settings = get_settings()
    name = collection or settings.collection
    with opened(settings) as resources:
        count = export_to_file(resources.store, name, file)
    typer.echo(f"exported {count} points of {name!r} to {file}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A file written by `workbench index export`.", dir_okay=False)],
    collection: Annotated[str | None, typer.Option(help="The collection to write (default: the file's).")] = None,
) -> None:
    """Read an exported collection into the configured store (checked first: a broken file writes nothing)."""
    from workbench.ingest.transfer import import_from_file
    from workbench.settings import get_settings

    with opened(get_settings()) as resources:
        name, count = import_from_file(resources.store, file, collection)
    typer.echo(f"imported {count} points into {name!r}")

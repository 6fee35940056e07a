"""``workbench agents``: declarative agent specs (agents/*.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.errors import FAILED, Failed

app = typer.Typer(
    help="Declarative agent specs (agents/*.yaml): list, validate, draw, run, sync.", no_args_is_help=True
)


@app.command("list")
def list_() -> None:
    """The specs of the agents folder: file, name, version, whether each validates, its hash, its description."""
    from workbench.agents import catalog

    for agent in catalog.agents():
        if agent.spec is not None:
            typer.echo(
                f"{agent.path.name}\t{agent.name}\t{agent.version}\tok\t{agent.digest}\t{agent.spec.description}"
            )
        else:
            problems = f"{len(agent.problems)} problem(s): run `workbench agents validate`"
            typer.echo(f"{agent.path.name}\t-\t-\t{problems}\t{agent.digest}")


@app.command("validate")
def validate(
    files: Annotated[list[Path] | None, typer.Argument(help="Spec files (default: every spec in agents/).")] = None,
) -> None:
    """Check specs; print every problem as file:line: node: message, and langgraph.json entries that are not in
    step with the agents folder. Exit 1 when anything is wrong."""
    from workbench.agents import catalog
    from workbench.agents.served import stale_langgraph_entries

    failed = False
    for agent in [catalog.read(p, catalog.agents_dir()) for p in files] if files else catalog.agents():
        if agent.spec is not None:
            typer.echo(f"{agent.path.name}: {agent.name} {agent.version}: ok ({len(agent.spec.nodes)} nodes)")
        failed = failed or not agent.ok
        for problem in agent.problems:
            typer.echo(str(problem), err=True)
    if not files:
        missing, extra = stale_langgraph_entries()
        for name in missing:
            typer.echo(f"langgraph.json: agent {name!r} is not served: run `workbench agents sync`", err=True)
        for name in extra:
            typer.echo(f"langgraph.json: {name!r} has no valid spec: run `workbench agents sync`", err=True)
        failed = failed or bool(missing or extra)
    if failed:
        raise typer.Exit(FAILED)


@app.command("sync")
def sync() -> None:
    """Write langgraph.json's agent entries from the agents folder, so `langgraph dev` serves every valid spec."""
    from workbench.agents.served import sync_langgraph_json

    graphs = sync_langgraph_json()
    typer.echo("langgraph.json: up to date" if graphs is None else f"langgraph.json: {graphs} graphs")


@app.command("draw")
def draw(target: Annotated[str, typer.Argument(help="An agent's name (in agents/) or a spec file.")]) -> None:
    """Print the compiled graph of a spec as a Mermaid drawing."""
    from workbench.agents.compiler import compile_spec
    from workbench.agents.served import BrokenSpec, find_spec

    try:
        path, spec = find_spec(target)
    except BrokenSpec as exc:
        problems = "\n".join(str(p) for p in exc.problems)
        raise Failed(f"{problems}\n(run `workbench agents validate {exc.path}`)") from exc
    typer.echo(compile_spec(spec, folder=path.parent).get_graph().draw_mermaid())


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="An agent's name (see `workbench agents list`).")],
    question: Annotated[str, typer.Argument(help="The question.")],
    session: Annotated[str | None, typer.Option(help="Session id, to continue a conversation.")] = None,
    model: Annotated[
        str | None, typer.Option(help='"provider/model" for every llm node (default: the spec\'s).')
    ] = None,
) -> None:
    """One chat turn with an agent in the terminal, streamed, with its citations (logged like any chat turn)."""
    from workbench.agents import catalog
    from workbench.cli.chat import new_session, turn
    from workbench.turns.chat import TurnRequest

    catalog.require(name)
    turn(TurnRequest(question, session or new_session(), model=model, entry_point="cli", agent=name))

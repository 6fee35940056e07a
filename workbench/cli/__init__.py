"""The ``workbench`` command: one module per command group, each command a thin layer that reads its options,
calls the application and prints. Nothing heavy is imported before a command runs (``workbench ask`` loads no
server, UI or audit code); errors end the way :mod:`workbench.cli.errors` says."""

from __future__ import annotations

import gc
import os
from typing import Annotated

import typer

from workbench.cli import agents, audit, chat, evaluation, index, runs, serve, tracking, voice
from workbench.cli.errors import ErrorMapping

app = typer.Typer(
    cls=ErrorMapping,
    help="Agent Workbench: RAG chat, voice, repository audits, run log and evals.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a bug's traceback shows no settings, tokens or texts
)

QUIET_OFFLINE = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # stderr stays for messages
    "HF_HUB_OFFLINE": "1",
}
"""Set for every command unless already set: nothing tries to leave the machine."""


STARTUP_GC = (10_000, 50, 50)
"""The collector's thresholds for a command that is not ``serve``. A command imports about 1,400 modules whose
objects live until it exits; at the defaults (700, 10, 10) the collector walks them again and again while they load,
about 50 ms of a 1.4 s ``workbench ask`` (bench/startup.py). Cycles are still collected, less often."""


@app.callback()
def _options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error, not only its message.")
    ] = False,
) -> None:
    for key, value in QUIET_OFFLINE.items():
        os.environ.setdefault(key, value)
    if ctx.invoked_subcommand != "serve":  # a server lives on: it keeps the defaults
        gc.set_threshold(*STARTUP_GC)


app.command()(serve.serve)
app.command()(index.ingest)
app.command()(chat.ask)
app.add_typer(runs.app, name="runs")
app.command()(voice.transcribe)
app.command()(voice.say)
app.command()(audit.audit)
app.add_typer(evaluation.app, name="eval")
app.add_typer(index.app, name="index")
app.add_typer(agents.app, name="agents")
app.command()(tracking.mlflow)


def main() -> None:
    """The ``workbench`` command (the package's entry point)."""
    app()

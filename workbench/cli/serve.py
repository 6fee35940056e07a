"""``workbench serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from workbench.cli.clients import opened
from workbench.cli.errors import BadArgument


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the UI at / and the protocols (/ws/chat, /ws/assistant, /ws/tasks, /api/tasks, /health).

    On loopback the API token is optional; any other address needs WORKBENCH_API_TOKEN.
    """
    import uvicorn

    from workbench.server import create_app
    from workbench.server.exposure import refusal, websocket_max_size
    from workbench.settings import get_settings

    settings = get_settings()
    if (refused := refusal(host, settings)) is not None:
        raise BadArgument(refused)
    typer.echo(f"Agent Workbench on http://{host}:{port}/ (data in {settings.home.resolve()})")
    if settings.api_token is not None:
        typer.echo("The API token is required: log in at /login, or send it as 'Authorization: Bearer <token>'.")
    with opened(settings) as resources:
        app = create_app(settings, resources, bind_host=host)
        uvicorn.run(app, host=host, port=port, ws_max_size=websocket_max_size(settings), log_level="info")

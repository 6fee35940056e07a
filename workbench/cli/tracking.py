"""``workbench mlflow``: the MLflow UI over the evals' tracking store."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer


def mlflow(
    port: Annotated[int, typer.Option(help="Port to listen on (loopback only).")] = 5000,
) -> None:
    """Start the MLflow UI on 127.0.0.1 over the workbench's tracking store."""
    from workbench.evals.tracking import artifact_root, tracking_uri
    from workbench.settings import get_settings

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", tracking_uri(settings), "--default-artifact-root", artifact_root(settings).as_uri(),
    ]  # fmt: skip
    typer.echo(f"MLflow UI on http://127.0.0.1:{port}/ (store: {tracking_uri(settings)})", err=True)
    os.execv(sys.executable, command)  # MLflow takes this process over: Ctrl+C and signals reach it directly

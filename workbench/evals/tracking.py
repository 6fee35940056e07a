"""MLflow for the workbench: a local sqlite store under ``WORKBENCH_HOME`` unless ``MLFLOW_TRACKING_URI`` says
otherwise, one experiment per suite (artifacts beside the store), and the prompt registry.

MLflow is imported lazily (it takes seconds): nothing here runs at import time.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import ConfigurationError
from workbench.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT_PREFIX = "workbench/"
_configured: set[str] = set()
_lock = threading.Lock()


def tracking_uri(settings: Settings) -> str:
    """``MLFLOW_TRACKING_URI`` when set (an MLflow server), else ``sqlite:///<home>/mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(settings.home / 'mlflow.db').resolve()}"


def artifact_root(settings: Settings) -> Path:
    return (settings.home / "mlartifacts").resolve()


def configure(settings: Settings) -> str:
    """Point MLflow at the workbench's store (once per URI per process) and return the URI.

    A remote server that cannot be reached fails here with a clear message, within MLflow's HTTP timeout
    (``MLFLOW_HTTP_REQUEST_TIMEOUT``, set to 10 s unless given) instead of hanging.
    """
    import mlflow

    uri = tracking_uri(settings)
    with _lock:
        if uri not in _configured:
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            settings.home.mkdir(parents=True, exist_ok=True)
            mlflow.set_tracking_uri(uri)
            try:
                mlflow.MlflowClient().search_experiments(max_results=1)
            except Exception as exc:
                raise ConfigurationError(f"MLflow tracking at {uri} is not usable: {exc}") from exc
            _configured.add(uri)
        else:
            mlflow.set_tracking_uri(uri)
    return uri


_warming: dict[str, Future[str]] = {}
_warming_lock = threading.Lock()


def warm_in_background(settings: Settings) -> Future[str]:
    """Import MLflow and open the workbench's store in a worker thread, once per URI per process: the server calls
    it after start, so the Evals tab finds MLflow ready instead of waiting seconds for it. The future gives the
    URI, or raises what :func:`configure` raises (and the next call tries again)."""
    uri = tracking_uri(settings)
    with _warming_lock:
        future = _warming.get(uri)
        if future is None or (future.done() and future.exception() is not None):  # a failure is tried again
            future = _warming[uri] = Future()

            def warm() -> None:
                try:
                    future.set_result(configure(settings))
                except BaseException as exc:  # handed to whoever waits
                    future.set_exception(exc)

            threading.Thread(target=warm, name="mlflow-warm", daemon=True).start()
    return future


def client(settings: Settings) -> MlflowClient:
    from mlflow import MlflowClient

    configure(settings)
    return MlflowClient()


def experiment_name(suite: str) -> str:
    return f"{EXPERIMENT_PREFIX}{suite}"


def experiment_id(settings: Settings, suite: str) -> str:
    """The suite's experiment, created on first use with its artifacts under ``<home>/mlartifacts``."""
    mlflow_client = client(settings)
    name = experiment_name(suite)
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if tracking_uri(settings).startswith("sqlite:"):
        location = (artifact_root(settings) / suite).as_uri()
    try:
        return mlflow_client.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by another process
        again = mlflow_client.get_experiment_by_name(name)
        if again is None:
            raise
        return again.experiment_id


def register_prompt(settings: Settings, name: str, template: str, label: str) -> str:
    """Register ``template`` as a version of prompt ``name`` unless an identical version exists; returns the
    version's URI (``prompts:/name/N``). The workbench's own label (``v1``, ``audit-v1``) is a version tag."""
    mlflow_client = client(settings)
    try:
        existing = list(mlflow_client.search_prompt_versions(name))
    except Exception:  # no prompt of that name yet
        existing = []
    for version in existing:
        if version.template == template:
            return f"prompts:/{name}/{version.version}"
    registered = mlflow_client.register_prompt(
        name=name, template=template, commit_message=f"workbench {label}", tags={"workbench_label": label}
    )
    return f"prompts:/{name}/{registered.version}"


def link_prompts(settings: Settings, run_id: str, uris: list[str]) -> None:
    """Record on the run which prompt versions it used (MLflow shows them on the run and the prompt)."""
    mlflow_client = client(settings)
    for uri in uris:
        mlflow_client.link_prompt_version_to_run(run_id, mlflow_client.load_prompt(uri))

"""MLflow for the workbench: a local sqlite store under ``WORKBENCH_HOME`` unless ``MLFLOW_TRACKING_URI`` says
otherwise, one experiment per suite (artifacts beside the store), and the prompt registry.

MLflow is imported lazily (it takes seconds): nothing here runs at import time.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def register_prompt(settings: Settings, name: str, template: str, version_label: str) -> str:
    """Register ``template`` as a version of prompt ``name`` unless an identical version exists; returns its
    URI (``prompts:/name/N``). The workbench's own label (``v1``, ``audit-v1``) is kept as a version tag."""
    import mlflow

    configure(settings)
    try:
        versions = mlflow.genai.search_prompt_versions(name) if hasattr(mlflow.genai, "search_prompt_versions") else []
    except Exception:
        versions = []
    for version in _versions(name, versions):
        if version.template == template:
            return f"prompts:/{name}/{version.version}"
    registered = mlflow.genai.register_prompt(
        name=name,
        template=template,
        commit_message=f"workbench {version_label}",
        tags={"workbench_label": version_label},
    )
    return f"prompts:/{name}/{registered.version}"


def _versions(name: str, found: Any) -> list[Any]:
    """Every registered version of ``name`` (loaded one by one: the search API differs across MLflow versions)."""
    import mlflow

    versions: list[Any] = list(getattr(found, "prompt_versions", found) or [])
    if versions:
        return versions
    out = []
    number = 1
    while True:
        try:
            out.append(mlflow.genai.load_prompt(f"prompts:/{name}/{number}"))
        except Exception:
            return out
        number += 1

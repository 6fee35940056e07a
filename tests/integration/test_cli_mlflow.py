"""``workbench mlflow``: the MLflow UI on loopback over the store the evals log to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.integration.conftest import ROOT, free_port
from tests.servers import wait_until_answers
from workbench.evals.tracking import client as tracking_client
from workbench.evals.tracking import experiment_id
from workbench.settings import Settings

pytestmark = pytest.mark.integration


def test_the_mlflow_ui_serves_the_eval_experiments_on_loopback(tmp_path):
    home = tmp_path / "home"
    settings = Settings(home=home)
    experiment = experiment_id(settings, "chat-rag")
    client = tracking_client(settings)
    run = client.create_run(experiment, run_name="chat-rag:default")
    client.log_metric(run.info.run_id, "recall_at_k", 0.9)

    port = free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "mlflow", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def output() -> str:  # read once it exited: while it runs, the UI's own server process holds the pipe
        return server.stdout.read().decode() if server.poll() is not None else ""  # type: ignore[union-attr]

    try:
        wait_until_answers(f"{base}/health", server, output=output)
        found = httpx.get(
            f"{base}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "workbench/chat-rag"}
        )
        assert found.status_code == 200 and found.json()["experiment"]["experiment_id"] == experiment
        runs = httpx.post(f"{base}/api/2.0/mlflow/runs/search", json={"experiment_ids": [experiment]}).json()["runs"]
        assert [r["info"]["run_id"] for r in runs] == [run.info.run_id]
        assert runs[0]["data"]["metrics"][0]["value"] == 0.9
        assert httpx.get(base, timeout=10).status_code == 200, "the UI page itself"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the UI and the server process it starts
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

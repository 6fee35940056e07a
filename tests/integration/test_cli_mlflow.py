"""``workbench mlflow``: the MLflow UI on loopback over the store the evals log to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.integration.conftest import ROOT, free_port
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
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read().decode()[-3000:]  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the MLflow UI did not start"
            time.sleep(0.5)
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

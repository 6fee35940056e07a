"""OTLP export reaches a real receiver: a chat turn over /ws/chat on a real ``workbench serve`` whose environment
points ``OTEL_EXPORTER_OTLP_*`` at a real MLflow tracking server arrives there as one trace, under the run's id,
with the same spans (ids, parents, ``gen_ai.*`` attributes) as the run log keeps; and a receiver that is down
costs the turn nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.integration.conftest import running_server, validate_chat_message
from tests.servers import free_port, wait_for_run, wait_until_answers
from workbench.runlog.otel import root_span_id_of
from workbench.runlog.queries import get_trace

pytestmark = pytest.mark.integration

QUESTION = "How do I configure the data folder?"
MODEL = "fake/stream"
"""A scripted chat model: the turn makes a real LLM call (with usage and streamed chunks), and no network."""
LLM_SPAN = f"chat {MODEL}"
FAST_EXPORT = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_BSP_SCHEDULE_DELAY": "200"}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server on a free loopback port (SQLite store), stopped after the module: its URL."""
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_TRACKING", "OTEL_"))}
    log_path = folder / "mlflow.log"
    log = open(log_path, "w")  # noqa: SIM115
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server",
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--default-artifact-root", str(folder / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/health", process, timeout=180, output=log_path.read_text)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and the workers it starts
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def chat_turn(ws_url: str, session: str) -> list[dict[str, Any]]:
    """One user message over /ws/chat, every reply schema-checked, up to ``done``."""
    with connect(f"{ws_url}/ws/chat", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "user_message", "content": QUESTION, "session_id": session, "model": MODEL}))
        messages = [json.loads(ws.recv(timeout=120))]
        validate_chat_message(messages[-1])
        while messages[-1].get("type") != "done":
            messages.append(json.loads(ws.recv(timeout=120)))
            validate_chat_message(messages[-1])
    return messages


def logged_trace(home: Path, run_id: str, names: set[str], timeout: float = 30) -> dict[str, dict[str, Any]]:
    """The run's spans in the server's run log by name, once all of ``names`` are there (it writes in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        trace = get_trace(home / "runs.duckdb", run_id)
        spans = {span["name"]: span for span in (trace or {}).get("spans", [])}
        if names <= spans.keys() and all(span["status"] != "running" for span in spans.values()):
            return spans
        assert time.monotonic() < deadline, f"run {run_id}'s spans {names - spans.keys()} are not in the run log"
        time.sleep(0.3)


def exported_trace(client: Any, experiment: str, trace_id: str, names: set[str], timeout: float = 60) -> Any:
    """The trace ``trace_id`` as MLflow keeps it, once it holds spans of all of ``names`` (spans come in batches)."""
    from mlflow.exceptions import MlflowException

    deadline = time.monotonic() + timeout
    while True:
        found = client.search_traces(locations=[experiment], include_spans=False)
        if any(info.info.trace_id == trace_id for info in found):
            try:
                trace = client.get_trace(trace_id, display=False)
            except MlflowException:
                trace = None
            if trace is not None and names <= {span.name for span in trace.data.spans}:
                return trace
        assert time.monotonic() < deadline, f"trace {trace_id} with spans {sorted(names)} never reached MLflow"
        time.sleep(0.5)


def structured(value: Any) -> Any:
    """A JSON attribute as MLflow gives it back: it reads JSON text into the value it holds."""
    return json.loads(value) if isinstance(value, str) else value


def test_a_chat_turn_reaches_mlflow_as_one_trace_under_its_run_id(mlflow_server: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.create_experiment(f"workbench-traces-{uuid.uuid4().hex[:8]}")
    env = {
        **FAST_EXPORT,
        "OTEL_EXPORTER_OTLP_ENDPOINT": mlflow_server,
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-mlflow-experiment-id={experiment}",
    }
    with running_server(tmp_path, **env) as server:
        messages = chat_turn(server.ws_url, "traced")
        done = messages[-1]
        assert (done["status"], done["model"]) == ("ok", MODEL)
        run_id = done["run_id"]
        assert wait_for_run(server.home, run_id)["status"] == "ok"
        ours = logged_trace(server.home, run_id, {"chat", "retrieve", "generate", LLM_SPAN})

    retrieval_name = next(name for name, span in ours.items() if span["kind"] == "retrieval")
    names = {"chat", "retrieve", "generate", retrieval_name, LLM_SPAN}
    trace_hex = uuid.UUID(run_id).hex
    trace = exported_trace(client, experiment, f"tr-{trace_hex}", names)

    spans = {span.name: span for span in trace.data.spans}
    assert {span.trace_id for span in trace.data.spans} == {f"tr-{trace_hex}"}, "one trace, named by the run id"
    root = spans["chat"]
    assert root.parent_id is None and root.span_id == f"{root_span_id_of(run_id):016x}"
    assert root.get_attribute("gen_ai.operation.name") == "invoke_agent"
    retrieve, generate = spans["retrieve"], spans["generate"]
    assert retrieve.parent_id == root.span_id and generate.parent_id == root.span_id
    retrieval, llm = spans[retrieval_name], spans[LLM_SPAN]
    assert retrieval.parent_id == retrieve.span_id and llm.parent_id == generate.span_id

    assert retrieval.get_attribute("gen_ai.operation.name") == "retrieval"
    assert retrieval.get_attribute("gen_ai.retrieval.query.text") == QUESTION
    documents = structured(retrieval.get_attribute("gen_ai.retrieval.documents"))
    shown = next(m for m in messages if m.get("type") == "retrieval")["documents"]
    assert [d["id"] for d in documents] == [d["chunk_id"] for d in shown]
    assert llm.get_attribute("gen_ai.operation.name") == "chat"
    assert llm.get_attribute("gen_ai.request.model") == MODEL
    asked = structured(llm.get_attribute("gen_ai.input.messages"))[-1]
    assert asked["role"] == "user" and asked["content"].endswith(f"Question: {QUESTION}")
    answer = "".join(m["content"] for m in messages if m.get("role") == "assistant")
    output = structured(llm.get_attribute("gen_ai.output.messages"))
    assert output[0]["role"] == "assistant" and output[0]["content"] == answer
    assert llm.get_attribute("gen_ai.usage.output_tokens") == len(answer.split())

    # the run log holds the very same spans: same ids, same parents
    assert {name: (s.span_id, s.parent_id) for name, s in spans.items() if name in names} == {
        name: (ours[name]["span_id"], ours[name]["parent_id"]) for name in names
    }
    assert {span["trace_id"] for span in ours.values()} == {trace_hex}


def test_a_receiver_that_is_down_costs_the_turn_nothing(tmp_path: Path) -> None:
    """Nothing listens where spans are exported: the turn ends ``done`` / ok and the run log has its spans."""
    env = {**FAST_EXPORT, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    with running_server(tmp_path, **env) as server:
        started = time.monotonic()
        first = chat_turn(server.ws_url, "down")
        second = chat_turn(server.ws_url, "down")  # after the first batch failed to export
        assert time.monotonic() - started < 120
        for messages in (first, second):
            done = messages[-1]
            assert (done["type"], done["status"]) == ("done", "ok")
            spans = logged_trace(server.home, done["run_id"], {"chat", "retrieve", "generate", LLM_SPAN})
            assert spans["chat"]["parent_id"] is None and spans["chat"]["status"] == "ok"
    assert "/v1/traces" in server.log_path.read_text(), "export was on: its failures are logged, nothing more"

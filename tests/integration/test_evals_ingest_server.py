"""On a real server, through Gradio's queue as any client would call it: the Evals tab gives one answer for every
speech model folder a client names; one client's eval runs are limited and cancellable (the cancelled run's
MLflow run ends as KILLED); a PDF whose pages share one huge content stream is refused at once by the Chat tab's
indexing, under its uploaded name."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Server
from tests.pdfs import shared_stream_pdf

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


class Call:
    """One UI event joined on Gradio's queue; its messages are read in a thread until it completes."""

    def __init__(self, server: Server, api_name: str, data: list) -> None:
        config = httpx.get(f"{server.url}/config").json()
        dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
        self.session = uuid.uuid4().hex
        self.messages: list[dict] = []
        self.done = threading.Event()
        body = {"data": data, "fn_index": dependency["id"], "trigger_id": dependency["targets"][0][0],
                "session_hash": self.session, "event_data": None}  # fmt: skip
        joined = httpx.post(f"{server.url}/gradio_api/queue/join", json=body)
        assert joined.status_code == 200, joined.text
        self._reader = threading.Thread(target=self._read, args=(server,), daemon=True)
        self._reader.start()

    def _read(self, server: Server) -> None:
        params = {"session_hash": self.session}
        with httpx.stream("GET", f"{server.url}/gradio_api/queue/data", params=params, timeout=240) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    self.messages.append(json.loads(line[5:]))
                    if self.messages[-1].get("msg") == "process_completed":
                        break
        self.done.set()

    def text(self) -> str:
        return json.dumps(self.messages, ensure_ascii=False)

    def wait(self, timeout: float = 240) -> str:
        assert self.done.wait(timeout), "the event never completed"
        return self.text()

    def wait_for(self, fragment: str, timeout: float = 120) -> None:
        for _ in range(int(timeout * 10)):
            if fragment in self.text():
                return
            self.done.wait(0.1)
        raise AssertionError(f"{fragment!r} never came: {self.text()[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("evals-ingest")
    server = Server(home, {"WORKBENCH_TESTING": "1", "WORKBENCH_EVAL_MAX_PER_CLIENT": "2"})
    server.env.pop("MLFLOW_TRACKING_URI", None)  # set by MLflow in this process by earlier tests: the home's store
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_every_speech_model_folder_a_client_names_gets_one_answer(server, tmp_path):
    folder = tmp_path / "whisper-small"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"\0")
    answers = set()
    for spec in (str(folder), str(tmp_path / "missing"), "../../../etc", f"local/{folder}"):
        final = Call(server, "run_eval", ["voice", [], [], f"stt_model={spec}", 1]).wait()
        assert "The eval failed" in final, final[-2000:]
        answers.add(final[final.index("The eval failed") :].split('"')[0])
    (answer,) = answers
    assert "unknown speech-to-text model" in answer and str(tmp_path) not in answer and "/etc" not in answer


def test_one_clients_eval_runs_are_limited_and_cancel_ends_the_mlflow_run_killed(server):
    slow = ["chat-rag", ["fake/slow"], [], "", 2]  # two cases of ~20 s each
    running = Call(server, "run_eval", slow)
    running.wait_for("0/2 cases · ")  # its first case has started
    queued = Call(server, "run_eval", slow)
    queued.wait_for("queued behind 1 eval run(s)")
    refused = Call(server, "run_eval", slow).wait(60)
    assert "you already have 2 eval runs queued or running; wait for one to finish or cancel it" in refused
    cancelled = Call(server, "cancel_run", [None]).wait(30)
    assert "Cancelled before it started" in cancelled, cancelled[-1500:]  # the latest: queued
    assert "Cancelled." in queued.wait(30)
    assert "Stopping after the case in progress" in Call(server, "cancel_run", [None]).wait(30)
    final = running.wait(120)
    assert "stopped after 1 case(s)" in final and "ended as KILLED" in final

    from mlflow import MlflowClient

    store = MlflowClient(f"sqlite:///{(server.home / 'mlflow.db').resolve()}")
    experiment = store.get_experiment_by_name("workbench/chat-rag")
    assert experiment is not None
    (run,) = store.search_runs([experiment.experiment_id])
    assert run.info.status == "KILLED" and run.data.tags["workbench.stopped"] == "cancelled after 1 of 2 cases"


def test_the_chat_tab_refuses_a_pdf_whose_pages_share_one_huge_stream_at_once(server):
    hostile = shared_stream_pdf(pages=20, content_bytes=2_000_000)  # 9 KB: 20 pages share one 2 MB stream
    files = [("files", ("board minutes.pdf", hostile)), ("files", ("notes.md", b"# Notes\n\nThe cat is grey."))]
    upload = httpx.post(f"{server.url}/gradio_api/upload", files=files, timeout=60)
    assert upload.status_code == 200
    data = [
        {"path": path, "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}} for path in upload.json()
    ]
    answer = Call(server, "index_files", [data, "hostile"]).wait(60)  # the unbounded parse took ~80 s
    (shown,) = next(m for m in json.loads(answer) if m["msg"] == "process_completed")["output"]["data"]
    failed, indexed = shown.splitlines()
    assert failed.startswith("- board minutes.pdf: ⚠️ too much page content to index"), shown
    assert "split the PDF" in failed and str(server.home) not in shown and "/tmp" not in shown
    assert indexed.startswith("- notes.md: 1 files: 1 added")

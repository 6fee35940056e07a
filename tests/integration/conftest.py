"""Real servers for integration tests: uvicorn subprocesses on free loopback ports, stopped by the tests."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jsonschema
import pytest

from tests.servers import free_port, wait_until_answers

ROOT = Path(__file__).resolve().parents[2]
CHAT_SCHEMA = json.loads((ROOT / "protocols" / "chat.schema.json").read_text())
ASSISTANT_SCHEMA = json.loads((ROOT / "protocols" / "assistant.schema.json").read_text())
TASKS_SCHEMA = json.loads((ROOT / "protocols" / "tasks.schema.json").read_text())
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def run_cli(
    home: Path, *args: str, cwd: Path = ROOT, timeout: float = 300, unset: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess:
    """``workbench ARGS`` in a child process on its own WORKBENCH_HOME (``env`` added, ``unset`` removed from the
    environment), output captured as text."""
    environ = {k: v for k, v in os.environ.items() if k not in unset} | {"WORKBENCH_HOME": str(home), **env}
    command = [sys.executable, "-m", "workbench.cli", *args]
    return subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout)


def eval_case_rows(client, run_id: str, dest: Path | None = None) -> list[dict]:
    """An eval run's per-case table (the ``cases.json`` artifact), read back through an MlflowClient."""
    path = client.download_artifacts(run_id, "cases.json", str(dest) if dest else None)
    table = json.loads(Path(path).read_text())
    return [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]


class Server:
    """A ``workbench`` uvicorn process on a free loopback port with its own WORKBENCH_HOME."""

    def __init__(self, home: Path, env: dict[str, str] | None = None, *, log_dir: Path | None = None) -> None:
        self.home = home
        self.log_dir = log_dir or home
        """Where the server's output goes (outside the home when a test fills the home's disk)."""
        # A server warms its bundled chat model at start (joining a 1.1 GB file into a new home first); a test that
        # wants it asks for it, the others start as quickly as before.
        self.env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_WARM_CHAT": "false", **(env or {})}
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"server-{self.port}.log"

    def command(self) -> list[str]:
        """How the server process is started, before ``serve --port N``."""
        return [sys.executable, "-m", "workbench.cli"]

    def start(self, timeout: float = 120) -> Server:
        self.port = free_port()
        log = open(self.log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*self.command(), "serve", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until_answers(f"{self.url}/health", self.process, timeout=timeout, output=self.log_path.read_text)
        except (RuntimeError, TimeoutError):
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def extractive_server(home: Path) -> Server:
    """A started server on the extractive baseline whose evals track into the sqlite MLflow store under ``home``
    (made here), for the Evals tab's browser tests; the caller stops it."""
    home.mkdir()
    server = Server(home, {"WORKBENCH_LLM": "extractive", "WORKBENCH_WARM_SPEECH": "false"})
    server.env.pop("MLFLOW_TRACKING_URI", None)
    return server.start()


@contextmanager
def running_server(home: Path, **env: str) -> Iterator[Server]:
    server = Server(home, env).start()
    try:
        yield server
    finally:
        server.stop()


def server_config(folder: Path, graphs: dict[str, str] | None = None) -> Path:
    """The project's langgraph.json (with ``graphs`` added) with its paths made absolute, in ``folder``: the server
    runs there, so what it persists (``.langgraph_api/``) is this test's alone."""
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str((ROOT / dep).resolve()) for dep in config["dependencies"]]
    served = {**config["graphs"], **(graphs or {})}
    config["graphs"] = {name: str(ROOT / target.removeprefix("./")) for name, target in served.items()}
    (folder / "langgraph.json").write_text(json.dumps(config))
    return folder / "langgraph.json"


@contextmanager
def dev_server(home: Path, workdir: Path, env: dict[str, str], graphs: dict[str, str] | None = None) -> Iterator[str]:
    """``langgraph dev`` serving the project's graphs (and ``graphs``) from ``workdir``, until the block ends (its
    URL)."""
    port = free_port()
    log = open(home / "langgraph.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
         "--host", "127.0.0.1", "--port", str(port), "--config", str(server_config(workdir, graphs)),
         "--n-jobs-per-worker", "16"],  # the dev server runs one job at a time unless told
        cwd=workdir, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/ok", process, output=(home / "langgraph.log").read_text)
        yield url
    finally:
        process.terminate()  # it writes what it keeps to .langgraph_api/ as it stops
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@functools.cache
def _validator(schema_name: str, part: str) -> jsonschema.protocols.Validator:
    """A compiled validator for ``#/$defs/<part>`` of a protocol schema (building one takes ~20 ms: once each)."""
    schema = {"chat": CHAT_SCHEMA, "assistant": ASSISTANT_SCHEMA, "tasks": TASKS_SCHEMA}[schema_name]
    ref = {"$ref": f"#/$defs/{part}", "$defs": schema["$defs"]}
    return jsonschema.validators.validator_for(schema)(ref)


def validate_chat_message(message: dict) -> None:
    """Every message a chat client receives must match the server half of the written schema."""
    _validator("chat", "server").validate(message)


def validate_assistant_message(message: dict) -> None:
    """Every message a voice client receives must match the server half of the written schema."""
    _validator("assistant", "server").validate(message)


def validate_tasks_message(message: dict, part: str = "server") -> None:
    """A ``/ws/tasks`` message (or, with ``part``, a REST body such as ``task_info``) against the written schema."""
    _validator("tasks", part).validate(message)


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory) -> Iterator[Server]:
    """One server for the module: real MiniLM embeddings and local Qdrant, the slow fake model by default."""
    with running_server(tmp_path_factory.mktemp("home"), WORKBENCH_LLM="fake/slow") as server:
        yield server


# --- the browser tests: Debian's Chromium driven by Playwright -------------------------------------------------


@contextmanager
def chromium(*extra_args: str) -> Iterator:
    """A headless Chromium (skips the test when Chromium or Playwright is missing)."""
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*BROWSER_FLAGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as launched:
        yield launched


def pick(page, dropdown: str, option: str) -> None:
    """Choose ``option`` in the Gradio dropdown with elem_id ``dropdown`` (a multiselect keeps earlier picks), or
    the one option whose label contains ``option`` when none is called that."""
    from playwright.sync_api import expect

    field = page.locator(f"#{dropdown} input")
    field.scroll_into_view_if_needed()  # an open list that the page scrolls under is never stable to click
    field.click()
    options = page.locator(f"#{dropdown} [role=option]")  # this dropdown's list, not one left open elsewhere
    options.first.wait_for()
    labels = [" ".join(text.replace("✓", "").split()) for text in options.all_inner_texts()]
    name = option if option in labels else next(label for label in labels if option in label)
    page.locator(f"#{dropdown}").get_by_role("option", name=name, exact=True).click()
    page.keyboard.press("Escape")
    expect(options).to_have_count(0)  # closed before the next pick opens another list


def column(page, elem_id: str, index: int) -> list[str]:
    """The text of one column in the rendered body rows of a Gradio Dataframe (it may virtualize long tables)."""
    return [text.strip() for text in page.locator(f"#{elem_id} [role=gridcell][data-col='{index}']").all_inner_texts()]

"""Every notebook in notebooks/ runs top to bottom on the offline defaults, and is committed without outputs.

Each notebook runs from the repository root in a fresh ``python3`` kernel of this environment, with its own
temporary ``WORKBENCH_HOME``. The kernel spec is ipykernel's own (installed into the environment by ``uv sync``);
its ``python`` command is launched as ``sys.executable``. A user-level ``python3`` spec that points at another
Python is kept out of the way by a temporary Jupyter data folder.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 600
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.integration


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, for None, remove) environment variables while the block runs; the kernel inherits them."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def kernel_environment(tmp: Path) -> dict[str, str | None]:
    """Only this environment's kernel specs are visible: no user-level ones, no extra JUPYTER_PATH."""
    return {"JUPYTER_DATA_DIR": str(tmp / "jupyter"), "JUPYTER_PATH": None}


def test_there_are_notebooks_to_run():
    assert len(NOTEBOOKS) >= 5, f"expected the notebooks in {ROOT / 'notebooks'}"


def test_the_kernel_is_this_environments_python(tmp_path: Path):
    with environment(**kernel_environment(tmp_path)):
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    # jupyter_client runs a spec whose command is plain "python" with sys.executable
    assert spec.argv[0] in {"python", "python3", sys.executable}, f"{KERNEL} runs {spec.argv[0]}, not {sys.executable}"
    assert "ipykernel" in " ".join(spec.argv)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"


def failing_cell(notebook: nbformat.NotebookNode) -> str:
    for cell in notebook.cells:
        if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            return cell.source
    return "(no cell recorded the error)"


@pytest.mark.timeout(3 * CELL_TIMEOUT_S)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_offline(path: Path, tmp_path: Path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL, resources={"metadata": {"path": str(ROOT)}}
    )
    offline = {
        "WORKBENCH_HOME": str(tmp_path / "home"),
        "WORKBENCH_WARM_SPEECH": "false",
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_TRACKING_URI": None,  # the notebook's own store under WORKBENCH_HOME, never a configured server
    }
    started = time.perf_counter()
    with environment(**offline, **kernel_environment(tmp_path)):
        try:
            client.execute()
        except CellExecutionError as exc:
            error = ANSI.sub("", str(exc))  # IPython colours its tracebacks
            pytest.fail(f"{path.name} failed in this cell:\n\n{failing_cell(notebook)}\n\n{error}", pytrace=False)
    print(f"{path.name}: ran in {time.perf_counter() - started:.1f} s")

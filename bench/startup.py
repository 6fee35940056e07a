"""Start-up and idle benchmark: whole processes, timed as a new user sees them.

Each command runs ``--repeats`` times (median reported) in two ways: with the bytecode that setup compiled (warm)
and with none (cold: ``PYTHONPYCACHEPREFIX`` points at an empty folder and nothing is written, so every import
compiles its source again), against ``python -c pass`` as the floor:

- ``ask``: ``workbench ask --model extractive`` on an indexed home;
- ``runs``: ``workbench runs``;
- ``audit``: ``workbench audit datasets/repos/inventory-api --model none``, and as its baseline ``audit by hand``: a
  process that imports only the explorer and the analyzers and runs them on the same folder one after another
  (the explorer's map, then every tool of the three agents), no graph, no report;
- ``serve → /health`` and ``serve → first answer`` (a ``/ws/chat`` turn, extractive) on an indexed home;
- the server's RSS once it answers, and its CPU over ``--idle`` seconds of idling (as a share of one core), from
  15 s after its first answer (MLflow loads in the background after start);
- the Evals tab: seconds from the page's load to its pickers (suite description, models) and to its MLflow run
  pickers being ready, in Chromium through Playwright (skipped when Playwright or Chromium is missing).

    .venv/bin/python bench/startup.py [--repeats 5] [--idle 30] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import free_port, wait_until_answers  # noqa: E402

PYTHON = sys.executable
QUESTION = "Which port does the server listen on by default?"
AUDITED = ROOT / "datasets" / "repos" / "inventory-api"
BY_HAND = (
    "import sys; from pathlib import Path; "
    "from workbench.audit.agents import TOOLS; from workbench.audit.explorer import build_repo_map; "
    "root = Path(sys.argv[1]); build_repo_map(root); [tool(root, timeout_s=120) for tool in TOOLS.values()]"
)
SETTLE_S = 15.0


def environment(home: Path, cold: bool, cache: Path) -> dict[str, str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_LLM": "extractive", "WORKBENCH_WARM_SPEECH": "false"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cold:  # an empty cache that stays empty: every run compiles what it imports
        env |= {"PYTHONPYCACHEPREFIX": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - started
    if done.returncode not in (0, 1):  # `audit` exits 1 when it finds something severe: still a full run
        raise SystemExit(f"{' '.join(command[2:])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return took


@contextlib.contextmanager
def server(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, str, float]]:
    """A ``workbench serve`` and the seconds it took to answer /health."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [PYTHON, "-m", "workbench.cli", "serve", "--port", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/health", process, timeout=600, interval=0.05)
        yield process, url, time.perf_counter() - started
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def first_answer(url: str) -> None:
    from websockets.sync.client import connect

    with connect(url.replace("http", "ws") + "/ws/chat") as ws:
        ws.send(json.dumps({"type": "user_message", "content": QUESTION, "session_id": "bench"}))
        while json.loads(ws.recv(timeout=120)).get("type") != "done":
            pass


def evals_tab(url: str) -> dict[str, float] | None:
    """Seconds from the page's load to the Evals pickers and to its MLflow pickers, or None without a browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page()
            page.goto(url + "/", wait_until="load")
            loaded = time.perf_counter()
            page.get_by_role("tab", name="Evals").click()
            page.locator("#evals-description").get_by_text("recall@k").wait_for(timeout=120_000)
            pickers = time.perf_counter() - loaded
            page.locator("#evals-mlflow").get_by_text("127.0.0.1:5000").wait_for(timeout=120_000)
            return {"pickers_s": pickers, "mlflow_s": time.perf_counter() - loaded}
        finally:
            browser.close()


def idle_cpu(process: subprocess.Popen, seconds: float) -> float:
    """CPU of the server and its children over `seconds`, as a share of one core."""
    proc = psutil.Process(process.pid)

    def used() -> float:
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                total += times.user + times.system
        return total

    before = used()
    time.sleep(seconds)
    return (used() - before) / seconds


def run(repeats: int, idle_s: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wb-bench-startup-") as tmp:
        home, cache = Path(tmp) / "home", Path(tmp) / "no-bytecode"
        cache.mkdir()
        ingest = [PYTHON, "-m", "workbench.cli", "ingest", str(ROOT / "datasets" / "corpus")]
        subprocess.run(ingest, env=environment(home, False, cache), cwd=ROOT, check=True, capture_output=True)
        commands = {
            "python -c pass": [PYTHON, "-c", "pass"],
            "ask": [PYTHON, "-m", "workbench.cli", "ask", "--model", "extractive", QUESTION],
            "runs": [PYTHON, "-m", "workbench.cli", "runs"],
            "audit": [
                PYTHON,
                "-m",
                "workbench.cli",
                "audit",
                str(AUDITED),
                "--model",
                "none",
                "-o",
                str(Path(tmp) / "report.md"),
            ],  # fmt: skip
            "audit by hand": [PYTHON, "-c", BY_HAND, str(AUDITED)],
        }
        for name, command in commands.items():
            for cold in (False, True):
                env = environment(home, cold, cache)
                times = [timed(command, env) for _ in range(repeats)]
                results.setdefault(name, {})["cold" if cold else "warm"] = statistics.median(times)
        for cold in (False, True):
            health, answer, rss = [], [], []
            for _ in range(repeats):
                started = time.perf_counter()
                with server(environment(home, cold, cache)) as (process, url, to_health):
                    health.append(to_health)
                    first_answer(url)
                    answer.append(time.perf_counter() - started)
                    rss.append(psutil.Process(process.pid).memory_info().rss / 2**20)
            label = "cold" if cold else "warm"
            results.setdefault("serve → /health", {})[label] = statistics.median(health)
            results.setdefault("serve → first answer", {})[label] = statistics.median(answer)
            results.setdefault("server RSS MiB", {})[label] = statistics.median(rss)
        with server(environment(home, False, cache)) as (process, url, _):
            first_answer(url)
            time.sleep(SETTLE_S)  # what follows start (MLflow loading in the background) is not idling
            results["idle CPU (share of a core)"] = {"warm": idle_cpu(process, idle_s)}
        with server(environment(Path(tmp) / "fresh-evals", False, cache)) as (process, url, _):
            tab = evals_tab(url)
            if tab is not None:
                results["Evals pickers ready s"] = {"warm": tab["pickers_s"]}
                results["Evals MLflow runs ready s"] = {"warm": tab["mlflow_s"]}
    return results


def print_table(results: dict[str, Any]) -> None:
    floor = results["python -c pass"]
    print(f"{'measure':<28}{'warm bytecode':>15}{'no bytecode':>13}{'cold ÷ warm':>13}{'warm − floor':>14}")
    for name, row in results.items():
        warm, cold = row.get("warm"), row.get("cold")
        ratio = f"{cold / warm:>12.2f}x" if warm and cold else f"{'':>13}"
        over = f"{warm - floor['warm']:>13.2f}s" if name in ("ask", "runs", "audit", "audit by hand") else f"{'':>14}"
        cold_cell = f"{cold:>13.2f}" if cold is not None else f"{'':>13}"
        print(f"{name:<28}{warm:>15.3f}{cold_cell}{ratio}{over}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle server to measure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.repeats, args.idle)
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

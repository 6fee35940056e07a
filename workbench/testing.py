"""Fakes shipped with the package, for tests, benchmarks and notebooks: no model, no network; and helpers that
wait for the run log.

The scripted chat model and the fake embeddings are providers (``workbench.providers.scripted``,
``workbench.providers.fake_embeddings``), selectable by settings; the fake speech engines live here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from workbench.providers.fake_embeddings import FakeEmbeddings
from workbench.providers.scripted import ScriptedChatModel, tool_call
from workbench.testing_speech import FakeSpeech, FakeSTT, FakeTTS

if TYPE_CHECKING:
    from workbench.runlog.writer import RunLog

__all__ = ["FakeEmbeddings", "FakeSTT", "FakeSpeech", "FakeTTS", "ScriptedChatModel", "tool_call"]


def flushed(runlog: RunLog, timeout: float = 10.0) -> bool:
    """``runlog.flush()`` from any test, a coroutine included: it waits on a worker thread (``flush`` refuses to
    block an event loop; a test may block its own loop for a moment)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(runlog.flush, timeout).result()


def logged_run(runlog: RunLog, run_id: str) -> dict[str, Any] | None:
    """The run ``run_id`` with its events, once everything logged so far is on disk (from any test)."""
    from workbench.runlog.queries import get_run

    assert flushed(runlog), "the run log did not flush"
    return get_run(runlog.path, run_id)


def exited_owner() -> str:
    """The ``owner`` of a process of this host that has exited: rows it left ``running`` are a crash's leftovers."""
    import subprocess
    import sys

    from workbench.runlog.owner import Owner, process_started_ms, this_host

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_started_ms(child.pid)
    child.wait()
    return Owner(this_host(), child.pid, started or 1).id

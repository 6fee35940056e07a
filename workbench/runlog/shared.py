"""The process-wide run log: the one every graph's handler writes to unless it was given another.

Built on first use (never at import: graph modules are imported by ``langgraph dev`` and tests), closed at exit or
when a server stops; tests put their own in its place with :func:`set_runlog`.
"""

from __future__ import annotations

import atexit
import threading

from workbench.runlog.writer import RunLog

_runlog: RunLog | None = None
_runlog_lock = threading.Lock()


def get_runlog() -> RunLog:
    """The process-wide run log at ``get_settings().runlog_path``, created on first call, closed at exit."""
    global _runlog
    if _runlog is None:
        with _runlog_lock:
            if _runlog is None:
                from workbench.settings import get_settings

                # No file system work here: this runs on the event loop (langgraph dev forbids blocking);
                # the writer thread creates the folder and the file.
                runlog = RunLog(get_settings().runlog_path)
                atexit.register(runlog.close)
                _runlog = runlog
    return _runlog


def close_runlog() -> None:
    """Write what is queued and close the process-wide run log, if one was built; the next :func:`get_runlog`
    builds a new one. A server calls it as it stops (its process may end by a re-raised SIGTERM, skipping
    ``atexit``), so its journal registration goes with it."""
    global _runlog
    with _runlog_lock:
        runlog, _runlog = _runlog, None
    if runlog is not None:
        runlog.close()


def set_runlog(runlog: RunLog | None) -> None:
    """Replace the process-wide run log (tests); ``None`` makes the next :func:`get_runlog` build one again."""
    global _runlog
    with _runlog_lock:
        _runlog = runlog

"""Child processes of the audit (git, the analyzers) that cannot outlive it.

:func:`spawn` starts a command in a process group of its own, led by a small ``sh`` that waits for it. The group
ends in every way the audit can end:

- a timeout or a cancelled task: :func:`kill` sends SIGKILL to the whole group (git's upload-pack and index-pack,
  semgrep's engine, ...), then reaps the leader;
- this process killed, even by SIGKILL: on Linux the leader has ``PR_SET_PDEATHSIG`` set to SIGTERM, and its trap
  answers with SIGKILL to its whole group. (The parent-death signal alone would reach only the direct child: it
  is not inherited across ``fork``, and a group in its own session gets no signal when its parent dies.)

The leader is the one process of the group that the kernel tells about its parent's death, so the command and
everything it starts are covered, whatever they are. The parent-death signal is set in ``preexec_fn`` with the
C library's ``prctl`` looked up beforehand; if the parent died before it was set, the leader kills itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1
LEADER = ("/bin/sh", "-c", 'trap "kill -KILL 0" TERM; "$@" & wait $!', "sh")
"""The group leader: runs its arguments as a command (never as shell text), waits, and on SIGTERM kills the
group; its exit status is the command's."""


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _tie_to(parent: int, prctl: Callable[..., int] | None) -> Callable[[], None]:
    """What the leader runs between fork and exec: SIGTERM when ``parent`` dies (Linux)."""

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was set: nobody would send it
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def spawn(argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``argv`` (an argument list, never shell text) in a group of its own that dies with this process.

    ``popen``: :class:`subprocess.Popen` arguments (``cwd``, ``env``, ``stdin``, ``stdout``, ``stderr``); the
    session, the group and ``preexec_fn`` are this function's. Watch it with :func:`running` (not ``poll``,
    which reaps it) and always end with :func:`kill`."""
    return subprocess.Popen(
        [*LEADER, *argv],
        start_new_session=True,  # its own group: one kill reaches every process it starts
        preexec_fn=_tie_to(os.getpid(), _prctl()),  # a C call and a getppid, nothing that locks
        **popen,
    )


def running(process: subprocess.Popen[bytes]) -> bool:
    """Whether the leader still runs, without reaping it: while it is not reaped its pid names its group, so
    :func:`kill` can still reach what the command left behind."""
    if process.returncode is not None:
        return False
    if not hasattr(os, "waitid"):
        return process.poll() is None
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return process.poll() is None


def kill(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL to the process's whole group (what still runs of it, or what it left running), then reap the
    leader; its exit status."""
    if process.returncode is None:  # not reaped: the group id is still the leader's
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return process.wait()

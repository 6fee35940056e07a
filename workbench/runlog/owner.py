"""Which process runs a row: its host, pid and start time, and whether that process is still there.

Every ``runs`` and ``tasks`` row written by this process carries :attr:`Owner.id` (``host/pid/start_ms``) in
its ``owner`` column. A row left ``running`` belongs to a live process, or to one that is gone (killed, crashed,
its machine rebooted): only the second kind may be marked ``interrupted``. On this host the answer is exact
(the pid exists and started at the same time: a reused pid is a different process); for a process on another
host sharing the folder, it is its heartbeat in the journal (see :mod:`workbench.runlog.journal`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache

import psutil


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started_ms: int
    """The process's start time in milliseconds since the epoch, as the OS reports it."""

    @property
    def id(self) -> str:
        return f"{self.host}/{self.pid}/{self.started_ms}"

    @classmethod
    def parse(cls, owner_id: str) -> Owner | None:
        """The owner an ``owner`` column names, or None for a value this module did not write."""
        host, _, rest = owner_id.rpartition("/")
        host, _, pid = host.rpartition("/")
        if not host or not pid.isdigit() or not rest.isdigit():
            return None
        return cls(host, int(pid), int(rest))

    def on_this_host(self) -> bool:
        return self.host == this_host()

    def alive_here(self) -> bool:
        """Whether this owner is a process running now on this host (same pid, same start time)."""
        started = process_started_ms(self.pid)
        return started is not None and abs(started - self.started_ms) <= 10


def this_host() -> str:
    return socket.gethostname() or "localhost"


def process_started_ms(pid: int) -> int | None:
    """When process ``pid`` started (ms since the epoch), or None when there is no such process."""
    try:
        return round(psutil.Process(pid).create_time() * 1000)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied, ValueError):
        return None


@cache
def _owner_of(pid: int) -> Owner:
    started = process_started_ms(pid)
    if started is None:  # cannot happen for our own pid; keep a stable identity anyway
        raise RuntimeError(f"process {pid} has no start time")
    return Owner(this_host(), pid, started)


def current_owner() -> Owner:
    """This process (recomputed after a fork: the child is another owner)."""
    return _owner_of(os.getpid())

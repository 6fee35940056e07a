"""Cancelling a map while it is built: the caller's event, checked between the walk's folders and git's steps."""

from __future__ import annotations

import threading

__all__ = ["ExplorationCancelled", "check_cancelled"]


class ExplorationCancelled(Exception):
    """The caller set the cancel event while the map was being built."""


def check_cancelled(cancel: threading.Event | None) -> None:
    """Raise ExplorationCancelled when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise ExplorationCancelled("the repository map was cancelled")

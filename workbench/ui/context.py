"""What every tab is handed and shares: the services it calls, and whom a request counts against.

It sits below :mod:`workbench.ui.app` and the tab modules, so the app that builds the tabs and the tabs that use
these types do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gradio as gr

    from workbench.resources import Resources
    from workbench.tasks.manager import TaskManager
    from workbench.turns.chat import ChatService
    from workbench.turns.voice import VoiceService


@dataclass(frozen=True)
class UiServices:
    """What tabs call, read from the app state at event time (the lifespan builds them after mounting)."""

    chat: Callable[[], ChatService]
    resources: Callable[[], Resources]
    voice: Callable[[], VoiceService]
    tasks: Callable[[], TaskManager]


def client_key(request: gr.Request | None) -> str:
    """Whom a run counts against: the client's address, as for chat and voice turns (every page and tab of one
    address together)."""
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or getattr(request, "session_hash", None) or "unknown")

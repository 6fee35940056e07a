"""Builds the Gradio Blocks (one tab per module) and mounts them in the FastAPI app at ``/``.

A tab is a module with ``TITLE`` and ``render(services)``; adding one is adding its module to ``TABS``.
"""

from __future__ import annotations

from types import ModuleType

import gradio as gr
from fastapi import FastAPI

from workbench.settings import Settings
from workbench.ui import agents_tab, audit_tab, chat_tab, evals_tab, runs_tab, threads_tab, voice_tab
from workbench.ui.context import UiServices

TABS: tuple[ModuleType, ...] = (chat_tab, agents_tab, voice_tab, audit_tab, runs_tab, evals_tab, threads_tab)


def build_ui(services: UiServices) -> gr.Blocks:
    # Gradio caches uploads and generated audio on disk: drop files older than an hour, every hour.
    with gr.Blocks(title="Agent Workbench", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("## Agent Workbench")
        with gr.Tabs():
            for tab in TABS:
                with gr.Tab(tab.TITLE, id=tab.__name__.rsplit(".", 1)[-1]):
                    tab.render(services, demo)
    return demo


def mount_ui(app: FastAPI, settings: Settings) -> None:
    """Mount the UI at ``/``. Its file access is set explicitly: nothing beyond what Gradio itself created is served
    (no ``allowed_paths``), the workbench's home is blocked, uploads are capped, and a file a client names as an
    input must be one that was uploaded (Gradio checks that only for launched apps, so the mounted app is marked
    as one; the tabs check it again where they read a file)."""
    services = UiServices(
        chat=lambda: app.state.chat,
        resources=lambda: app.state.resources,
        voice=lambda: app.state.voice,
        tasks=lambda: app.state.tasks,
    )
    demo = build_ui(services)
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        footer_links=[],
        allowed_paths=[],
        blocked_paths=[str(settings.home.resolve())],
        max_file_size=settings.max_upload_bytes,
        show_error=False,
    )
    demo.has_launched = True
    quiet_queue(demo)


QUEUE_IDLE_SLEEP_S = 0.05
PROGRESS_IDLE_SLEEP_S = 0.1


def quiet_queue(demo: gr.Blocks) -> None:
    """Let Gradio's queue sleep longer while it has nothing to do.

    Its two loops poll every 1 ms and 10 ms when idle (Gradio's values off Windows; no setting changes them), which
    kept an idle server at about 5 % of a core. At 50 ms and 100 ms (Gradio's own values on Windows) an event
    waits at most 50 ms more to start and streaming is unchanged: a running event's updates do not go through
    these loops. bench/startup.py measures the idle CPU."""
    queue = getattr(demo, "_queue", None)
    if queue is not None and hasattr(queue, "sleep_when_free"):
        queue.sleep_when_free = QUEUE_IDLE_SLEEP_S
        queue.progress_update_sleep_when_free = PROGRESS_IDLE_SLEEP_S

"""The long-lived services of a process (chat, voice, audit tasks) over one graph runtime.

The server's lifespan and the CLI open them the same way: home folder, sample corpus indexed on first start, the
runtime the settings choose (:func:`~workbench.runtime.open_runtime`: in-process on SQLite or Postgres
checkpoints, or a LangGraph Server); closing writes and closes the process's run log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.errors import StorageUnavailable, WorkbenchError
from workbench.ingest.corpus import index_corpus_if_empty
from workbench.resources import Resources
from workbench.runlog import get_runlog
from workbench.runlog.shared import close_runlog
from workbench.runlog.writer import serve_on_this_loop
from workbench.runtime import GraphRuntime, open_runtime
from workbench.turns.chat import ChatService, warm_chat_model

if TYPE_CHECKING:  # imported where they are built: a CLI chat turn needs neither audits nor voice
    from workbench.tasks.manager import TaskManager
    from workbench.turns.voice import VoiceService

log = logging.getLogger(__name__)


def warm_models(resources: Resources) -> None:
    """What the settings say to preload: the chat model (the most used), then the speech models and the voice
    persona's model."""
    settings = resources.settings
    if settings.warm_chat:
        try:
            warm_chat_model(resources)
        except Exception as exc:  # a missing model is reported when a turn needs it
            log.warning("chat model not preloaded: %s", exc)
    if settings.warm_speech:
        warm_speech(resources)
        from workbench.turns.voice import warm_voice_model

        try:
            warm_voice_model(resources)
        except Exception as exc:  # a missing model is reported when a turn needs it
            log.warning("voice model not preloaded: %s", exc)


def warm_speech(resources: Resources) -> None:
    """Load the default speech models now, so the first voice turn does not pay for it."""
    try:
        stt, tts = resources.speech.stt(), resources.speech.tts()
        for engine in (stt, tts):
            load = getattr(engine, "load", None)
            if callable(load):
                load()
    except Exception as exc:  # a missing model is reported when a turn needs it
        log.warning("speech models not preloaded: %s", exc)


@dataclass
class Container:
    """What a process runs on, built once where it starts (the server's lifespan, a CLI command) from its
    :class:`Resources` and handed down: nothing reaches these through a global."""

    resources: Resources
    chat: ChatService
    voice: VoiceService
    tasks: TaskManager
    runtime: GraphRuntime


@asynccontextmanager
async def open_services(resources: Resources, *, warm: bool = False) -> AsyncIterator[Container]:
    """Chat, voice and audit services on one graph runtime; ``warm`` preloads the models the settings name in the
    background (in-process runtimes only: a LangGraph Server loads its own)."""
    from workbench.tasks.manager import TaskManager
    from workbench.turns.voice import VoiceService

    settings = resources.settings
    serve_on_this_loop()
    settings.home.mkdir(parents=True, exist_ok=True)
    warming = None
    async with open_runtime(resources) as runtime:
        await _prepare(resources, runtime)
        if warm and runtime.kind == "in-process":
            warming = asyncio.create_task(asyncio.to_thread(warm_models, resources))
        tasks = TaskManager(settings, get_runlog(), runtime=runtime)
        interrupted = await tasks.start()
        if interrupted:
            log.warning("%d audit task(s) were cut off by the last stop; marked interrupted", interrupted)
        try:
            chat, voice = ChatService(resources, runtime), VoiceService(resources, runtime)
            yield Container(resources, chat, voice, tasks, runtime)
        finally:
            await tasks.close()
            if warming is not None:
                await asyncio.gather(warming, return_exceptions=True)
            await asyncio.to_thread(close_runlog)


async def _prepare(resources: Resources, runtime: GraphRuntime) -> None:
    """Index the sample corpus on a first in-process start; check a LangGraph Server is there."""
    if runtime.kind == "in-process":
        try:
            await index_corpus_if_empty(resources.store, resources.settings)
        except StorageUnavailable as exc:  # the server starts; turns and /ready say what is wrong
            log.warning("the sample corpus was not indexed: %s", exc)
    else:  # the server searches its own index and loads its own models; turns fail clearly while it is down
        try:
            await runtime.check()
        except WorkbenchError as exc:
            log.warning("%s", exc)


@asynccontextmanager
async def open_chat(resources: Resources) -> AsyncIterator[ChatService]:
    """The chat service alone, as :func:`open_services` opens it (a CLI turn: no audit tasks, no voice)."""
    serve_on_this_loop()
    resources.settings.home.mkdir(parents=True, exist_ok=True)
    async with open_runtime(resources) as runtime:
        await _prepare(resources, runtime)
        try:
            yield ChatService(resources, runtime)
        finally:
            await asyncio.to_thread(close_runlog)

"""One voice turn as a stream of protocol events, whoever asks: ``/ws/assistant``, the UI or the CLI.

Events, in order: ``transcription`` (audio turns), ``retrieval`` (grounded personas), ``token``…,
``response``, ``notice`` (fallbacks), ``audio_chunk``… (one per sentence), ``audio`` (the whole reply),
``done``. The graph runs with the durable checkpointer (``session_id`` is the thread) under a time limit and is
logged to DuckDB whether it finishes, fails or is aborted; cancelling the consumer stops the model and speech.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from graphs.voice import RESPOND, SPEAKERS, builder, check_context
from graphs.voice_state import VoiceContext, VoiceInput
from workbench.chat.service import SessionBusy, public_document
from workbench.errors import WorkbenchError
from workbench.resources import get_resources
from workbench.runlog.callback import TEXT_LIMIT, RunLogCallback, unstarted_run
from workbench.settings import Settings


@dataclass
class VoiceTurn:
    """One user turn (audio or text) and the knobs of its run."""

    session_id: str
    audio: bytes | None = None
    audio_format: str | None = None
    text: str | None = None
    persona: str | None = None
    model: str | None = None
    voice: str | None = None
    stt_model: str | None = None
    grounded: bool | None = None
    speak: bool = True
    pipeline: bool = True
    entry_point: str = "api"


class VoiceService:
    """Runs voice turns on a graph compiled with the given checkpointer."""

    def __init__(self, settings: Settings, checkpointer: BaseCheckpointSaver, callback: RunLogCallback | None = None):
        self.settings = settings
        self.callback = callback or RunLogCallback()
        self.graph = builder.compile(checkpointer=checkpointer, name="voice")
        self._busy: set[str] = set()
        """Sessions with a turn running (a session holds no entry between turns, so nothing grows with them)."""

    def check(self, turn: VoiceTurn) -> None:
        """Refuse a turn naming a persona or voice that is not on offer (:class:`ConfigurationError`), before
        anything runs."""
        check_context(self._context(turn))

    async def history(self, session_id: str) -> list[BaseMessage]:
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": session_id}})
        return list(snapshot.values.get("messages", [])) if snapshot.values else []

    async def stream(self, turn: VoiceTurn, run_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Yield the turn's events. Raises what :meth:`check` raises, :class:`~workbench.voice.audio.AudioError`
        for unusable audio, :class:`SessionBusy` when the session has a turn running, ``TimeoutError`` past
        ``max_generation_s``."""
        model = await asyncio.to_thread(self._concrete_model, turn)
        if turn.session_id in self._busy:
            raise SessionBusy(turn.session_id)
        self._busy.add(turn.session_id)
        try:
            async for event in self._run(turn, run_id or str(uuid.uuid4()), model):
                yield event
        finally:
            self._busy.discard(turn.session_id)

    def _concrete_model(self, turn: VoiceTurn) -> str:
        """The ``provider/model`` the turn's persona (or its own ``model``) runs on, after :meth:`check`."""
        context = self._context(turn)
        persona = check_context(context)
        return get_resources().models.concrete(context.model or persona.model, "voice")

    async def settle(self, turn: VoiceTurn, run_id: str, status: str = "aborted", error: str | None = None) -> None:
        """Make sure a turn that did not finish has its row (one stopped before its graph started is logged here),
        then wait until the row is crash-safe."""
        try:
            model: str | None = await asyncio.to_thread(self._concrete_model, turn)
        except WorkbenchError:
            model = turn.model
        fields = {
            "entry_point": turn.entry_point,
            "session_id": turn.session_id,
            "model": model,
            "input": (turn.text or "")[:TEXT_LIMIT],
        }
        self.callback.settle(unstarted_run(run_id, "voice", status, error or status, **fields))
        await self.callback.runlog.durable()

    @staticmethod
    def _context(turn: VoiceTurn) -> VoiceContext:
        return VoiceContext(
            persona=turn.persona,
            model=turn.model,
            voice=turn.voice,
            stt_model=turn.stt_model,
            grounded=turn.grounded,
            speak=turn.speak,
            pipeline=turn.pipeline,
        )

    async def _run(self, turn: VoiceTurn, run_id: str, model: str) -> AsyncIterator[dict[str, Any]]:
        context = self._context(turn)
        config: RunnableConfig = {
            "configurable": {"thread_id": turn.session_id},
            "run_id": uuid.UUID(run_id),
            "callbacks": [self.callback],
            "metadata": {"entry_point": turn.entry_point, "session_id": turn.session_id, "model": model},
        }
        # Both inputs are always set: a turn that failed before consuming its input must not leak into this one.
        inputs: VoiceInput = {
            "audio": base64.b64encode(turn.audio).decode() if turn.audio is not None else None,
            "audio_format": turn.audio_format,
            "text": turn.text if turn.audio is None else None,
        }
        final: dict[str, Any] = {}
        finished = False
        try:
            async with asyncio.timeout(self.settings.max_generation_s):
                stream = self.graph.astream(
                    inputs, config, context=context, stream_mode=["custom", "messages", "values"], durability="exit"
                )
                async for mode, chunk in cast(AsyncIterator[tuple[str, Any]], stream):
                    if mode == "custom":
                        if chunk.get("type") == "retrieval":
                            chunk = {**chunk, "documents": [public_document(d) for d in chunk["documents"]]}
                        yield {**chunk, "run_id": run_id} if chunk.get("type") == "retrieval" else chunk
                    elif mode == "messages":
                        message, meta = chunk
                        if (
                            meta.get("langgraph_node") == RESPOND
                            and isinstance(message, AIMessageChunk)
                            and isinstance(message.content, str)
                            and message.content
                        ):
                            yield {"type": "token", "content": message.content}
                    elif mode == "values":
                        final = chunk
            finished = True
        except TimeoutError:
            self.callback.abort(run_id, status="error", error="timed out")
            raise
        finally:
            if not finished:
                # A turn stopped between respond and synthesize leaves its speaker behind: stop it here.
                SPEAKERS.cancel(final.get("turn_id"))
                with contextlib.suppress(Exception):
                    self.callback.abort(run_id)
        await self.callback.runlog.durable()  # the finished row survives a crash before the client hears done
        if final.get("speech"):
            yield {"type": "audio", "format": final.get("speech_format") or "wav", "data": final["speech"]}
        yield {
            "type": "done",
            "run_id": run_id,
            "status": "ok",
            "session_id": turn.session_id,
            "transcript": final.get("transcript", ""),
            "reply": final.get("reply", ""),
            "timings": final.get("timings", {}),
            "models": final.get("models", {}),
            "notes": final.get("notes", []),
        }

"""One voice turn as a stream of protocol events, whoever asks: ``/ws/assistant``, the UI or the CLI.

Events, in order: ``transcription`` (audio turns), ``retrieval`` (grounded personas), ``token``…,
``response``, ``notice`` (fallbacks), ``audio_chunk``… (one per sentence), ``audio`` (the whole reply),
``done``. The graph runs on the :class:`~workbench.runtime.GraphRuntime` it is given (``session_id`` is the
thread) under a time limit and is logged to DuckDB whether it finishes, fails or is aborted; cancelling the
consumer stops the model and speech, where they run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

from graphs.voice import RESPOND, SPEAKERS, check_context
from graphs.voice_state import VoiceContext, VoiceInput
from workbench.chat.service import public_document
from workbench.errors import WorkbenchError
from workbench.resources import get_resources
from workbench.runlog.callback import TEXT_LIMIT, RunLogCallback, unstarted_run
from workbench.runtime import GraphRun, GraphRuntime, Token
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
    """Runs voice turns of the voice graph on ``runtime``."""

    def __init__(self, settings: Settings, runtime: GraphRuntime, callback: RunLogCallback | None = None):
        self.settings = settings
        self.runtime = runtime
        self.callback = callback or RunLogCallback()

    def check(self, turn: VoiceTurn) -> None:
        """Refuse a turn naming a persona or voice that is not on offer (:class:`ConfigurationError`), before
        anything runs."""
        check_context(self._context(turn))

    async def history(self, session_id: str) -> list[BaseMessage]:
        return await self.runtime.messages("voice", session_id)

    async def stream(self, turn: VoiceTurn, run_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Yield the turn's events. Raises what :meth:`check` raises, :class:`~workbench.voice.audio.AudioError`
        for unusable audio, :class:`SessionBusy` when the session has a turn running, ``TimeoutError`` past
        ``max_generation_s``."""
        model = await asyncio.to_thread(self._concrete_model, turn)
        async for event in self._run(turn, run_id or str(uuid.uuid4()), model):
            yield event

    def _concrete_model(self, turn: VoiceTurn) -> str:
        """The ``provider/model`` the turn's persona (or its own ``model``) runs on, after :meth:`check`."""
        context = self._context(turn)
        persona = check_context(context)
        return get_resources().models.concrete(context.model or persona.model, "voice")

    async def settle(self, turn: VoiceTurn, run_id: str, status: str = "aborted", error: str | None = None) -> None:
        """Make sure a turn that did not finish has its row (one stopped before its graph started is logged here),
        then wait until the row is crash-safe."""
        if self.runtime.logged_elsewhere(run_id):  # the server that ran it logged its row
            await self.callback.runlog.durable()
            return
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
        # Both inputs are always set: a turn that failed before consuming its input must not leak into this one.
        inputs: VoiceInput = {
            "audio": base64.b64encode(turn.audio).decode() if turn.audio is not None else None,
            "audio_format": turn.audio_format,
            "text": turn.text if turn.audio is None else None,
        }
        run = GraphRun(
            "voice",
            dict(inputs),
            run_id,
            thread=turn.session_id,
            context=context,
            metadata={"entry_point": turn.entry_point, "session_id": turn.session_id, "model": model},
            durability="exit",
            callbacks=[self.callback],
        )
        final: dict[str, Any] = {}
        finished = False
        try:
            async with asyncio.timeout(self.settings.max_generation_s):
                async for mode, chunk in self.runtime.stream(run):
                    if mode == "custom":
                        if chunk.get("type") == "retrieval":
                            chunk = {**chunk, "documents": [public_document(d) for d in chunk["documents"]]}
                        yield {**chunk, "run_id": run_id} if chunk.get("type") == "retrieval" else chunk
                    elif mode == "token" and isinstance(chunk, Token) and chunk.node == RESPOND:
                        yield {"type": "token", "content": chunk.text}
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
        await self.callback.saved(run_id)  # the finished row survives a crash before the client hears done
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

"""One voice turn as a stream of typed events (:mod:`workbench.events`), whoever asks: ``/ws/assistant``, the UI or
the CLI.

Events, in order: ``transcription`` (audio turns), ``retrieval`` (grounded personas), ``token``…, ``response``,
``notice`` (fallbacks), ``audio_chunk``… (one per sentence), ``audio`` (the whole reply), ``done``. The turn runs as
every turn does (:class:`~workbench.turns.TurnService`); this module says what the voice graph gets and how its
parts become events. Cancelling the consumer stops the model and speech, where they run.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from graphs.voice import RESPOND, SPEAKERS, check_context, think_ahead
from graphs.voice_state import VoiceContext, VoiceInput
from workbench.errors import WorkbenchError
from workbench.events import (
    AudioChunkEvent,
    AudioEvent,
    Event,
    NoticeEvent,
    PublicDocument,
    ResponseEvent,
    RetrievalEvent,
    TokenEvent,
    TranscriptionEvent,
    VoiceDoneEvent,
)
from workbench.resources import Resources
from workbench.runtime import GraphRun, GraphToken
from workbench.turns.runner import TurnService
from workbench.voice.personas import get_persona
from workbench.voice.streaming import Utterance

log = logging.getLogger(__name__)

_WRITTEN: dict[str, type[Event]] = {
    "transcription": TranscriptionEvent,
    "response": ResponseEvent,
    "notice": NoticeEvent,
    "audio_chunk": AudioChunkEvent,
}
"""The voice graph's custom stream items that are events as they are written."""


def warm_voice_model(resources: Resources) -> float | None:
    """Load the default persona's model and, for a bundled model, read the persona's instructions into its cache,
    so that the first voice turn does neither. Left alone when it is the chat model: one model file keeps one
    context, and a warm-up in the background would replace a chat session's in it at any moment (the chat's own
    warm-up keeps the chat's instructions). The seconds it took, or None for a model that needs no warming."""
    settings = resources.settings
    persona = get_persona(settings.voice_persona, settings.personas_dir)
    choice = resources.models.choose(persona.model, "voice")
    warm = getattr(choice.model, "warm", None)
    if not callable(warm) or choice.spec == resources.models.concrete(None, "chat"):
        return None
    started = time.perf_counter()
    warm([SystemMessage(persona.system_prompt), HumanMessage("")])
    return time.perf_counter() - started


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
    heard: Utterance | None = None
    """A streamed turn: how its ``text`` was transcribed while the user spoke."""
    interrupted: dict[str, str] | None = None
    """The previous turn, which the user spoke over (``transcript`` and ``spoken``): the history keeps it."""


class VoiceService(TurnService):
    """Runs voice turns of the voice graph on ``runtime``."""

    def check(self, turn: VoiceTurn) -> None:
        """Refuse a turn naming a persona or voice that is not on offer (:class:`ConfigurationError`), before
        anything runs."""
        check_context(self._context(turn), self.resources)

    async def history(self, session_id: str) -> list[BaseMessage]:
        return await self.messages("voice", session_id)

    async def stream(self, turn: VoiceTurn, run_id: str | None = None) -> AsyncIterator[Event]:
        """Yield the turn's events. Raises what :meth:`check` raises, :class:`~workbench.voice.audio.AudioError`
        for unusable audio, :class:`SessionBusy` when the session has a turn running, ``TimeoutError`` past
        ``max_generation_s``."""
        model = await asyncio.to_thread(self._concrete_model, turn)
        async for event in self._run(turn, run_id or str(uuid.uuid4()), model):
            yield event

    async def think_ahead(self, turn: VoiceTurn, halt: threading.Event) -> int:
        """Begin the reply to ``turn`` (the transcript of a streamed turn at a pause that may end it) before the
        turn is sure, so that if it ends there its reply is already under way (:func:`graphs.voice.think_ahead`);
        ``halt`` stops it (the user went on speaking). Nothing is written. The tokens begun: 0 where the graphs run
        elsewhere or the model cannot."""
        if not self.runtime.shares_models or not turn.text:
            return 0
        history = await self.history(turn.session_id)
        context, text, interrupted = self._context(turn), turn.text, turn.interrupted
        return await asyncio.to_thread(think_ahead, context, self.resources, history, text, interrupted, halt)

    def _concrete_model(self, turn: VoiceTurn) -> str:
        """The ``provider/model`` the turn's persona (or its own ``model``) runs on, after :meth:`check`."""
        context = self._context(turn)
        persona = check_context(context, self.resources)
        return self.resources.models.concrete(context.model or persona.model, "voice")

    def _model_or_request(self, turn: VoiceTurn) -> str | None:
        try:
            return self._concrete_model(turn)
        except WorkbenchError:
            return turn.model

    async def settle(self, turn: VoiceTurn, run_id: str, status: str = "aborted", error: str | None = None) -> None:
        """Make sure a turn that did not finish has its row (one stopped before its graph started is logged here),
        then wait until the row is crash-safe."""
        await self.settle_turn(
            "voice",
            run_id,
            status,
            error,
            lambda: self._model_or_request(turn),
            turn.text or "",
            entry_point=turn.entry_point,
            session_id=turn.session_id,
        )

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

    def _run(self, turn: VoiceTurn, run_id: str, model: str) -> AsyncIterator[Event]:
        # Both inputs are always set: a turn that failed before consuming its input must not leak into this one.
        inputs: VoiceInput = {
            "audio": base64.b64encode(turn.audio).decode() if turn.audio is not None else None,
            "audio_format": turn.audio_format,
            "text": turn.text if turn.audio is None else None,
            "heard": {k: v for k, v in asdict(turn.heard).items() if k != "text"} if turn.heard else None,
            "interrupted": turn.interrupted,
        }
        run = GraphRun(
            "voice",
            dict(inputs),
            run_id,
            thread=turn.session_id,
            context=self._context(turn),
            metadata={"entry_point": turn.entry_point, "session_id": turn.session_id, "model": model},
            durability="exit",
            callbacks=[self.callback],
        )

        def parts(mode: str, chunk: Any) -> Iterator[Event]:
            if mode == "custom" and chunk.get("type") == "retrieval":
                documents = [PublicDocument.of(d) for d in chunk["documents"]]
                yield RetrievalEvent(run_id=run_id, query=chunk.get("query"), documents=documents)
            elif mode == "custom" and chunk.get("type") in _WRITTEN:
                yield _WRITTEN[chunk["type"]].model_validate(chunk)
            elif mode == "token" and isinstance(chunk, GraphToken) and chunk.node == RESPOND:
                yield TokenEvent(content=chunk.text)

        def ending(final: dict[str, Any]) -> Iterator[Event]:
            if final.get("speech"):
                yield AudioEvent(format=final.get("speech_format") or "wav", data=final["speech"])
            yield VoiceDoneEvent(
                run_id=run_id,
                session_id=turn.session_id,
                transcript=final.get("transcript", ""),
                reply=final.get("reply", ""),
                timings=final.get("timings", {}),
                models=final.get("models", {}),
                notes=final.get("notes", []),
            )

        def stopped(final: dict[str, Any]) -> None:
            # A turn stopped between respond and synthesize leaves its speaker behind: stop it here.
            SPEAKERS.cancel(final.get("turn_id"))

        return self.turn(run, parts, ending, stopped)


class ReplyAhead:
    """The reply begun at the pauses of one microphone stream (:meth:`VoiceService.think_ahead`): begun when the
    speaker pauses on a whole sentence, stopped when they go on, kept for the turn when it ends on those words."""

    def __init__(self, service: VoiceService) -> None:
        self.service = service
        self.text: str | None = None
        self._halt = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def begin(self, turn: VoiceTurn) -> None:
        """Begin the reply to ``turn`` (its text is what the speaker said up to the pause), in the background,
        unless the settings say not to (``reply_ahead``)."""
        self.stop()
        if not self.service.settings.reply_ahead:
            return
        self.text, self._halt = turn.text, threading.Event()
        task = asyncio.create_task(self._begin(turn, self._halt))
        self._tasks.add(task)  # held until done: the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        """The speaker went on (or left): stop the reply begun, if any."""
        self._halt.set()
        self.text = None

    def settle(self, text: str) -> None:
        """The turn ended on ``text``: a reply begun on other words is stopped at once, freeing the model; one
        begun on these is the turn's now (nothing here stops it any more)."""
        if text != self.text:
            self._halt.set()
        self.text, self._halt = None, threading.Event()

    async def _begin(self, turn: VoiceTurn, halt: threading.Event) -> None:
        try:
            await self.service.think_ahead(turn, halt)
        except WorkbenchError as exc:  # the turn itself says what is wrong, if it comes
            log.debug("no reply begun ahead: %s", exc)
        except Exception:
            log.warning("a reply begun ahead failed", exc_info=True)

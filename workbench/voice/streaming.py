"""A live microphone stream as turns: raw frames in; speech started, partial transcripts, speech stopped and the
turn's final transcript out.

One :class:`SpeechStream` per socket. Frames (16 kHz mono ``pcm_s16le``, 10 to 100 ms each) are scored by the VAD
as they arrive (:mod:`workbench.voice.vad`); while the user speaks, the turn's audio so far is transcribed every
``partial_interval_s`` of audio (one transcription at a time, in a thread); when the speaker falls silent for
``turn_pause_ms`` the turn so far is transcribed at once (speech again after the pause drops it), and the listener
hears of it when it ends a sentence (the reply can be begun while the turn may still go on). That transcript is
the end-of-turn model: once the silence reaches ``turn_end_silence_ms`` and it ends a sentence, the turn is
over and it is the final transcript, ready at once; a pause mid-sentence (after a comma, or a word that ends no
sentence) ends the turn only at ``turn_end_max_silence_ms``. The turn's audio lives in this object's memory only,
and only until its transcript is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

from workbench.errors import WorkbenchError
from workbench.events import Event, PartialTranscriptionEvent, SpeechStartedEvent, SpeechStoppedEvent
from workbench.settings import Settings
from workbench.voice.audio import SAMPLE_RATE, DecodedAudio
from workbench.voice.stt import SpeechToText, Transcript
from workbench.voice.vad import WINDOW, WINDOW_MS, StreamingVAD, TurnTracker

STREAM_FORMAT = "pcm_s16le"
MIN_FRAME_MS, MAX_FRAME_MS = 10, 100
PREROLL_S = 0.3
"""Audio kept from before the detected start of speech (the VAD needs a few windows to be sure)."""
log = logging.getLogger(__name__)
T = TypeVar("T")

StreamErrorCode = Literal["invalid_frame", "stream_not_started", "unsupported_format", "audio_too_long", "no_speech"]


class StreamError(WorkbenchError):
    """A frame or a streamed turn that cannot be used, with a protocol ``code``; the stream goes on."""

    def __init__(self, code: StreamErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Utterance:
    """A finished streamed turn: its final transcript and how it was made (no audio)."""

    text: str
    model: str
    language: str | None
    audio_s: float
    stt_s: float
    transcript_s: float
    """Wall time from the arrival of the last speech to the final transcript being ready."""


class Listener(Protocol):
    """Who hears a stream's turns (the socket)."""

    async def hear(self, event: Event) -> None:
        """``speech_started``, a partial ``transcription`` or ``speech_stopped``."""

    async def turn_heard(self, utterance: Utterance) -> None:
        """A turn's final transcript."""

    async def pausing(self, text: str) -> None:
        """The speaker has paused and what they said so far, ``text``, ends a sentence: the turn may be over (its
        reply can be begun; it is over when :meth:`turn_heard` follows)."""

    async def resumed(self) -> None:
        """The speaker went on after such a pause: the turn is not over."""

    async def turn_refused(self, error: WorkbenchError) -> None:
        """A turn that gave nothing to answer (no words, over the duration limit, transcription failed)."""


def ends_sentence(text: str) -> bool:
    """Whether a transcript ends a sentence (Whisper punctuates: a trailing comma or ellipsis is a pause)."""
    text = text.rstrip().rstrip("\"')")
    return text.endswith((".", "?", "!")) and not text.endswith("..")


def check_stream(sample_rate: int, format: str) -> None:
    """Refuse a stream that is not 16 kHz ``pcm_s16le`` (:class:`StreamError` ``unsupported_format``)."""
    if sample_rate != SAMPLE_RATE or format != STREAM_FORMAT:
        raise StreamError(
            "unsupported_format",
            f"stream {SAMPLE_RATE} Hz mono {STREAM_FORMAT} audio; got {sample_rate} Hz {format[:20]}",
        )


def frame_samples(frame: bytes) -> np.ndarray:
    """A frame's samples as float32 in [-1, 1]; :class:`StreamError` ``invalid_frame`` for a frame that is not
    whole 16-bit samples or not 10 to 100 ms long."""
    if len(frame) % 2:
        raise StreamError("invalid_frame", f"a frame is whole 16-bit samples; got an odd {len(frame)} bytes")
    least, most = (SAMPLE_RATE * ms // 1000 * 2 for ms in (MIN_FRAME_MS, MAX_FRAME_MS))
    if not least <= len(frame) <= most:
        raise StreamError(
            "invalid_frame",
            f"a frame holds {MIN_FRAME_MS} to {MAX_FRAME_MS} ms ({least} to {most} bytes); got {len(frame)} bytes",
        )
    return np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0


class SpeechStream:
    """One microphone stream: voice activity, turns, partial and final transcripts, told to ``listener``."""

    def __init__(
        self,
        stt: SpeechToText,
        settings: Settings,
        listener: Listener,
        *,
        end_silence_ms: int | None = None,
        max_silence_ms: int | None = None,
    ) -> None:
        """``end_silence_ms`` and ``max_silence_ms`` override the settings' ``turn_end_silence_ms`` and
        ``turn_end_max_silence_ms`` for this stream (a speaker who pauses long, e.g. dictating)."""
        self.stt = stt
        self.listener = listener
        self.vad = StreamingVAD()
        end_ms = end_silence_ms or settings.turn_end_silence_ms
        max_ms = max(end_ms, max_silence_ms or settings.turn_end_max_silence_ms)
        self.tracker = TurnTracker.of(settings.vad_threshold, settings.vad_start_ms, settings.turn_pause_ms, max_ms)
        self.complete_windows = -(-end_ms // WINDOW_MS)
        self.max_samples = int(settings.max_audio_s * SAMPLE_RATE)
        self.partial_every = int(settings.partial_interval_s * SAMPLE_RATE)
        self.received = 0
        """Samples streamed so far (the stream's clock)."""
        self.turns = 0
        self._recent = np.zeros(0, dtype=np.float32)
        self._turn: list[np.ndarray] = []
        self._turn_samples = 0
        self._next_partial = 0
        self._speech_end = 0
        self._last_speech_at = 0.0
        self._partial: asyncio.Task[None] | None = None
        self._final: asyncio.Task[Transcript] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def in_turn(self) -> bool:
        return self.tracker.in_turn

    async def feed(self, frame: bytes) -> None:
        """Take one frame; raises :class:`StreamError` for a bad frame or a turn over the duration limit (that
        turn is dropped: the next starts after the speaker has paused)."""
        samples = frame_samples(frame)
        now = time.perf_counter()
        first = self.received - self.vad.pending  # the stream's sample where this frame's first window starts
        self.received += len(samples)
        self._recent = np.concatenate([self._recent, samples])[-int(PREROLL_S * SAMPLE_RATE) - len(samples) :]
        if self.tracker.in_turn:
            self._keep(samples)
        for i, score in enumerate(self.vad(samples)):
            window_end = first + (i + 1) * WINDOW
            silent_before = self.tracker.silence
            match self.tracker.update(score):
                case "start":
                    await self._started(max(0, window_end - self.tracker.start_windows * WINDOW))
                case "pause":
                    self._final = self._transcribe(self._audio())
                    self._background(self._paused(self._final))
                case "resume" if silent_before >= self.complete_windows and await self._ended_before():
                    self.tracker.end()  # the pause ended the turn: this speech starts the next one
                    await self._ended()
                case "resume":
                    self._final = None  # speech again: the turn goes on, that transcript is already stale
                    await self.listener.resumed()
                case "end":
                    await self._ended()
                case None if self._complete():
                    self.tracker.end()
                    await self._ended()
            if score >= self.tracker.threshold:
                self._speech_end, self._last_speech_at = window_end, now
        if self._turn_samples > self.max_samples:
            self.tracker.drop()
            self._clear()
            raise StreamError("audio_too_long", f"a turn is limited to {self.max_samples / SAMPLE_RATE:g} s of audio")
        self._maybe_partial()

    def _complete(self) -> bool:
        """Whether the paused turn can end before the longest silence: silent ``turn_end_silence_ms`` and its
        transcript so far ends a sentence (a pause after a comma or mid-phrase waits for more)."""
        final = self._final
        if not self.tracker.paused or self.tracker.silence < self.complete_windows or final is None:
            return False
        if not final.done() or final.cancelled() or final.exception() is not None:
            return False
        return ends_sentence(final.result().text)

    async def _ended_before(self) -> bool:
        """Speech again after a pause long enough to end a turn, whose transcript was not ready in time: wait for it
        (the frames wait in the socket meanwhile); the turn ended at the pause if it ends a sentence."""
        final = self._final
        if final is None:
            return False
        try:
            transcript = await asyncio.shield(final)
        except WorkbenchError:
            return False
        return ends_sentence(transcript.text)

    async def _paused(self, final: asyncio.Task[Transcript]) -> None:
        """Tell the listener when the transcript at a pause ends a sentence while the speaker is still silent."""
        try:
            transcript = await asyncio.shield(final)
        except WorkbenchError:
            return
        if final is self._final and self.tracker.paused and ends_sentence(transcript.text):
            await self.listener.pausing(transcript.text)

    async def finish(self) -> None:
        """The client stopped streaming: a turn in progress ends here."""
        if self.tracker.in_turn:
            self.tracker.drop()
            await self._ended()

    def close(self) -> None:
        """Stop every transcription still pending (the socket is going)."""
        for task in list(self._tasks):
            task.cancel()
        self._clear()

    # -- turns ----------------------------------------------------------------------------------------------

    async def _started(self, at: int) -> None:
        self.turns += 1
        self._clear()
        self._keep(self._recent.copy())
        self._next_partial = self.partial_every
        await self.listener.hear(SpeechStartedEvent(at_s=round(at / SAMPLE_RATE, 3)))

    async def _ended(self) -> None:
        final = self._final or self._transcribe(self._audio())
        self._clear()
        await self.listener.hear(SpeechStoppedEvent(at_s=round(self._speech_end / SAMPLE_RATE, 3)))
        self._background(self._deliver(final, self._last_speech_at))

    async def _deliver(self, final: asyncio.Task[Transcript], last_speech_at: float) -> None:
        try:
            transcript = await final
        except WorkbenchError as exc:
            await self.listener.turn_refused(exc)
            return
        if not transcript.text:
            await self.listener.turn_refused(
                StreamError("no_speech", "no words were recognised in that turn; say it again")
            )
            return
        ready = time.perf_counter() - last_speech_at
        await self.listener.turn_heard(
            Utterance(
                text=transcript.text,
                model=transcript.model,
                language=transcript.language,
                audio_s=round(transcript.duration_s, 3),
                stt_s=round(transcript.elapsed_s, 3),
                transcript_s=round(ready, 3),
            )
        )

    def _maybe_partial(self) -> None:
        """Transcribe the turn so far, at most every ``partial_interval_s`` of audio and one at a time."""
        busy = self._partial is not None and not self._partial.done()
        quiet = self.tracker.silence > 0  # the turn may be ending: keep the transcriber free for its final transcript
        if not self.tracker.in_turn or quiet or busy or self._turn_samples < self._next_partial:
            return
        self._next_partial = self._turn_samples + self.partial_every
        transcribing = self._transcribe(self._audio())
        self._partial = self._background(self._partial_of(transcribing, self.turns, self.received))

    async def _partial_of(self, transcribing: asyncio.Task[Transcript], turn: int, until: int) -> None:
        with contextlib.suppress(WorkbenchError):
            transcript = await transcribing
            if transcript.text and turn == self.turns and self.tracker.in_turn:
                await self.listener.hear(
                    PartialTranscriptionEvent(
                        text=transcript.text,
                        audio_s=round(transcript.duration_s, 3),
                        until_s=round(until / SAMPLE_RATE, 3),
                    )
                )

    # -- audio and tasks ------------------------------------------------------------------------------------

    def _keep(self, samples: np.ndarray) -> None:
        self._turn.append(samples)
        self._turn_samples += len(samples)

    def _audio(self) -> np.ndarray:
        return np.concatenate(self._turn) if self._turn else np.zeros(0, dtype=np.float32)

    def _clear(self) -> None:
        self._turn, self._turn_samples, self._final = [], 0, None

    def _transcribe(self, samples: np.ndarray) -> asyncio.Task[Transcript]:
        return self._background(asyncio.to_thread(self.stt.transcribe, DecodedAudio(samples=samples, format="wav")))

    def _background(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``work`` as a task this stream cancels when it closes."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None and not isinstance(exc, WorkbenchError):
            log.warning("a streamed turn's work failed: %s", exc, exc_info=exc)

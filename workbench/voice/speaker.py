"""Speaking a reply sentence by sentence on a background task, while the reply may still be generated.

The voice graph hands sentences to a :class:`Speaker` as soon as the model has finished them, so the first
sentence is heard while the model writes the rest; each sentence's audio is emitted as an ``audio_chunk``
event the moment it exists. Sentences are spoken in order, one at a time, in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable
from typing import Any

from workbench.runlog.steps import step
from workbench.sentences import complete_sentences
from workbench.voice.audio import join_clips
from workbench.voice.tts import TextToSpeech


class Speaker:
    """Synthesizes the sentences it is fed, in order, and collects the clips and timings."""

    def __init__(self, tts: TextToSpeech, write: Callable[[Any], None], started_at: float) -> None:
        self.tts = tts
        self.write = write
        self.started_at = started_at
        self.parts: list[bytes] = []
        self.format = ""
        self.voice = ""
        self.notes: list[str] = []
        self.tts_s = 0.0
        self.speech_s = 0.0
        self.first_audio_s: float | None = None
        self._buffer = ""
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    def feed(self, text: str) -> None:
        """Add reply text; every sentence it completes is queued for speaking."""
        complete, self._buffer = complete_sentences(self._buffer + text)
        for sentence in complete:
            self._queue.put_nowait(sentence)

    def flush(self) -> None:
        """Queue what is left of the reply (its last sentence may have no end mark)."""
        if self._buffer.strip():
            self._queue.put_nowait(self._buffer.strip())
        self._buffer = ""

    async def finish(self) -> Speaker:
        """Speak everything fed so far and wait until it is done."""
        self.flush()
        self._queue.put_nowait(None)
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            self.cancel()
            raise
        return self

    def cancel(self) -> None:
        """Stop after the sentence being synthesized (a worker thread cannot be interrupted mid-sentence)."""
        self._task.cancel()

    @property
    def audio(self) -> bytes:
        return join_clips(self.parts, self.format) if self.parts else b""

    async def _run(self) -> None:
        while (sentence := await self._queue.get()) is not None:
            said = {"workbench.speech.direction": "tts", "workbench.speech.characters": len(sentence)}
            with step("speech", "text_to_speech", said) as span:
                audio_s = await self._speak(sentence)
                span.set("workbench.speech.voice", self.voice).set("workbench.speech.audio_ms", round(audio_s * 1000))

    async def _speak(self, sentence: str) -> float:
        """Synthesize one sentence, emitting its audio as it comes; the seconds of audio it made."""
        audio_s = 0.0
        pieces = iter(self.tts.stream(sentence))
        while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
            if not self.parts:
                self.first_audio_s = round(time.time() - self.started_at, 3)
                self.voice, self.format = piece.voice, piece.format
            if piece.note and piece.note not in self.notes:
                self.notes.append(piece.note)
                self.write({"type": "notice", "code": "tts_fallback", "message": piece.note})
            self.write(
                {
                    "type": "audio_chunk",
                    "index": len(self.parts),
                    "format": piece.format,
                    "text": piece.text,
                    "data": base64.b64encode(piece.audio).decode(),
                }
            )
            self.parts.append(piece.audio)
            self.tts_s += piece.elapsed_s
            self.speech_s += piece.duration_s
            audio_s += piece.duration_s
        return audio_s


class Speakers:
    """Speakers handed from one node to the next within a process, by turn id; bounded, oldest cancelled."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._open: dict[str, Speaker] = {}

    def put(self, turn_id: str, speaker: Speaker) -> None:
        self._open[turn_id] = speaker
        while len(self._open) > self.limit:
            oldest = next(iter(self._open))
            self._open.pop(oldest).cancel()

    def take(self, turn_id: str | None) -> Speaker | None:
        return self._open.pop(turn_id, None) if turn_id else None

    def cancel(self, turn_id: str | None) -> None:
        speaker = self._open.pop(turn_id, None) if turn_id else None
        if speaker is not None:
            with contextlib.suppress(Exception):
                speaker.cancel()

"""The Voice tab's live conversation: talk, and it answers when you stop.

The browser streams the microphone (Gradio's streaming audio input: ``getUserMedia`` with the browser's default echo
cancellation, so the reply's own sound is not taken for speech) and the server finds the turns with the
:class:`~workbench.voice.streaming.SpeechStream` that ``/ws/assistant`` uses: the partial transcript shows while
the user speaks, each turn is answered through :class:`~workbench.turns.voice.VoiceService` (its reply begun at
the pause, while the silence confirms the end of the turn), its sentences are
played as they arrive (the stream's chunks are the clock), and its waterfall shows end of speech → final
transcript → first token → first sentence → first audio. Speech during a reply stops it (the turn is cancelled, as
the Stop button cancels one) and the session keeps what was heard of it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np

from workbench.errors import WorkbenchError
from workbench.events import (
    AudioChunkEvent,
    Event,
    PartialTranscriptionEvent,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    TokenEvent,
    VoiceDoneEvent,
)
from workbench.runtime import SessionBusy
from workbench.sentences import complete_sentences
from workbench.turns.voice import ReplyAhead, VoiceService, VoiceTurn
from workbench.voice.audio import SAMPLE_RATE, decode_audio, join_clips
from workbench.voice.streaming import MAX_FRAME_MS, SpeechStream, StreamError, Utterance
from workbench.voice.stt import SpeechToText

if TYPE_CHECKING:
    from workbench.ui.context import UiServices as Services

WATERFALL = (
    ("End of speech → final transcript", "final"),
    ("→ first token", "token"),
    ("→ first sentence", "sentence"),
    ("→ first audio", "audio"),
)
DEFAULT = "default"  # the Voice tab's model picker: the persona's model, else the configured one
FRAME = SAMPLE_RATE * MAX_FRAME_MS // 1000
STEP = SAMPLE_RATE // 100  # frames are whole 10 ms


def waterfall_markdown(marks: dict[str, float]) -> str:
    """A turn's stages, in seconds after the end of speech; stages not reached yet show a dash."""
    end = marks.get("end")
    rows = ["| stage | seconds |", "|---|---|"]
    for name, key in WATERFALL:
        at = marks.get(key)
        rows.append(f"| {name} | {'–' if at is None or end is None else f'{at - end:.2f}'} |")
    return "\n".join(rows)


def to_stream_rate(rate: int, samples: np.ndarray) -> np.ndarray:
    """The browser's chunk (int16 or float, mono or not, any rate) as 16 kHz mono int16."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    floats = mono.astype(np.float32) / (32768.0 if samples.dtype == np.int16 else 1.0)
    if rate != SAMPLE_RATE and len(floats):
        count = max(1, round(len(floats) * SAMPLE_RATE / rate))
        floats = np.interp(np.linspace(0, len(floats) - 1, count), np.arange(len(floats)), floats)
    return (np.clip(floats, -1.0, 1.0) * 32767).astype(np.int16)


class Conversation:
    """One browser tab's live microphone and the turns it starts."""

    def __init__(self, service: VoiceService, stt: SpeechToText, session_id: str, knobs: dict[str, Any]) -> None:
        self.service = service
        self.session_id = session_id
        self.knobs = knobs
        self.stream = SpeechStream(stt, service.settings, self)
        self.partial = self.transcript = self.reply = ""
        self.status = "_Listening…_"
        self.marks: dict[str, float] = {}
        self.unplayed: list[tuple[str, bytes]] = []
        self.playing_until = 0.0
        self.silenced = False
        """The reply was interrupted: the player is to stop."""
        self.spoken: list[str] = []
        self.interrupted: dict[str, str] | None = None
        self._pending = np.zeros(0, dtype=np.int16)
        self._reply: asyncio.Task[None] | None = None
        self._turn: VoiceTurn | None = None
        self._run_id = ""
        self.ahead = ReplyAhead(service)

    async def feed(self, rate: int, samples: np.ndarray) -> None:
        """Stream one browser chunk, cut into frames of whole 10 ms (the rest waits for the next chunk)."""
        pcm = np.concatenate([self._pending, to_stream_rate(rate, samples)])
        usable = len(pcm) - len(pcm) % STEP
        for at in range(0, usable, FRAME):
            try:
                await self.stream.feed(pcm[at : min(at + FRAME, usable)].tobytes())
            except StreamError as exc:
                self.status = f"⚠️ {exc}"
        self._pending = pcm[usable:]

    def next_audio(self) -> bytes | None:
        """The reply's sentences that arrived since the player last started, once it has played what it had."""
        if not self.unplayed or time.perf_counter() < self.playing_until:
            return None
        fmt = self.unplayed[0][0]
        clip = join_clips([data for kind, data in self.unplayed if kind == fmt], fmt)
        self.unplayed = []
        length = decode_audio(clip, fmt, max_bytes=len(clip), max_seconds=3600).duration_s
        self.playing_until = time.perf_counter() + length
        return clip

    async def close(self) -> None:
        self.ahead.stop()
        await self.stream.finish()
        self.stream.close()

    # -- what the stream hears ----------------------------------------------------------------------------------

    async def hear(self, event: Event) -> None:
        if isinstance(event, SpeechStartedEvent):
            self.partial, self.status = "", "_Hearing you…_"
            if self._reply is not None and not self._reply.done() and self.service.settings.barge_in:
                await self.interrupt()
        elif isinstance(event, PartialTranscriptionEvent):
            self.partial = event.text
        elif isinstance(event, SpeechStoppedEvent):
            self.status = "_Thinking…_"

    async def turn_heard(self, utterance: Utterance) -> None:
        now = time.perf_counter()
        self.marks = {"end": now - utterance.transcript_s, "final": now}
        self.transcript, self.partial, self.reply, self.spoken = utterance.text, "", "", []
        self.ahead.settle(utterance.text)
        self._turn = self._turn_of(utterance.text)
        self._turn.heard, self.interrupted = utterance, None
        self._run_id = str(uuid.uuid4())
        self._reply = asyncio.create_task(self._answer(self._turn, self._run_id))

    async def turn_refused(self, error: WorkbenchError) -> None:
        self.status = f"⚠️ {error}"

    async def pausing(self, text: str) -> None:
        if self._reply is None or self._reply.done():  # begin the reply while the silence confirms the turn
            self.ahead.begin(self._turn_of(text))

    async def resumed(self) -> None:
        self.ahead.stop()

    def _turn_of(self, text: str) -> VoiceTurn:
        return VoiceTurn(
            session_id=self.session_id, text=text, interrupted=self.interrupted, entry_point="ui", **self.knobs
        )

    async def interrupt(self) -> None:
        """Stop the reply the user speaks over, log it as interrupted, keep what was heard for the history."""
        reply, self._reply = self._reply, None
        if reply is None or self._turn is None:
            return
        reply.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reply
        await self.service.settle(self._turn, self._run_id, "interrupted")
        self.interrupted = {"transcript": self.transcript, "spoken": " ".join(self.spoken)}
        self.unplayed, self.playing_until, self.silenced = [], 0.0, True
        self.status = "Interrupted."

    async def _answer(self, turn: VoiceTurn, run_id: str) -> None:
        try:
            async for event in self.service.stream(turn, run_id):
                now = time.perf_counter()
                if isinstance(event, TokenEvent):
                    self.reply += event.content
                    self.marks.setdefault("token", now)
                    if complete_sentences(self.reply)[0]:
                        self.marks.setdefault("sentence", now)
                elif isinstance(event, AudioChunkEvent):
                    self.marks.setdefault("audio", now)
                    self.unplayed.append((event.format, base64.b64decode(event.data)))
                    self.spoken.append(event.text)
                elif isinstance(event, VoiceDoneEvent):
                    self.status = f"Answered · run `{event.run_id}`"
        except SessionBusy:
            self.status = "⚠️ This session is still answering; wait for it."
        except TimeoutError:
            self.status = "⚠️ The turn took too long and was stopped."
        except WorkbenchError as exc:
            self.status = f"⚠️ {exc}"


def render(services: Services, session: gr.State, persona: gr.Dropdown, voice: gr.Dropdown, model: gr.Dropdown) -> None:
    """The live section of the Voice tab; ``persona``, ``voice`` and ``model`` are the tab's pickers."""
    conversation = gr.State(None)
    with gr.Row(), gr.Column():
        gr.Markdown("### Talk\nStart the microphone and speak; it answers when you pause, and you can talk over it.")
        microphone = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Live microphone",
                              elem_id="voice-live-input")  # fmt: skip
        partial = gr.Textbox(label="Hearing", interactive=False, elem_id="voice-live-partial")
        heard = gr.Textbox(label="You said", interactive=False, elem_id="voice-live-transcript")
        reply = gr.Textbox(label="Reply", interactive=False, lines=3, elem_id="voice-live-reply")
        player = gr.Audio(label="Reply audio", autoplay=True, interactive=False, elem_id="voice-live-output")
        waterfall = gr.Markdown(waterfall_markdown({}), elem_id="voice-live-waterfall")
        status = gr.Markdown(elem_id="voice-live-status")

    async def chunk(audio: tuple[int, np.ndarray] | None, live: Conversation | None, session_id: str,
                    persona_name: str | None, voice_name: str, model_spec: str) -> tuple:  # fmt: skip
        if live is None:
            knobs = {
                "persona": persona_name or None,
                "voice": voice_name,
                "model": None if model_spec == DEFAULT else model_spec,
            }
            stt = await asyncio.to_thread(services.resources().speech.stt)
            live = Conversation(services.voice(), stt, session_id, knobs)
        if audio is not None:
            await live.feed(*audio)
        clip = live.next_audio()
        played: Any = clip if clip is not None else (None if live.silenced else gr.update())
        live.silenced = False
        return (live, live.partial, live.transcript, live.reply, played, waterfall_markdown(live.marks), live.status)

    async def stopped(live: Conversation | None) -> tuple:
        if live is not None:
            await live.close()
        return None, "_Microphone off._"

    inputs = [microphone, conversation, session, persona, voice, model]
    outputs = [conversation, partial, heard, reply, player, waterfall, status]
    microphone.stream(chunk, inputs, outputs, stream_every=0.1, show_progress="hidden")
    microphone.stop_recording(stopped, [conversation], [conversation, status])

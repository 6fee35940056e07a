"""The Voice tab: record, upload or type a turn; see the transcript and the streamed reply, hear it, see the timings;
or talk live (:mod:`workbench.ui.voice_live`).

Turns run through :class:`~workbench.turns.voice.VoiceService` (the same graph as ``/ws/assistant``), with one
session per browser tab. The reply audio goes to the player as samples, so no files of ours are left behind.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import uuid
import wave
from collections.abc import MutableSet
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from workbench.errors import WorkbenchError
from workbench.events import (
    AudioEvent,
    NoticeEvent,
    ResponseEvent,
    TokenEvent,
    TranscriptionEvent,
    VoiceDoneEvent,
)
from workbench.runtime import SessionBusy
from workbench.turns.voice import VoiceTurn
from workbench.ui import voice_live
from workbench.ui.uploads import NotAnUpload, uploaded_file
from workbench.ui.voice_live import DEFAULT
from workbench.voice.audio import AUDIO_FORMATS, AudioError, decode_audio
from workbench.voice.personas import load_personas

if TYPE_CHECKING:
    from workbench.ui.context import UiServices as Services

TITLE = "Voice"
VOICES = ("piper/joe-us", "gtts/en")
LATENCY = (
    ("Speech to text", "stt_s"),
    ("LLM first token", "llm_ttft_s"),
    ("LLM total", "llm_s"),
    ("Text to speech", "tts_s"),
    ("End of input → first audio", "first_audio_s"),
    ("Total", "total_s"),
    ("Audio in (length)", "audio_s"),
    ("Reply audio (length)", "speech_s"),
)


def audio_format(path: str) -> str | None:
    """The format named by the file's extension when it is a supported one; else None (the service sniffs it)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in AUDIO_FORMATS else None


def latency_markdown(timings: dict[str, float]) -> str:
    """The turn's stage timings as a table, in seconds; stages that did not run show a dash."""
    rows = ["| stage | seconds |", "|---|---|"]
    rows += [f"| {name} | {'–' if timings.get(key) is None else f'{timings[key]:.2f}'} |" for name, key in LATENCY]
    return "\n".join(rows)


def playable(data: bytes, fmt: str) -> tuple[int, np.ndarray]:
    """The reply audio as ``(sample_rate, int16 samples)`` for ``gr.Audio``."""
    if fmt == "wav":
        with wave.open(io.BytesIO(data), "rb") as source:
            frames = np.frombuffer(source.readframes(source.getnframes()), dtype=np.int16)
            return source.getframerate(), frames.reshape(-1, source.getnchannels()).squeeze()
    decoded = decode_audio(data, fmt, max_bytes=len(data), max_seconds=24 * 3600)
    return decoded.sample_rate, (np.clip(decoded.samples, -1.0, 1.0) * 32767).astype(np.int16)


def read_recording(path: str, limit: int, uploads: MutableSet[str]) -> bytes:
    """The recorded or uploaded file's bytes, refusing one too large before reading it.

    The path comes from the browser, so only a file that Gradio's upload route saved (one of ``uploads``, its
    ``upload_file_set``) is read, deleted or answered about (:func:`~workbench.ui.uploads.uploaded_file`); any other
    path is refused untouched, with one message whether or not it exists. The upload is deleted once read (the
    input is cleared when a turn starts), so recordings do not pile up on disk.
    """
    try:
        file = uploaded_file(path, uploads)
    except NotAnUpload:
        raise AudioError("invalid_audio", "record or upload the audio in this page; that file cannot be used") from None
    try:
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with open(descriptor, "rb") as source:
            if (size := os.fstat(source.fileno()).st_size) > limit:
                raise AudioError("audio_too_large", f"audio is limited to {limit} bytes; got {size}")
            return source.read(limit + 1)
    except OSError:
        raise AudioError("invalid_audio", "the recording could not be read; record or upload it again") from None
    finally:
        file.unlink(missing_ok=True)
        uploads.discard(str(file))


def chat_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """A session's history as ``gr.Chatbot`` messages."""
    roles = {HumanMessage: "user", AIMessage: "assistant"}
    return [
        {"role": roles[type(m)], "content": m.content}
        for m in messages
        if type(m) in roles and isinstance(m.content, str)
    ]


def persona_description(name: str, extra_dir: Path | None) -> str:
    persona = load_personas(extra_dir).get(name)
    return f"_{persona.description}_" if persona and persona.description else ""


def render(services: Services, demo: gr.Blocks) -> None:
    session = gr.State(lambda: uuid.uuid4().hex)
    with gr.Row():
        with gr.Column(scale=3):
            recording = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Speak or upload",
                                 elem_id="voice-input")  # fmt: skip
            typed = gr.Textbox(elem_id="voice-text", placeholder="…or type your turn", show_label=False)
            with gr.Row():
                send = gr.Button("Send", variant="primary", elem_id="voice-send")
                stop = gr.Button("Stop", variant="stop", elem_id="voice-stop")
                new_session = gr.Button("New session", elem_id="voice-new-session")
            status = gr.Markdown(elem_id="voice-status")
            transcript = gr.Textbox(label="You said", interactive=False, elem_id="voice-transcript")
            reply = gr.Textbox(label="Reply", interactive=False, lines=4, elem_id="voice-reply")
            output = gr.Audio(label="Reply audio", autoplay=True, interactive=False, elem_id="voice-output")
            history = gr.Chatbot(label="Session", height=360, elem_id="voice-history")
        with gr.Column(scale=2):
            persona = gr.Dropdown(label="Persona", choices=[], elem_id="voice-persona")
            description = gr.Markdown(elem_id="voice-persona-description")
            voice = gr.Dropdown(label="Voice", choices=list(VOICES), value=VOICES[0], elem_id="voice-voice")
            model = gr.Dropdown(label="Model", choices=[DEFAULT], value=DEFAULT, elem_id="voice-model")
            gr.Markdown("### Latency")
            latency = gr.Markdown(latency_markdown({}), elem_id="voice-latency")
    voice_live.render(services, session, persona, voice, model)

    def pickers() -> tuple[dict, dict, str]:
        settings = services.resources().settings
        names = sorted(load_personas(settings.personas_dir))
        default = settings.voice_persona if settings.voice_persona in names else (names[0] if names else None)
        return (
            gr.update(choices=names, value=default),
            gr.update(choices=[DEFAULT, *services.resources().models.available()], value=DEFAULT),
            persona_description(default or "", settings.personas_dir),
        )

    demo.load(pickers, outputs=[persona, model, description])
    persona.change(lambda name: persona_description(name or "", services.resources().settings.personas_dir),
                   inputs=[persona], outputs=[description])  # fmt: skip

    async def turn(path: str | None, text: str, session_id: str, persona_name: str | None, voice_name: str,
                   model_spec: str, shown: list):  # fmt: skip
        # outputs: recording, typed, transcript, reply, output, latency, history, status
        if not path and not (text or "").strip():
            yield *[gr.update()] * 7, "Record, upload or type a turn first."
            return
        service = services.voice()
        limit = services.resources().settings.max_audio_bytes
        state: dict[str, Any] = {"transcript": "", "reply": "", "audio": None, "latency": latency_markdown({})}
        notices: list[str] = []

        def view(status_text: Any) -> tuple:
            return (None if path else gr.update(), "" if not path else gr.update(), state["transcript"],
                    state["reply"], state["audio"], state["latency"], shown, status_text)  # fmt: skip

        try:
            data: bytes | None = None
            if path:
                data = await asyncio.to_thread(read_recording, path, limit, demo.upload_file_set)
            else:
                state["transcript"] = text.strip()
                shown = [*shown, {"role": "user", "content": state["transcript"]}]
            yield view("_Listening…_" if path else "_Answering…_")
            request = VoiceTurn(
                session_id=session_id,
                audio=data,
                audio_format=audio_format(path) if path else None,
                text=None if path else text,
                persona=persona_name or None,
                model=None if model_spec == DEFAULT else model_spec,
                voice=voice_name,
                entry_point="ui",
            )
            async for event in service.stream(request):
                if isinstance(event, TranscriptionEvent):
                    state["transcript"] = event.text
                    shown = [*shown, {"role": "user", "content": event.text}]
                    yield view("_Answering…_")
                elif isinstance(event, TokenEvent):
                    state["reply"] += event.content
                    yield view("_Answering…_")
                elif isinstance(event, ResponseEvent):
                    state["reply"] = event.text
                    shown = [*shown, {"role": "assistant", "content": event.text}]
                    yield view("_Speaking…_")
                elif isinstance(event, NoticeEvent):
                    notices.append(f"ℹ️ {event.message}")
                    yield view("\n\n".join([*notices, "_Speaking…_"]))
                elif isinstance(event, AudioEvent):
                    raw = base64.b64decode(event.data)
                    state["audio"] = await asyncio.to_thread(playable, raw, event.format)
                elif isinstance(event, VoiceDoneEvent):
                    state["latency"] = latency_markdown(event.timings)
                    shown = chat_messages(await service.history(session_id))
                    models = event.models
                    served = " · ".join(f"{k} `{models[k]}`" for k in ("persona", "llm", "stt", "tts") if k in models)
                    yield view("\n\n".join([*notices, f"Answered · {served} · run `{event.run_id}`"]))
        except AudioError as exc:
            yield view(f"⚠️ Could not use that audio: {exc}")
        except SessionBusy:
            yield view("⚠️ This session is still answering; wait or press Stop.")
        except TimeoutError:
            yield view("⚠️ The turn took too long and was stopped.")
        except WorkbenchError as exc:
            yield view(f"⚠️ {exc}")
        except OSError:  # its message would name a server path
            yield view("⚠️ The turn could not be completed; try again, or record or upload the audio again.")
        else:
            return
        shown = chat_messages(await service.history(session_id))  # drop what the failed turn showed
        yield view(gr.update())

    inputs = [recording, typed, session, persona, voice, model, history]
    outputs = [recording, typed, transcript, reply, output, latency, history, status]
    on_send = send.click(turn, inputs, outputs)
    on_submit = typed.submit(turn, inputs, outputs)
    stop.click(lambda: "Stopped.", outputs=[status], cancels=[on_send, on_submit])
    new_session.click(
        lambda: (uuid.uuid4().hex, [], "", "", None, latency_markdown({}), "New session."),
        outputs=[session, history, transcript, reply, output, latency, status],
        cancels=[on_send, on_submit],
    )

"""The voice graph: transcribe → respond → synthesize.

``transcribe`` checks and decodes the recording and runs speech to text (or takes a typed turn); ``respond``
streams the persona's answer from the chat models, optionally grounded on the chat collection, and (pipelined,
the default) starts speaking each sentence as soon as the model has finished it; ``synthesize`` finishes the
speech and joins it into one clip. Each sentence's audio is emitted as soon as it exists. The session's history is
capped and restarts after an idle TTL. Every turn is logged to DuckDB with its stage timings and engines.

Neither the recording nor the spoken reply is ever checkpointed: ``audio`` and ``speech`` are untracked channels
(see :mod:`graphs.voice_state`), so they reach the client in the run's stream and are gone when the run ends; the
run log records audio only as its size and SHA-256 (:mod:`workbench.runlog.redact`).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from collections.abc import Sequence

from langchain_core.callbacks.manager import adispatch_custom_event
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
)
from langgraph.config import get_stream_writer
from langgraph.graph import START
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.runtime import Runtime

from graphs.context import clients
from graphs.voice_state import VoiceContext, VoiceInput, VoiceState
from workbench.citations import format_context
from workbench.documents import RetrievedDoc
from workbench.reported_errors import reports_errors
from workbench.resources import Resources
from workbench.runlog.callback import RUNLOG_EVENT
from workbench.runlog.steps import step
from workbench.voice.audio import AudioError, decode_audio, decode_base64
from workbench.voice.personas import Persona, get_persona
from workbench.voice.private_input import PrivateInputGraph
from workbench.voice.speaker import Speaker, Speakers
from workbench.voice.tts import check_voice

RESPOND = "respond"
SPEAKERS = Speakers()
"""Speakers started by ``respond`` and finished by ``synthesize``, by turn id (nodes of a run share a process)."""


def _persona(ctx: VoiceContext, resources: Resources) -> Persona:
    settings = resources.settings
    return get_persona(ctx.persona or settings.voice_persona, settings.personas_dir)


def check_context(ctx: VoiceContext, resources: Resources) -> Persona:
    """The run's persona, once the persona, voice and model it names are known to be on offer: anything else raises
    :class:`~workbench.errors.ConfigurationError` (or ``ProviderUnavailable`` for a cloud model that is not
    configured) before a model runs (a voice is a name, never a path)."""
    persona = _persona(ctx, resources)
    if ctx.voice is not None:
        check_voice(ctx.voice, resources.settings)
    if ctx.model is not None:
        resources.models.check(ctx.model)
    return persona


def _first_kept(messages: Sequence[BaseMessage], keep: int) -> int:
    """Index of the first of at most ``keep`` last messages, moved forward to a human message."""
    start = max(0, len(messages) - keep)
    while start < len(messages) - 1 and not isinstance(messages[start], HumanMessage):
        start += 1
    return start


def _capped(messages: list[AnyMessage], keep: int) -> list[RemoveMessage]:
    """Removals that leave at most ``keep`` messages, starting on a human message."""
    return [RemoveMessage(id=m.id) for m in messages[: _first_kept(messages, keep)] if m.id]


def _interrupted_turn(messages: Sequence[BaseMessage], interrupted: dict[str, str] | None) -> list[BaseMessage]:
    """The turn the user spoke over, as the history keeps it: what they said and the part of the reply they heard.
    A stopped run may or may not have saved its human message; the reply was never saved."""
    if not interrupted:
        return []
    said = interrupted["transcript"]
    saved = bool(messages) and isinstance(messages[-1], HumanMessage) and messages[-1].content == said
    human = [] if saved else [HumanMessage(said)]
    spoken = interrupted.get("spoken", "").strip()
    reply = [AIMessage(spoken, response_metadata={"interrupted": True})] if spoken else []
    return [*human, *reply]


def _grounded(ctx: VoiceContext, persona: Persona) -> bool:
    return persona.grounded if ctx.grounded is None else ctx.grounded


def _search(ctx: VoiceContext, resources: Resources, persona: Persona, query: str) -> list[RetrievedDoc]:
    return resources.store.search(ctx.collection or resources.settings.collection, query, persona.top_k)


def _kept(persona: Persona, resources: Resources) -> int:
    """Messages a session keeps: the persona's own limit, else the server's."""
    return persona.max_history or resources.settings.voice_max_history


def _reply_prompt(
    persona: Persona, resources: Resources, docs: list[RetrievedDoc] | None, messages: Sequence[BaseMessage]
) -> list[BaseMessage]:
    """What the model reads for a reply: the persona's instructions (and the passages ``docs`` when grounded),
    then the recent history up to the user's turn, from a human message. The one builder of it: a reply begun
    ahead is used only when the turn's prompt is the same, token for token."""
    system = persona.system_prompt if docs is None else f"{persona.system_prompt}\n\n{format_context(docs)}"
    recent = messages[_first_kept(messages, _kept(persona, resources) - 1) :]
    return [SystemMessage(system), *recent]


def _spoken(model: BaseChatModel, persona: Persona) -> BaseChatModel:
    """``model`` with the persona's temperature and reply length, where the model has those knobs."""
    knobs = {"temperature": persona.temperature, "max_tokens": persona.max_tokens}
    fields = type(model).model_fields
    return model.model_copy(update={k: v for k, v in knobs.items() if k in fields and v is not None})


def think_ahead(
    ctx: VoiceContext,
    resources: Resources,
    history: Sequence[BaseMessage],
    said: str,
    interrupted: dict[str, str] | None,
    halt: threading.Event,
) -> int:
    """Begin the reply ``respond`` would write if the user's turn ended now, having said ``said`` after
    ``history`` (the session's messages) and ``interrupted`` (the turn they spoke over, if any), on a model that
    can begin one ahead (the local models: see :meth:`~workbench.providers.llm_local.LlamaCppChatModel.think_ahead`);
    when the turn does end so, its reply starts from there. Nothing is written or sent. Blocking: run it in a
    thread. The tokens begun (0: a model that cannot, or ``halt`` set meanwhile)."""
    persona = _persona(ctx, resources)
    choice = resources.models.choose(ctx.model or persona.model, "voice")
    model = _spoken(choice.model, persona)
    begin = getattr(model, "think_ahead", None)
    if not callable(begin):
        return 0
    docs = _search(ctx, resources, persona, said) if _grounded(ctx, persona) else None
    messages = [*history, *_interrupted_turn(history, interrupted), HumanMessage(said)]
    return int(begin(_reply_prompt(persona, resources, docs, messages), halt))


async def transcribe(state: VoiceState, runtime: Runtime[VoiceContext]) -> dict:
    """Speech to text (or the typed text), as the turn's human message."""
    started = time.time()
    ctx = runtime.context
    resources = clients(runtime)
    settings = resources.settings
    timings: dict[str, float] = {}
    models: dict[str, str] = {}
    notes: list[str] = []
    await asyncio.to_thread(check_context, ctx, resources)
    recording = state.get("audio")
    if recording is not None:
        data = decode_base64(recording)
        audio = await asyncio.to_thread(
            decode_audio,
            data,
            state.get("audio_format"),
            max_bytes=settings.max_audio_bytes,
            max_seconds=settings.max_audio_s,
        )
        stt = await asyncio.to_thread(resources.speech.stt, ctx.stt_model)
        heard = {"workbench.speech.direction": "stt", "workbench.speech.audio_ms": round(audio.duration_s * 1000)}
        with step("speech", "speech_to_text", heard) as span:
            transcript = await asyncio.to_thread(stt.transcribe, audio)
            span.set("workbench.speech.model", transcript.model).set(
                "workbench.speech.characters", len(transcript.text)
            )
        if not transcript.text:
            raise AudioError("no_speech", f"no speech was recognised in {audio.duration_s:.1f} s of audio")
        text = transcript.text
        timings |= {"audio_s": round(audio.duration_s, 3), "stt_s": round(transcript.elapsed_s, 3)}
        models["stt"] = transcript.model
        if transcript.note:
            notes.append(transcript.note)
        get_stream_writer()(
            {
                "type": "transcription",
                "text": text,
                "language": transcript.language,
                "duration_s": round(audio.duration_s, 3),
                "model": transcript.model,
            }
        )
    elif (state.get("text") or "").strip():
        text = (state.get("text") or "").strip()
        if streamed := state.get("heard"):
            timings |= {key: streamed[key] for key in ("audio_s", "stt_s", "transcript_s")}
            models["stt"] = streamed["model"]
            written = {"text": text, "language": streamed.get("language"), "duration_s": streamed["audio_s"]}
            get_stream_writer()({"type": "transcription", **written, "model": streamed["model"]})
    else:
        raise AudioError("empty_audio", "a voice turn needs 'audio' (base64) or 'text'")
    ttl = settings.voice_session_ttl_s
    expired = bool(state.get("messages")) and started - state.get("last_active", started) > ttl
    reset: list[BaseMessage] = [RemoveMessage(id=REMOVE_ALL_MESSAGES)] if expired else []
    earlier = [] if expired else _interrupted_turn(state.get("messages") or [], state.get("interrupted"))
    await adispatch_custom_event(RUNLOG_EVENT, {"input": text, "session_expired": expired})
    return {
        "messages": [*reset, *earlier, HumanMessage(text)],
        "transcript": text,
        "audio": None,  # inputs are consumed: the recording is not kept, and the next turn starts clean
        "text": None,
        "heard": None,
        "interrupted": None,
        "started_at": started,
        "turn_id": uuid.uuid4().hex,
        "timings": timings,
        "models": models,
        "notes": notes,
        "reply": "",
        "speech": "",
    }


async def respond(state: VoiceState, runtime: Runtime[VoiceContext]) -> dict:
    """Stream the persona's answer over the capped history (and the retrieved context when grounded)."""
    ctx = runtime.context
    resources = clients(runtime)
    persona = await asyncio.to_thread(_persona, ctx, resources)
    choice = await asyncio.to_thread(resources.models.choose, ctx.model or persona.model, "voice")
    await adispatch_custom_event(RUNLOG_EVENT, {"model": choice.spec})  # an aborted turn names it too
    docs = None
    if _grounded(ctx, persona):
        query = state.get("transcript", "")
        docs = await asyncio.to_thread(_search, ctx, resources, persona, query)
        get_stream_writer()({"type": "retrieval", "documents": docs, "query": query})
    prompt = _reply_prompt(persona, resources, docs, state["messages"])
    model = _spoken(choice.model, persona)
    runnable = model.with_fallbacks([choice.fallback]) if choice.fallback is not None else model
    speaker: Speaker | None = None
    if ctx.speak and ctx.pipeline:  # speak finished sentences while the model writes the next ones
        tts = await asyncio.to_thread(resources.speech.tts, ctx.voice or persona.voice)
        speaker = Speaker(tts, get_stream_writer(), state.get("started_at", time.time()))
    started = time.perf_counter()
    first_token: float | None = None
    parts: list[str] = []
    ahead = 0.0
    try:
        async for chunk in runnable.astream(prompt):
            if not isinstance(chunk, AIMessageChunk):
                continue
            ahead = chunk.response_metadata.get("ahead_s") or ahead  # on the last chunk of a reply begun ahead
            if isinstance(chunk.content, str) and chunk.content:
                first_token = first_token or time.perf_counter()
                parts.append(chunk.content)
                if speaker is not None:
                    speaker.feed(chunk.content)
    except BaseException:
        if speaker is not None:
            speaker.cancel()
        raise
    done = time.perf_counter()
    text = "".join(parts).strip()
    if speaker is not None:
        speaker.flush()
        SPEAKERS.put(state.get("turn_id", ""), speaker)
    reply = AIMessage(text, response_metadata={"model_name": choice.spec, "persona": persona.name})
    get_stream_writer()({"type": "response", "text": text})
    timings = {
        **state.get("timings", {}),
        "llm_ttft_s": round((first_token or done) - started, 3),
        "llm_s": round(done - started, 3),
    }
    if ahead:  # seconds the model spent on the reply before the turn ended (begun at the user's pause)
        timings["llm_ahead_s"] = ahead
    return {
        "messages": [*_capped([*state["messages"], reply], _kept(persona, resources)), reply],
        "reply": text,
        "timings": timings,
        "models": {**state.get("models", {}), "llm": choice.spec, "persona": persona.name},
        "last_active": time.time(),
    }


async def synthesize(state: VoiceState, runtime: Runtime[VoiceContext]) -> dict:
    """Finish speaking the reply (started by ``respond`` when pipelined) and join the sentences into one clip."""
    ctx = runtime.context
    resources = clients(runtime)
    timings = dict(state.get("timings", {}))
    models = dict(state.get("models", {}))
    notes = list(state.get("notes", []))
    reply = state.get("reply", "")
    speaker = SPEAKERS.take(state.get("turn_id"))
    if speaker is None and ctx.speak and reply:
        persona = await asyncio.to_thread(_persona, ctx, resources)
        tts = await asyncio.to_thread(resources.speech.tts, ctx.voice or persona.voice)
        speaker = Speaker(tts, get_stream_writer(), state.get("started_at", time.time()))
        speaker.feed(reply)
    speech, speech_format = "", ""
    if speaker is not None:
        await speaker.finish()
        notes.extend(speaker.notes)
        if speaker.parts:
            speech, speech_format = base64.b64encode(speaker.audio).decode(), speaker.format
            models["tts"] = speaker.voice
            timings |= {"tts_s": round(speaker.tts_s, 3), "speech_s": round(speaker.speech_s, 3)}
            timings["first_audio_s"] = speaker.first_audio_s or 0.0
    timings["total_s"] = round(time.time() - state.get("started_at", time.time()), 3)
    await adispatch_custom_event(
        RUNLOG_EVENT,
        {
            "model": models.get("llm"),
            **timings,
            "stt_model": models.get("stt"),
            "tts_voice": models.get("tts"),
            "persona": models.get("persona"),
            "pipelined": ctx.pipeline,
            "transcript": state.get("transcript", ""),
            "notes": notes,
        },
    )
    return {"speech": speech, "speech_format": speech_format, "timings": timings, "models": models, "notes": notes}


builder = PrivateInputGraph(VoiceState, context_schema=VoiceContext, input_schema=VoiceInput)
builder.add_node("transcribe", reports_errors(transcribe))
builder.add_node(RESPOND, reports_errors(respond))
builder.add_node("synthesize", reports_errors(synthesize))
builder.add_edge(START, "transcribe")
builder.add_edge("transcribe", RESPOND)
builder.add_edge(RESPOND, "synthesize")

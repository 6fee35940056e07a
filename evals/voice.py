"""``voice``: speech to text, text to speech and whole voice turns over ``datasets/speech`` plus round-trip clips.

Cases, in order: the recordings of ``datasets/speech`` that have a reference transcript
(``transcripts.jsonl``), the recordings without one (real-time factors only), then the round-trip sentences of
:data:`ROUND_TRIP`, spoken by :data:`SOURCE_VOICE` (Piper, offline) whatever the variant's voice, so that every
variant hears the same audio. Voice runs cannot be promoted (recordings are never kept), so there are no promoted
cases.

Per case:

- ``wer`` (when there is a reference) and ``stt_rtf``: the variant's ``stt_model`` transcribes the clip alone;
- ``tts_rtf``: the variant's ``tts_voice`` speaks the reference (else the transcript);
- with ``full_turn``, one whole turn through :class:`~workbench.turns.voice.VoiceService` with the clip as the
  user's audio (``entry_point="eval"``, logged in the DuckDB run log under the case's ``run_id``), whose stage
  timings become ``stt_s``, ``llm_ttft_s``, ``llm_s``, ``tts_s``, ``first_audio_s`` (end of input to the first
  reply audio) and ``total_s``.

A case passes when its WER is at most ``max_wer`` (without a reference: when something was recognised) and the
turn ran. ``setup`` loads and warms the engines (one short clip through each, one token from the model), so the
figures are those of a warm process, like a server's after start-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from graphs.voice import builder
from workbench.evals.suite import Case, CaseResult, Variant, mean, percentile
from workbench.evals.tracking import register_prompt
from workbench.events import VoiceDoneEvent
from workbench.resources import Resources
from workbench.runlog import RunLogCallback, get_runlog
from workbench.runtime import LocalRuntime
from workbench.settings import Settings
from workbench.turns.voice import VoiceService, VoiceTurn
from workbench.voice.audio import DecodedAudio, decode_audio
from workbench.voice.engines import SpeechEngines
from workbench.voice.metrics import word_error_rate
from workbench.voice.personas import Persona, get_persona
from workbench.voice.tts import PiperTTS, synthesize

SPEECH = Path(__file__).resolve().parents[1] / "datasets" / "speech"
AUDIO_SUFFIXES = (".flac", ".mp3", ".wav", ".ogg", ".webm")
SOURCE_VOICE = "piper/joe-us"
"""The voice that speaks the round-trip sentences (fixed: the variants' voices are what is measured)."""
ROUND_TRIP = (
    "The meeting has been moved to Thursday afternoon at half past three.",
    "Please remember to water the plants and feed the cat while I am away.",
    "What is the weather usually like in London in the spring?",
)
#: Per-case metric -> the run's metric (its percentile over the cases that have it).
PERCENTILES = {
    ("stt_rtf", 50): "stt_rtf_p50",
    ("tts_rtf", 50): "tts_rtf_p50",
    ("first_audio_s", 50): "first_audio_p50_s",
    ("first_audio_s", 95): "first_audio_p95_s",
    ("stt_s", 50): "stt_s_p50",
    ("llm_ttft_s", 50): "llm_ttft_p50_s",
    ("tts_s", 50): "tts_s_p50",
    ("total_s", 50): "total_p50_s",
}
TURN_TIMINGS = ("stt_s", "llm_ttft_s", "llm_s", "tts_s", "first_audio_s", "total_s")


def _references() -> dict[str, str]:
    rows = [json.loads(line) for line in (SPEECH / "transcripts.jsonl").read_text().splitlines() if line.strip()]
    return {row["file"]: row["text"] for row in rows}


def persona_label(persona: Persona) -> str:
    """Personas carry no version: their name and a short hash of the system prompt stand for one."""
    return f"{persona.name}-{hashlib.sha256(persona.system_prompt.encode()).hexdigest()[:8]}"


def graph_version() -> str:
    """Short hash of the voice graph's mermaid drawing: it changes when the graph's shape does."""
    drawing = builder.compile().get_graph().draw_mermaid()
    return hashlib.sha256(drawing.encode()).hexdigest()[:12]


class VoiceSuite:
    name = "voice"
    description = "Speech set and round-trip clips: WER, STT/TTS real-time factors, voice turn stage latencies"
    defaults: dict[str, Any] = {
        "stt_model": None,
        "tts_voice": None,
        "model": "extractive",
        "persona": None,
        "max_wer": 0.2,
        "full_turn": True,
    }
    """``None``: the process settings' ``stt_model``, ``tts_voice``, ``voice_persona``."""

    def __init__(self) -> None:
        self._service: VoiceService | None = None
        self._spoken: dict[tuple[str, str], tuple[bytes, str]] = {}

    def knobs(self, variant: Variant, settings: Settings) -> dict[str, Any]:
        knobs = {**self.defaults, **variant.params}
        knobs["stt_model"] = knobs["stt_model"] or settings.stt_model
        knobs["tts_voice"] = knobs["tts_voice"] or settings.tts_voice
        knobs["persona"] = knobs["persona"] or settings.voice_persona
        return knobs

    def cases(self, settings: Settings) -> list[Case]:
        """Recordings with a reference, recordings without one, then the round-trip sentences."""
        references = _references()
        clips = sorted(p.name for p in SPEECH.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        clips.sort(key=lambda name: name not in references)  # stable: referenced ones first
        cases = [
            Case(f"clip-{Path(name).stem}", {"file": name}, {"text": references[name]} if name in references else {})
            for name in clips
        ]
        cases += [
            Case(f"say-{n}", {"say": text, "voice": SOURCE_VOICE}, {"text": text})
            for n, text in enumerate(ROUND_TRIP, 1)
        ]
        return cases

    async def setup(self, resources: Resources, variant: Variant) -> dict[str, Any]:
        """Resolve and warm the engines and the model, register the persona's system prompt."""
        settings = resources.settings
        knobs = self.knobs(variant, settings)
        persona = get_persona(knobs["persona"], settings.personas_dir)
        speech = resources.speech
        stt = await asyncio.to_thread(speech.stt, knobs["stt_model"])
        tts = await asyncio.to_thread(speech.tts, knobs["tts_voice"])
        warm = await asyncio.to_thread(synthesize, tts, "Good morning.")
        audio = await asyncio.to_thread(_decode, warm.audio, warm.format, settings)
        await asyncio.to_thread(stt.transcribe, audio)
        model = knobs["model"] or persona.model or settings.llm
        choice = await asyncio.to_thread(resources.models.choose, model)
        if "max_tokens" in type(choice.model).model_fields:
            await choice.model.model_copy(update={"max_tokens": 1}).ainvoke([HumanMessage("Hi")])
        name, label = f"voice-persona-{persona.name}", persona_label(persona)
        uri = await asyncio.to_thread(register_prompt, settings, name, persona.system_prompt, label)
        return {
            "prompt_uris": [uri],
            "stt_model": knobs["stt_model"],
            "tts_voice": knobs["tts_voice"],
            "persona": persona.name,
            "persona_version": label,
            "stt_resolved": stt.name,
            "tts_resolved": tts.name,
            "model_resolved": choice.spec,
            "graph_version": graph_version(),
            "dataset_version": _dataset_version(),
        }

    async def run_case(self, case: Case, variant: Variant, resources: Resources) -> CaseResult:
        """Transcribe, speak, then (``full_turn``) one whole voice turn on the case's audio."""
        settings = resources.settings
        knobs = self.knobs(variant, settings)
        speech = resources.speech
        data, audio_format = await self._audio(case, speech)
        audio = await asyncio.to_thread(_decode, data, audio_format, settings)
        stt = await asyncio.to_thread(speech.stt, knobs["stt_model"])
        transcript = await asyncio.to_thread(stt.transcribe, audio)
        scores: dict[str, float] = {"audio_s": audio.duration_s, "stt_rtf": transcript.real_time_factor}
        reference = case.expected.get("text")
        if reference:
            scores["wer"] = word_error_rate(reference, transcript.text)
        detail: dict[str, Any] = {"reference": reference, "transcript": transcript.text, "stt": transcript.model}
        spoken_text = reference or transcript.text
        if spoken_text:
            tts = await asyncio.to_thread(speech.tts, knobs["tts_voice"])
            spoken = await asyncio.to_thread(synthesize, tts, spoken_text)
            scores["tts_rtf"] = spoken.real_time_factor
            detail["tts"] = spoken.voice
        recognised = scores["wer"] <= float(knobs["max_wer"]) if reference else bool(transcript.text)
        if not knobs["full_turn"]:
            return CaseResult(case.id, "pass" if recognised else "fail", scores, transcript.text, None, detail)
        run_id = str(uuid.uuid4())
        turn = VoiceTurn(
            session_id=f"eval-{case.id}-{run_id[:8]}",
            audio=data,
            audio_format=audio_format,
            persona=knobs["persona"],
            model=knobs["model"],
            voice=knobs["tts_voice"],
            stt_model=knobs["stt_model"],
            entry_point="eval",
        )
        done = VoiceDoneEvent()
        try:
            async for event in self._voice(resources).stream(turn, run_id):
                if isinstance(event, VoiceDoneEvent):
                    done = event
        except Exception as exc:  # the turn is logged (error or timed out) under run_id
            error = f"{type(exc).__name__}: {exc}"[:500]
            return CaseResult(case.id, "error", scores, transcript.text, run_id, detail, error)
        timings = done.timings
        scores |= {name: float(timings[name]) for name in TURN_TIMINGS if name in timings}
        detail |= {"reply": done.reply, "models": done.models, "notes": done.notes}
        return CaseResult(case.id, "pass" if recognised else "fail", scores, transcript.text, run_id, detail)

    def aggregate(self, results: list[CaseResult]) -> dict[str, float]:
        out: dict[str, float] = {}
        wer = mean(results, "wer")
        if wer is not None:
            out["wer"] = round(wer, 4)
            out["wer_cases"] = float(sum("wer" in r.metrics for r in results))
        for (metric, q), name in PERCENTILES.items():
            value = percentile([r.metrics[metric] for r in results if metric in r.metrics], q)
            if value is not None:
                out[name] = round(value, 4)
        return out

    async def _audio(self, case: Case, speech: SpeechEngines) -> tuple[bytes, str]:
        """The case's recording, or its sentence spoken by the source voice (synthesized once per process)."""
        if "file" in case.input:
            path = SPEECH / str(case.input["file"])
            return await asyncio.to_thread(path.read_bytes), path.suffix.lstrip(".").lower()
        tts = await asyncio.to_thread(speech.tts, str(case.input.get("voice") or SOURCE_VOICE))
        if isinstance(tts, PiperTTS):
            tts = await asyncio.to_thread(tts.steadied)  # the same clip on every run: WER compares across runs
        key = (tts.name, str(case.input["say"]))
        if key not in self._spoken:
            spoken = await asyncio.to_thread(synthesize, tts, key[1])
            self._spoken[key] = (spoken.audio, spoken.format)
        return self._spoken[key]

    def _voice(self, resources: Resources) -> VoiceService:
        """The voice service the turns run on: the real graph, sessions kept in memory only."""
        if self._service is None or self._service.resources is not resources:
            runtime = LocalRuntime(InMemorySaver(), resources=resources)
            self._service = VoiceService(resources, runtime, RunLogCallback(get_runlog()))
        return self._service


def _decode(data: bytes, audio_format: str | None, settings: Settings) -> DecodedAudio:
    return decode_audio(data, audio_format, max_bytes=settings.max_audio_bytes, max_seconds=settings.max_audio_s)


def _dataset_version() -> str:
    digest = hashlib.sha256((SPEECH / "transcripts.jsonl").read_bytes())
    for path in sorted(SPEECH.iterdir()):
        if path.suffix.lower() in AUDIO_SUFFIXES:
            digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    digest.update("\n".join(ROUND_TRIP).encode())
    return digest.hexdigest()[:12]


suite = VoiceSuite()

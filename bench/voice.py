"""Voice benchmark on the offline defaults (Whisper tiny.en, Piper joe-us): speech-to-text and text-to-speech
real-time factors, and end of input → first reply audio through ``VoiceService``, split by model.

    .venv/bin/python bench/voice.py [--turns 8] [--llm-turns 4] [--runs 3]
                                    [--models extractive,local/qwen2.5-coder-0.5b] [--pipeline on|off|both] [--json]

(a) STT: median over ``--runs`` of each clip's transcription time / its duration (RTF), on ``datasets/speech``
    and on Piper-synthesized sentences; WER where a reference exists (transcripts.jsonl, or the synthesized text).
(b) TTS: Piper's RTF over texts of different lengths, and its time to the first sentence of a paragraph.
(c) Voice turns: spoken questions (Piper WAVs) through ``VoiceService`` in-process, each turn in a fresh session.
    First audio = from handing the recording to the service to the first ``audio_chunk``; the speech-only part is
    end of input → transcription plus reply → first audio chunk; the LLM's own time (``llm_ttft_s``, ``llm_s`` of
    the turn's timings) is shown apart, and the ratio is first audio / speech-only (p50s). The first turn on fresh
    engines is the cold one (Whisper and Piper load in it; a local LLM already loaded in the process stays
    loaded) and is not in p50/p95; with few turns, p95 is the slowest turn.
The "seed" cloud stack (gTTS, Groq) is tried once each: here it is unreachable, so the time to fail is reported.
Model loading is timed separately, first thing in the process (imports included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.cli import QUIET_OFFLINE  # noqa: E402

for _key, _value in QUIET_OFFLINE.items():
    os.environ.setdefault(_key, _value)

from pydantic import SecretStr  # noqa: E402

from workbench.settings import Settings  # noqa: E402
from workbench.voice.audio import DecodedAudio, decode_audio  # noqa: E402
from workbench.voice.metrics import word_error_rate  # noqa: E402
from workbench.voice.stt import SpeechToText, local_stt  # noqa: E402
from workbench.voice.tts import TextToSpeech, piper_tts, synthesize  # noqa: E402

SPEECH = ROOT / "datasets" / "speech"
LOCAL_LLM = "local/qwen2.5-coder-0.5b"  # what offline "auto" answers voice turns with (WORKBENCH_VOICE_LOCAL_MODEL)
#: Spoken questions for the voice turns (synthesized with Piper, then transcribed again by the turn).
QUESTIONS = [
    "What is the capital of France?",
    "Can you tell me a short joke about computers?",
    "How long should I boil an egg?",
    "What is the weather usually like in London in the spring?",
]
#: Extra STT material with a known transcript: Piper speaking these sentences.
STT_SENTENCES = [
    "The meeting has been moved to Thursday afternoon at half past three.",
    "Please remember to water the plants and feed the cat while I am away.",
    "A quiet library is the best place to read a long novel on a rainy day.",
]
#: Piper RTF by text length.
TTS_TEXTS = {
    "2 words": "Good morning.",
    "12 words": "The meeting has been moved to Thursday afternoon at half past three.",
    "36 words": (
        "When you start the server for the first time, it creates a data folder in the current directory, indexes "
        "the sample documents and loads the speech models in the background, which takes about a minute."
    ),
    "4 sentences": (
        "Welcome back. Your next appointment is at ten in the morning with the dentist. After that, you have a "
        "free afternoon until the team dinner at seven. Remember to bring the slides for tomorrow's review."
    ),
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


@dataclass
class Clip:
    name: str
    audio: DecodedAudio
    reference: str | None
    data: bytes = b""


def decode(data: bytes, settings: Settings) -> DecodedAudio:
    return decode_audio(data, None, max_bytes=settings.max_audio_bytes, max_seconds=settings.max_audio_s)


def dataset_clips(settings: Settings) -> list[Clip]:
    references = {row["file"]: row["text"] for row in map(json.loads, (SPEECH / "transcripts.jsonl").open())}
    clips = []
    for path in sorted(SPEECH.iterdir()):
        if path.suffix in {".flac", ".mp3", ".wav", ".ogg", ".webm"}:
            data = path.read_bytes()
            clips.append(Clip(path.name, decode(data, settings), references.get(path.name), data))
    return clips


def spoken_clips(tts: TextToSpeech, texts: list[str], settings: Settings, prefix: str) -> list[Clip]:
    clips = []
    for n, text in enumerate(texts):
        data = synthesize(tts, text).audio
        clips.append(Clip(f"{prefix}{n + 1}", decode(data, settings), text, data))
    return clips


# --- model loading ------------------------------------------------------------------------------------------


def load_times(settings: Settings, models: list[str]) -> dict[str, float]:
    """Seconds to import and load each model from disk, fresh in this process."""
    from langchain_core.messages import HumanMessage

    from workbench.providers.llm import ModelRegistry

    out = {
        "whisper tiny.en": timed(local_stt(settings).load)[0],
        "piper joe-us": timed(piper_tts().load)[0],
    }
    registry = ModelRegistry(settings)
    for spec in (m for m in models if m.startswith("local/")):
        model = registry.choose(spec).model.model_copy(update={"max_tokens": 1})
        seconds, _ = timed(lambda model=model: model.invoke([HumanMessage("Hi")]))
        out[f"{spec.removeprefix('local/')} (load + 1-token reply)"] = seconds
    return out


# --- (a) speech to text ---------------------------------------------------------------------------------------


def stt_figures(stt: SpeechToText, clips: list[Clip], runs: int) -> list[dict[str, Any]]:
    rows = []
    for clip in clips:
        stt.transcribe(clip.audio)  # warm-up: the first decode of a shape is slower
        results = [stt.transcribe(clip.audio) for _ in range(runs)]
        elapsed = statistics.median(r.elapsed_s for r in results)
        text = results[-1].text
        rows.append(
            {
                "clip": clip.name,
                "audio_s": round(clip.audio.duration_s, 2),
                "elapsed_s": round(elapsed, 3),
                "rtf": round(elapsed / clip.audio.duration_s, 3),
                "wer": None if clip.reference is None else round(word_error_rate(clip.reference, text), 3),
                "text": text,
            }
        )
    return rows


def overall_rtf(rows: list[dict[str, Any]]) -> float:
    return sum(r["elapsed_s"] for r in rows) / sum(r["audio_s"] for r in rows)


# --- (b) text to speech ---------------------------------------------------------------------------------------


def tts_figures(tts: TextToSpeech, runs: int) -> list[dict[str, Any]]:
    rows = []
    synthesize(tts, "Warm up.")
    for label, text in TTS_TEXTS.items():
        elapsed, firsts, duration = [], [], 0.0
        for _ in range(runs):
            started = time.perf_counter()
            first: float | None = None
            duration = 0.0
            for speech in tts.stream(text):
                first = first if first is not None else time.perf_counter() - started
                duration += speech.duration_s
            elapsed.append(time.perf_counter() - started)
            firsts.append(first or 0.0)
        median = statistics.median(elapsed)
        rows.append(
            {
                "text": label,
                "chars": len(text),
                "speech_s": round(duration, 2),
                "elapsed_s": round(median, 3),
                "first_sentence_s": round(statistics.median(firsts), 3),
                "rtf": round(median / duration, 3),
            }
        )
    return rows


# --- (c) voice turns ------------------------------------------------------------------------------------------


def sentence_done_at(tokens: list[tuple[float, str]], sentence: str) -> float | None:
    """When the streamed reply first held all of ``sentence`` and something after it (the sentence was over)."""
    target = len(" ".join(sentence.split()))
    text = ""
    for at, piece in tokens:
        text += piece
        if len(" ".join(text.split())) > target or (len(" ".join(text.split())) == target and text[-1:].isspace()):
            return at
    return None


def pipeline_modes(choice: str) -> list[bool | None]:
    """The ``VoiceTurn.pipeline`` values to measure."""
    modes: dict[str, list[bool | None]] = {"on": [True], "off": [False], "both": [False, True]}
    return modes[choice]


async def voice_turns(
    settings: Settings, model: str, clips: list[Clip], turns: int, pipeline: bool | None = None
) -> dict[str, Any]:
    """``turns`` + 1 spoken turns on fresh engines; the first (cold) one is reported apart.

    Speech starts when the reply is complete (the ``response`` event) or, when the graph speaks while the model
    still writes (first audio before ``response``), when the tokens had completed the first spoken sentence.
    """
    from langgraph.checkpoint.memory import InMemorySaver

    from workbench.events import AudioChunkEvent, TokenEvent, VoiceDoneEvent
    from workbench.resources import Resources
    from workbench.runtime import LocalRuntime
    from workbench.turns.voice import VoiceService, VoiceTurn

    resources = Resources(settings)
    service = VoiceService(resources, LocalRuntime(InMemorySaver(), resources=resources))
    options: dict[str, Any] = {} if pipeline is None else {"pipeline": pipeline}
    records: list[dict[str, Any]] = []
    silent = 0
    sample = ""
    for n in range(turns + 1):
        clip = clips[n % len(clips)]
        turn = VoiceTurn(
            session_id=f"bench-{model}-{pipeline}-{n}",
            audio=clip.data,
            audio_format="wav",
            model=model,
            entry_point="bench",
            **options,
        )
        marks: dict[str, float] = {}
        tokens: list[tuple[float, str]] = []
        first_sentence = ""
        done = VoiceDoneEvent()
        started = time.perf_counter()
        async for event in service.stream(turn):
            now = time.perf_counter() - started
            kind = "token" if isinstance(event, TokenEvent) else str(getattr(event, "type", ""))
            if isinstance(event, TokenEvent):
                tokens.append((now, event.content))
            elif isinstance(event, AudioChunkEvent) and "audio_chunk" not in marks:
                first_sentence = event.text
            if kind in {"transcription", "response", "token", "audio_chunk"}:
                marks.setdefault(kind, now)
            elif isinstance(event, VoiceDoneEvent):
                marks["done"] = now
                done = event
        if "audio_chunk" not in marks:  # an empty reply: nothing to speak
            silent += 1
            continue
        first_audio, heard = marks["audio_chunk"], marks["transcription"]
        overlapped = first_audio < marks["response"]
        speaking_from = marks["response"]
        if overlapped:
            speaking_from = min(speaking_from, sentence_done_at(tokens, first_sentence) or speaking_from)
        records.append(
            {
                "first_audio_s": first_audio,
                "speech_only_s": heard + (first_audio - speaking_from),
                "stt_stage_s": heard,
                "llm_in_first_audio_s": speaking_from - heard,
                "first_sentence_tts_s": first_audio - speaking_from,
                "overlapped": overlapped,
                "total_s": marks["done"],
                "wer": word_error_rate(clip.reference or "", done.transcript or ""),
                "reply_words": len((done.reply or "").split()),
                **{f"graph_{key}": value for key, value in done.timings.items()},
            }
        )
        sample = sample or done.reply or ""
    cold, warm = records[0], records[1:]

    def p(key: str, q: float) -> float:
        return round(pct([r[key] for r in warm], q), 3)

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in warm if key in r), 3)

    return {
        "model": model,
        "pipeline": pipeline,
        "turns": len(warm),
        "silent_turns": silent,
        "overlapped_turns": sum(r["overlapped"] for r in warm),
        "first_audio_p50_s": p("first_audio_s", 0.5),
        "first_audio_p95_s": p("first_audio_s", 0.95),
        "speech_only_p50_s": p("speech_only_s", 0.5),
        "speech_only_p95_s": p("speech_only_s", 0.95),
        "ratio_first_audio_to_speech_only": round(p("first_audio_s", 0.5) / p("speech_only_s", 0.5), 2),
        "stt_stage_p50_s": med("stt_stage_s"),
        "first_sentence_tts_p50_s": med("first_sentence_tts_s"),
        "llm_in_first_audio_p50_s": med("llm_in_first_audio_s"),
        "llm_in_first_audio_p95_s": p("llm_in_first_audio_s", 0.95),
        "llm_ttft_p50_s": med("graph_llm_ttft_s"),
        "llm_p50_s": med("graph_llm_s"),
        "llm_p95_s": p("graph_llm_s", 0.95),
        "graph_stt_p50_s": med("graph_stt_s"),
        "graph_tts_p50_s": med("graph_tts_s"),
        "speech_p50_s": med("graph_speech_s"),
        "reply_words_p50": statistics.median(r["reply_words"] for r in warm),
        "transcript_wer_mean": round(statistics.mean(r["wer"] for r in warm), 3),
        "total_p50_s": p("total_s", 0.5),
        "cold_first_audio_s": round(cold["first_audio_s"], 3),
        "cold_llm_s": round(cold["graph_llm_s"], 3),
        "cold_extra_s": round(cold["first_audio_s"] - p("first_audio_s", 0.5), 3),
        "sample_reply": sample,
    }


# --- the seed cloud stack -------------------------------------------------------------------------------------


def seed_stack(settings: Settings, clip: Clip) -> list[dict[str, Any]]:
    """gTTS and Groq (chat and speech to text): the time each takes to fail (or answer) from here."""
    from langchain_core.messages import HumanMessage

    from workbench.providers.llm import DEFAULT_GROQ_MODEL, build_chat_model
    from workbench.voice.stt import CLOUD_DEFAULTS, CloudSTT
    from workbench.voice.tts import GoogleTTS

    keyed = settings.model_copy(update={"groq_api_key": settings.groq_api_key or SecretStr("bench-placeholder-key")})
    tries: dict[str, Callable[[], Any]] = {
        "gTTS (gtts/en)": lambda: next(iter(GoogleTTS("en", timeout_s=settings.tts_timeout_s).stream("Hello."))),
        f"Groq chat (groq/{DEFAULT_GROQ_MODEL})": lambda: build_chat_model(f"groq/{DEFAULT_GROQ_MODEL}", keyed).invoke(
            [HumanMessage("Hi")]
        ),
        f"Groq STT (groq/{CLOUD_DEFAULTS['groq']})": lambda: CloudSTT("groq", CLOUD_DEFAULTS["groq"], keyed).transcribe(
            clip.audio
        ),
    }
    rows = []
    for name, attempt in tries.items():
        started = time.perf_counter()
        try:
            attempt()
            outcome, detail = "reachable", "answered"
        except Exception as exc:
            outcome, detail = "unreachable", f"{type(exc).__name__}: {exc}".splitlines()[0][:110]
        rows.append(
            {"engine": name, "outcome": outcome, "time_s": round(time.perf_counter() - started, 2), "detail": detail}
        )
    return rows


# --- report ---------------------------------------------------------------------------------------------------


def label(row: dict[str, Any]) -> str:
    mode = {None: "", True: " (pipelined)", False: " (sequential)"}[row.get("pipeline")]
    return f"{row['model']}{mode}"


def print_report(figures: dict[str, Any]) -> None:
    print(f"Voice benchmark on the offline defaults ({os.cpu_count()} CPU cores; figures are noisy on shared cores)")
    print("\nModel loading (imports included, first thing in the process)")
    for name, seconds in figures["load_s"].items():
        print(f"  {name:40}{seconds:8.2f} s")

    print(f"\n(a) Speech to text, local/tiny.en, median of {figures['runs']} runs")
    print(f"  {'clip':14}{'audio s':>9}{'elapsed s':>11}{'RTF':>8}{'WER':>7}  transcript")
    for row in figures["stt"]:
        wer = "-" if row["wer"] is None else f"{row['wer']:.3f}"
        print(
            f"  {row['clip']:14}{row['audio_s']:9.2f}{row['elapsed_s']:11.3f}{row['rtf']:8.3f}{wer:>7}"
            f"  {row['text'][:60]}"
        )
    print(
        f"  RTF overall: recorded clips {figures['stt_rtf_recorded']:.3f},"
        f" Piper sentences {figures['stt_rtf_piper']:.3f}"
    )

    print(f"\n(b) Text to speech, piper/joe-us, median of {figures['runs']} runs")
    print(f"  {'text':12}{'chars':>7}{'speech s':>10}{'elapsed s':>11}{'1st sentence s':>16}{'RTF':>8}")
    for row in figures["tts"]:
        print(
            f"  {row['text']:12}{row['chars']:7}{row['speech_s']:10.2f}{row['elapsed_s']:11.3f}"
            f"{row['first_sentence_s']:16.3f}{row['rtf']:8.3f}"
        )

    print("\n(c) End of input -> first reply audio, through VoiceService (warm turns; cold first turn apart)")
    print(
        f"  {'model':30}{'turns':>6}{'first audio p50/p95':>21}{'speech-only p50/p95':>21}"
        f"{'LLM in it p50':>14}{'LLM ttft/total':>16}{'ratio':>7}{'cold 1st':>10}"
    )
    for row in figures["turns"]:
        print(
            f"  {label(row):30}{row['turns']:6}"
            f"{row['first_audio_p50_s']:13.2f} /{row['first_audio_p95_s']:6.2f}"
            f"{row['speech_only_p50_s']:13.2f} /{row['speech_only_p95_s']:6.2f}"
            f"{row['llm_in_first_audio_p50_s']:14.2f}"
            f"{row['llm_ttft_p50_s']:9.2f} /{row['llm_p50_s']:5.2f}"
            f"{row['ratio_first_audio_to_speech_only']:6.2f}x{row['cold_first_audio_s']:10.2f}"
        )
    print("  (seconds; ratio = first audio p50 / speech-only p50; LLM in it = the LLM's share of first audio)")
    for row in figures["turns"]:
        print(
            f"  {label(row)}: STT stage {row['stt_stage_p50_s']:.2f} s, first sentence TTS "
            f"{row['first_sentence_tts_p50_s']:.2f} s, LLM total p95 {row['llm_p95_s']:.2f} s,"
            f" reply {row['reply_words_p50']:.0f} words ({row['speech_p50_s']:.1f} s of speech, all of it in"
            f" {row['total_p50_s']:.2f} s), spoken while writing in {row['overlapped_turns']}/{row['turns']} turns,"
            f" transcript WER {row['transcript_wer_mean']:.3f}; cold first turn +{row['cold_extra_s']:.2f} s"
        )
    for row in figures["turns"]:
        base = next(
            (b for b in figures["turns"] if b["model"] == "extractive" and b["pipeline"] == row["pipeline"]), None
        )
        if base is not None and row is not base:
            p50 = row["first_audio_p50_s"] / base["first_audio_p50_s"]
            p95 = row["first_audio_p95_s"] / base["first_audio_p95_s"]
            print(f"  {label(row)} / extractive baseline, first audio: p50 x{p50:.2f}, p95 x{p95:.2f}")

    print("\nSeed cloud stack (not measurable here)")
    for row in figures["seed"]:
        print(f"  {row['engine']:40}{row['outcome']:>12} after {row['time_s']:5.2f} s  {row['detail']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--turns", type=int, default=8, help="warm voice turns with the extractive baseline")
    parser.add_argument("--llm-turns", type=int, default=4, help="warm voice turns with a real (slow) LLM")
    parser.add_argument("--runs", type=int, default=3, help="repetitions for the STT and TTS medians")
    parser.add_argument("--models", default=f"extractive,{LOCAL_LLM}", help="comma-separated LLM specs")
    parser.add_argument(
        "--pipeline",
        choices=("on", "off", "both"),
        default="both",
        help="speak while the LLM writes (on), after it (off), or measure both; where VoiceTurn has the option",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    with tempfile.TemporaryDirectory() as home:
        os.environ["WORKBENCH_HOME"] = home  # the run log of the voice turns goes there
        settings = Settings(home=Path(home), stt_model="local/tiny.en", tts_voice="piper/joe-us", llm="extractive")
        figures: dict[str, Any] = {"runs": args.runs, "cpu_count": os.cpu_count(), "load_s": {}}
        figures["load_s"] = {k: round(v, 2) for k, v in load_times(settings, models).items()}

        stt, tts = local_stt(settings), piper_tts()
        recorded = dataset_clips(settings)
        synthetic = spoken_clips(tts, STT_SENTENCES, settings, "piper-")
        figures["stt"] = stt_figures(stt, recorded, args.runs) + stt_figures(stt, synthetic, args.runs)
        figures["stt_rtf_recorded"] = round(overall_rtf(figures["stt"][: len(recorded)]), 3)
        figures["stt_rtf_piper"] = round(overall_rtf(figures["stt"][len(recorded) :]), 3)
        figures["tts"] = tts_figures(tts, args.runs)

        questions = spoken_clips(tts, QUESTIONS, settings, "question-")
        figures["turns"] = [
            asyncio.run(
                voice_turns(settings, model, questions, args.turns if model == "extractive" else args.llm_turns, mode)
            )
            for model in models
            for mode in pipeline_modes(args.pipeline)
        ]
        figures["seed"] = seed_stack(settings, questions[0])
        from workbench.runlog import get_runlog

        get_runlog().close()  # before its folder goes
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_report(figures)


if __name__ == "__main__":
    main()

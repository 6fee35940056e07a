"""Streaming voice benchmark: speech streamed into a real server's ``/ws/assistant`` at the pace of the audio (20 ms
frames), beside push-to-talk (the whole recording as one frame) in the same run, on the same warm server.

    .venv/bin/python bench/voice_stream.py [--rounds 3] [--model local/qwen2.5-coder-0.5b] [--set WORKBENCH_X=V]

Clips: the real recordings of ``datasets/speech`` and ``../shared/data/speech`` (identical files are streamed once)
and a few questions spoken by Piper (marked ``piper``), each in a fresh session, after 0.5 s and before 2.5 s of
silence. End of speech is where the server's VAD heard the last speech (``speech_stopped.at_s``), at the moment the
client sent that frame. Per streamed turn: end of speech → ``speech_stopped`` (the end-of-turn decision), → the
final transcript, → the first reply audio (``audio_chunk``), and whether the reply had been begun at the pause
(``done.timings.llm_ahead_s``: the model's seconds on it before the turn ended); partial lag: a partial's
arrival − when the audio it covers had been sent; false cut-offs: turns beyond the first in one clip (each clip is
one utterance); late ends: turns that ended only at the longest silence. Barge-in: a typed request for a long story
and, once its first sentence's audio has arrived, a clip streamed over it: stop latency from ``speech_started`` (the
detection) and from the first frame of speech sent (detection included) to ``interrupted``. Push-to-talk: end of
speech is sending the recording; first audio as above. The first turn of each kind warms the server and is left out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.cli import QUIET_OFFLINE  # noqa: E402

for _key, _value in QUIET_OFFLINE.items():
    os.environ.setdefault(_key, _value)

import numpy as np  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from tests.integration.conftest import running_server  # noqa: E402
from tests.microphone import Microphone, clip, final, is_done, silence  # noqa: E402
from workbench.settings import Settings  # noqa: E402
from workbench.voice.audio import wav_bytes  # noqa: E402
from workbench.voice.metrics import word_error_rate  # noqa: E402

SPEECH_DIRS = [ROOT / "datasets" / "speech", ROOT.parent / "shared" / "data" / "speech"]
LOCAL_LLM = "local/qwen2.5-coder-0.5b"
QUESTIONS = [
    "What is the capital of France?",
    "How long should I boil an egg?",
    "Can you tell me a short joke about computers?",
    "What is the weather usually like in London in the spring?",
]
STORY = "Tell me a long story about a fox and a crow, in at least ten sentences."


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def clips() -> list[tuple[str, np.ndarray, str | None, bytes]]:
    """(name, samples, reference transcript, encoded file) for every real clip, then Piper's questions."""
    found, seen = [], set()
    for folder in SPEECH_DIRS:
        references = {}
        if (folder / "transcripts.jsonl").is_file():
            for line in (folder / "transcripts.jsonl").read_text().splitlines():
                row = json.loads(line)
                references[row["file"]] = row["text"]
        for path in sorted(folder.glob("*.*")):
            if path.suffix not in (".flac", ".mp3", ".wav") or hashlib.sha256(path.read_bytes()).digest() in seen:
                continue
            seen.add(hashlib.sha256(path.read_bytes()).digest())
            found.append((path.name, clip(path), references.get(path.name), path.read_bytes()))
    from workbench.voice.audio import decode_audio
    from workbench.voice.tts import build_tts, synthesize

    tts = build_tts("piper/joe-us", Settings())
    for i, question in enumerate(QUESTIONS):
        data = synthesize(tts, question).audio
        samples = decode_audio(data, "wav", max_bytes=len(data), max_seconds=60).samples
        found.append((f"piper-{i}", samples, question, wav_bytes(samples, 16_000)))
    return found


def streamed_turn(url: str, samples: np.ndarray, model: str) -> dict[str, Any]:
    """One clip streamed at the pace of the audio; the turn measured is the clip's last (earlier ones were cut off
    mid-clip), up to its reply's first audio."""
    with connect(f"{url}/ws/assistant?session_id=s{time.monotonic_ns()}", max_size=None) as ws:
        mic = Microphone(ws)
        mic.start(model=model)
        mic.play(np.concatenate([silence(0.5), samples, silence(2.5)]))
        got: list[tuple[float, dict]] = []
        while not (got and not mic.sending and answered([m for _, m in got])):
            try:
                got.append(mic.receive(timeout=1.0))
            except TimeoutError:
                if not mic.sending:
                    break
        mic.wait()
    last = max((i for i, (_, m) in enumerate(got) if m.get("type") == "speech_stopped"), default=None)
    if last is None:
        return {"failed": [m for _, m in got][-3:]}
    stopped_at, stopped = got[last]
    after = got[last:]
    finals = [t for t, m in after if final(m)]
    chunks = [t for t, m in after if m.get("type") == "audio_chunk"]
    timings = next((m.get("timings", {}) for _, m in after if m.get("type") == "done"), {})
    if not finals or not chunks:
        return {"failed": [m for _, m in after][-3:]}
    end_of_speech = mic.sent_at(stopped["at_s"])
    return {
        "turns": sum(m.get("type") == "speech_started" for _, m in got),
        "end_of_turn_s": stopped_at - end_of_speech,
        "final_s": finals[0] - end_of_speech,
        "first_audio_s": chunks[0] - end_of_speech,
        "ahead_s": timings.get("llm_ahead_s", 0.0),
        "partial_lags": [t - mic.sent_at(m["until_s"]) for t, m in got if m.get("partial")],
        "transcript": " ".join(m["text"] for _, m in got if final(m)),
    }


def answered(messages: list[dict]) -> bool:
    """Whether the last turn heard so far has ended (its ``done``: its timings say how it was answered)."""
    stops = [i for i, m in enumerate(messages) if m.get("type") == "speech_stopped"]
    tail = messages[stops[-1] :] if stops else []
    return any(m.get("type") == "done" for m in tail)


def push_to_talk(url: str, data: bytes, model: str) -> float | None:
    query = f"session_id=p{time.monotonic_ns()}&stream_audio=true&model={model}"
    with connect(f"{url}/ws/assistant?{query}", max_size=None) as ws:
        mic = Microphone(ws)
        sent = time.perf_counter()
        ws.send(data)
        got = mic.until(lambda m: m.get("type") in ("audio_chunk", "done"))
        if got[-1][1].get("type") == "audio_chunk":
            ws.send(json.dumps({"type": "abort"}))
            mic.until(is_done)
    chunk = [t for t, m in got if m.get("type") == "audio_chunk"]
    return chunk[0] - sent if chunk else None


def barge_in(url: str, speech: np.ndarray, model: str) -> dict[str, float] | None:
    with connect(f"{url}/ws/assistant?session_id=b{time.monotonic_ns()}", max_size=None) as ws:
        mic = Microphone(ws)
        mic.start(model=model)
        ws.send(json.dumps({"type": "text", "content": STORY, "stream_audio": True, "model": model}))
        first = mic.until(lambda m: m.get("type") in ("audio_chunk", "done"))
        if first[-1][1].get("type") == "done":
            return None
        mic.play(np.concatenate([speech, silence(2.5)]))
        got = mic.until(lambda m: m.get("type") in ("interrupted", "done"))
        mic.until(is_done)
        mic.wait()
    started = [(t, m) for t, m in got if m.get("type") == "speech_started"]
    if got[-1][1].get("type") != "interrupted" or not started:
        return None
    interrupted_at = got[-1][0]
    return {
        "from_detection_s": interrupted_at - started[0][0],
        "from_speech_s": interrupted_at - mic.sent_at(started[0][1]["at_s"]),
    }


def summary(values: list[float]) -> dict[str, float | None]:
    return {"p50": pct(values, 0.5), "p95": pct(values, 0.95), "n": len(values)}


def run(rounds: int, model: str, settings: dict[str, str]) -> dict[str, Any]:
    material = clips()
    env = {"WORKBENCH_LLM": "auto", **settings}
    with tempfile.TemporaryDirectory() as home, running_server(Path(home), **env) as server:
        url = server.ws_url
        warm = material[-1]
        streamed_turn(url, warm[1], model)  # warms the stream path (VAD, Whisper, the model, Piper)
        push_to_talk(url, warm[3], model)
        turns: list[dict[str, Any]] = []
        talks: list[float] = []
        stops: list[dict[str, float]] = []
        for _ in range(rounds):
            for name, samples, reference, data in material:
                turn = streamed_turn(url, samples, model)
                turn["clip"] = name
                turn["wer"] = (
                    word_error_rate(reference, turn["transcript"]) if reference and "transcript" in turn else None
                )
                turns.append(turn)
                print(f"  stream {name:<14} {json.dumps({k: v for k, v in turn.items() if k != 'partial_lags'})}")
                first = push_to_talk(url, data, model)
                if first is not None:
                    talks.append(first)
                print(f"  push-to-talk {name:<8} first audio {first}")
            stop = barge_in(url, min((m[1] for m in material), key=len), model)
            print(f"  barge-in {stop}")
            if stop:
                stops.append(stop)
    ok = [t for t in turns if "failed" not in t]
    return {
        "model": model,
        "rounds": rounds,
        "settings": settings,
        "streamed": {
            "first_audio_s": summary([t["first_audio_s"] for t in ok]),
            "final_transcript_s": summary([t["final_s"] for t in ok]),
            "end_of_turn_s": summary([t["end_of_turn_s"] for t in ok]),
            "begun_ahead": sum(t["ahead_s"] > 0 for t in ok),
            "ahead_s": summary([t["ahead_s"] for t in ok if t["ahead_s"] > 0]),
            "partial_lag_s": summary([lag for t in ok for lag in t["partial_lags"]]),
            "false_cutoffs": sum(t["turns"] - 1 for t in ok),
            "late_ends": sum(t["end_of_turn_s"] > 1.2 for t in ok),
            "turns": len(turns),
            "failed": len(turns) - len(ok),
            "wer": {t["clip"]: t["wer"] for t in ok if t.get("wer") is not None},
        },
        "push_to_talk": {"first_audio_s": summary(talks)},
        "barge_in": {
            "from_detection_s": summary([s["from_detection_s"] for s in stops]),
            "from_speech_s": summary([s["from_speech_s"] for s in stops]),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=LOCAL_LLM)
    parser.add_argument("--set", action="append", default=[], metavar="WORKBENCH_X=VALUE",
                        help="a server setting, e.g. WORKBENCH_TURN_END_SILENCE_MS=400 (repeatable)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.rounds, args.model, dict(item.split("=", 1) for item in args.set))
    print(json.dumps(result, indent=2) if args.json else _table(result))


def _table(result: dict[str, Any]) -> str:
    def row(name: str, s: dict[str, Any]) -> str:
        p50, p95 = (f"{s[q]:.2f} s" if s[q] is not None else "-" for q in ("p50", "p95"))
        return f"  {name:<44} p50 {p50}  p95 {p95}  (n={s['n']})"

    streamed = result["streamed"]
    lines = [
        f"model {result['model']}, {result['rounds']} rounds, settings {result['settings'] or 'defaults'}",
        row("streamed: end of speech -> first audio", streamed["first_audio_s"]),
        row("streamed: end of speech -> final transcript", streamed["final_transcript_s"]),
        row("streamed: end of speech -> end of turn", streamed["end_of_turn_s"]),
        row("streamed: partial transcript lag", streamed["partial_lag_s"]),
        f"  replies begun at the pause {streamed['begun_ahead']} of {streamed['first_audio_s']['n']}",
        row("streamed: model time spent ahead of the end", streamed["ahead_s"]),
        f"  false cut-offs {streamed['false_cutoffs']}, late ends {streamed['late_ends']}, failed "
        f"{streamed['failed']} of {streamed['turns']}; WER {streamed['wer']}",
        row("push-to-talk: end of speech -> first audio", result["push_to_talk"]["first_audio_s"]),
        row("barge-in: speech_started -> interrupted", result["barge_in"]["from_detection_s"]),
        row("barge-in: speech sent -> interrupted", result["barge_in"]["from_speech_s"]),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

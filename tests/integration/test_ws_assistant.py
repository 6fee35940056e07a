"""/ws/assistant against a real server with the bundled speech models (faster-whisper tiny.en, Piper joe-us).

Every message the client receives is validated against protocols/assistant.schema.json.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.integration.conftest import ROOT, Server, running_server, validate_assistant_message
from tests.servers import wait_for_run
from workbench.settings import Settings
from workbench.voice.audio import decode_audio, wav_bytes
from workbench.voice.metrics import word_error_rate
from workbench.voice.tts import build_tts, synthesize

pytestmark = pytest.mark.integration

SPEECH = ROOT / "datasets" / "speech"
JFK = (SPEECH / "jfk.flac").read_bytes()
JFK_TEXT = json.loads((SPEECH / "transcripts.jsonl").read_text().splitlines()[0])["text"]
MAX_AUDIO_BYTES = 2_000_000
MAX_AUDIO_S = 12


@pytest.fixture(scope="module")
def voice_server(tmp_path_factory) -> Iterator[Server]:
    """Real speech models; the extractive answerer by default (turns pick fake/slow to test abort)."""
    env = {
        "WORKBENCH_LLM": "extractive",
        "WORKBENCH_MAX_AUDIO_BYTES": str(MAX_AUDIO_BYTES),
        "WORKBENCH_MAX_AUDIO_S": str(MAX_AUDIO_S),
    }
    with running_server(tmp_path_factory.mktemp("voice-home"), **env) as server:
        yield server


def receive(ws: ClientConnection, timeout: float = 120) -> dict:
    message = json.loads(ws.recv(timeout=timeout))
    validate_assistant_message(message)
    return message


def until_done(ws: ClientConnection) -> list[dict]:
    messages = []
    while True:
        message = receive(ws)
        messages.append(message)
        if message.get("type") == "done":
            return messages


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m.get("type") == kind]


def reply_text(messages: list[dict]) -> str:
    return "".join(m["content"] for m in messages if m.get("role") == "assistant")


def decoded_seconds(event: dict) -> float:
    data = base64.b64decode(event["data"])
    return decode_audio(data, event["format"], max_bytes=len(data), max_seconds=600).duration_s


def text_turn_works(ws: ClientConnection, session: str | None = None) -> None:
    """The socket (and session) is still usable: a typed turn gets a reply and audio."""
    ws.send(json.dumps({"type": "text", "content": "Which port does the server listen on?", "session_id": session}))
    messages = until_done(ws)
    assert messages[-1]["status"] == "ok", messages
    assert of_type(messages, "audio")


def test_jfk_recording_as_a_binary_frame_is_transcribed_answered_and_spoken(voice_server):
    with connect(f"{voice_server.ws_url}/ws/assistant?session_id=jfk-binary&format=flac", max_size=None) as ws:
        ws.send(JFK)
        messages = until_done(ws)

    kinds = [m.get("type", "token") for m in messages]
    order = [kinds.index("transcription"), kinds.index("token"), kinds.index("response"), kinds.index("audio")]
    assert order == sorted(order), kinds
    assert kinds[-1] == "done"

    transcript = of_type(messages, "transcription")[0]["text"]
    wer = word_error_rate(JFK_TEXT, transcript)
    print(f"\njfk.flac WER {wer:.3f}: {transcript!r}")
    assert wer <= 0.15, transcript

    reply = of_type(messages, "response")[0]["text"]
    assert reply and reply_text(messages).strip() == reply
    assert decoded_seconds(of_type(messages, "audio")[0]) > 1.0
    assert not of_type(messages, "audio_chunk"), "sentence audio is only sent when asked for"

    done = messages[-1]
    assert done["status"] == "ok" and done["transcript"] == transcript and done["reply"] == reply
    assert {"audio_s", "stt_s", "llm_ttft_s", "llm_s", "tts_s", "first_audio_s", "total_s"} <= done["timings"].keys()
    assert done["models"]["stt"] == "local/tiny.en" and done["models"]["tts"] == "piper/joe-us"

    run = wait_for_run(voice_server.home, done["run_id"])
    assert (run["graph"], run["entry_point"], run["status"]) == ("voice", "ws", "ok")
    assert run["input"] == transcript and run["output"] == reply
    assert run["model"] == "extractive" and run["session_id"] == "jfk-binary"
    metadata = run["metadata"] if isinstance(run["metadata"], dict) else json.loads(run["metadata"])
    assert metadata["audio_s"] == pytest.approx(11.0, abs=0.1)
    assert metadata["stt_model"] == "local/tiny.en" and metadata["tts_voice"] == "piper/joe-us"
    assert metadata["stt_s"] > 0 and metadata["first_audio_s"] >= metadata["stt_s"]


def test_base64_audio_with_sentence_streaming(voice_server):
    message = {"type": "audio", "data": base64.b64encode(JFK).decode(), "format": "flac", "stream_audio": True}
    with connect(f"{voice_server.ws_url}/ws/assistant", max_size=None) as ws:
        ws.send(json.dumps({**message, "session_id": "jfk-json"}))
        messages = until_done(ws)
    kinds = [m.get("type", "token") for m in messages]
    chunks = of_type(messages, "audio_chunk")
    assert chunks and [c["index"] for c in chunks] == list(range(len(chunks)))
    assert kinds.index("audio_chunk") < kinds.index("audio")
    whole = decoded_seconds(of_type(messages, "audio")[0])
    assert sum(decoded_seconds(c) for c in chunks) == pytest.approx(whole, 0.01)
    assert "country" in messages[-1]["transcript"].lower()


def test_round_trip_offline_voice_to_transcript(voice_server):
    sentence = "The quick brown fox jumps over the lazy dog near the river bank."
    speech = synthesize(build_tts("piper/joe-us", Settings()), sentence)
    with connect(f"{voice_server.ws_url}/ws/assistant?session_id=round-trip", max_size=None) as ws:
        ws.send(json.dumps({"type": "audio", "data": base64.b64encode(speech.audio).decode(), "format": "wav"}))
        messages = until_done(ws)
    transcript = of_type(messages, "transcription")[0]["text"]
    wer = word_error_rate(sentence, transcript)
    print(f"\nround trip WER {wer:.3f}: {transcript!r}")
    assert wer <= 0.2, transcript


def test_text_turns_keep_the_session_history_across_sockets(voice_server):
    with connect(f"{voice_server.ws_url}/ws/assistant?session_id=history") as ws:
        text_turn_works(ws)
    with connect(f"{voice_server.ws_url}/ws/assistant") as ws:
        ws.send(json.dumps({"type": "text", "content": "And the health endpoint?", "session_id": "history"}))
        done = until_done(ws)[-1]
    assert done["status"] == "ok" and done["session_id"] == "history"
    assert "stt" not in done["models"], "a typed turn does not run speech to text"
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    with sqlite3.connect(voice_server.home / "checkpoints.sqlite") as connection:
        state = SqliteSaver(connection).get({"configurable": {"thread_id": "history"}})
    assert state is not None
    assert [m.type for m in state["channel_values"]["messages"]] == ["human", "ai", "human", "ai"]
    assert not state["channel_values"].get("audio"), "the recording is not kept in the session"


def tone(seconds: float) -> bytes:
    t = np.arange(int(16_000 * seconds)) / 16_000
    return wav_bytes(0.2 * np.sin(2 * np.pi * 300 * t), 16_000)


BAD_AUDIO = {
    "empty": (b"", None, "empty_audio"),
    "garbage": (b"\x13\x37" * 4000, None, "invalid_audio"),
    "truncated wav": (tone(1.0)[:30], None, "invalid_audio"),
    "declared wav, is flac": (JFK, "wav", "audio_format_mismatch"),
    "too long": (tone(MAX_AUDIO_S + 1), "wav", "audio_too_long"),
    "too large": (b"RIFF" + bytes(MAX_AUDIO_BYTES), "wav", "audio_too_large"),
}


@pytest.mark.parametrize("name", list(BAD_AUDIO))
def test_bad_audio_gets_a_clear_error_and_the_session_survives(voice_server, name):
    data, declared, code = BAD_AUDIO[name]
    session = f"bad-{name.replace(' ', '-').replace(',', '')}"
    with connect(f"{voice_server.ws_url}/ws/assistant?session_id={session}", max_size=None) as ws:
        text_turn_works(ws)
        if name == "empty":
            ws.send(data)  # an empty binary frame
        else:
            payload = {"type": "audio", "data": base64.b64encode(data).decode(), "format": declared}
            ws.send(json.dumps({k: v for k, v in payload.items() if v is not None}))
        messages = until_done(ws)
        errors = of_type(messages, "error")
        assert [e["code"] for e in errors] == [code], messages
        assert errors[0]["message"] and "Traceback" not in errors[0]["message"]
        assert messages[-1]["status"] == "error"
        if errors[0]["run_id"]:
            run = wait_for_run(voice_server.home, errors[0]["run_id"])
            assert run["status"] == "error" and errors[0]["message"] in (run["error"] or ""), run["error"]
        text_turn_works(ws)
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    with sqlite3.connect(voice_server.home / "checkpoints.sqlite") as connection:
        state = SqliteSaver(connection).get({"configurable": {"thread_id": session}})
    assert state is not None and len(state["channel_values"]["messages"]) == 4, "both good turns are remembered"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "invalid_json"),
        (json.dumps({"type": "sing"}), "unknown_type"),
        (json.dumps({"type": "audio", "data": "AAAA", "format": "aac"}), "invalid_message"),
        (json.dumps({"type": "audio", "data": "!!not base64!!"}), "invalid_audio"),
        (json.dumps({"type": "text", "content": ""}), "invalid_message"),
        (json.dumps({"type": "abort"}), "nothing_to_abort"),
    ],
)
def test_malformed_messages_get_errors_and_the_socket_stays_open(voice_server, message, code):
    with connect(f"{voice_server.ws_url}/ws/assistant") as ws:
        ws.send(message)
        error = receive(ws)
        assert (error["type"], error["code"]) == ("error", code), error
        text_turn_works(ws)


def test_abort_mid_reply_stops_generation_and_speech_and_is_logged(voice_server):
    with connect(f"{voice_server.ws_url}/ws/assistant?session_id=abort") as ws:
        ws.send(json.dumps({"type": "text", "content": "Tell me a long story.", "model": "fake/slow"}))
        first = [receive(ws) for _ in range(3)]
        assert all(m.get("role") == "assistant" for m in first), first
        ws.send(json.dumps({"type": "abort"}))
        messages = until_done(ws)
        assert of_type(messages, "aborted") and messages[-1]["status"] == "aborted"
        assert not of_type(messages, "audio") and not of_type(messages, "response")
        run_id = messages[-1]["run_id"]
        text_turn_works(ws)
    run = wait_for_run(voice_server.home, run_id)
    assert run["status"] == "aborted" and run["output"].startswith("word0")


def test_disconnect_mid_reply_leaves_the_run_logged_as_aborted(voice_server):
    with connect(f"{voice_server.ws_url}/ws/assistant?session_id=gone") as ws:
        ws.send(json.dumps({"type": "text", "content": "Tell me a long story.", "model": "fake/slow"}))
        receive(ws)
        receive(ws)
    from workbench.runlog import recent_runs

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        runs = [r for r in recent_runs(voice_server.home / "runs.duckdb", limit=50) if r["session_id"] == "gone"]
        if runs and runs[0]["status"] != "running":
            break
        time.sleep(0.2)
    assert runs and runs[0]["status"] == "aborted"


def test_no_run_log_row_or_checkpoint_holds_a_recording_or_a_reply(tmp_path):
    """The bundled clips as a binary frame and as base64 JSON (sentence audio on), and a recording with no speech
    in it, on a server of their own: once it stops, neither its run log (DuckDB tables and crash journal, read raw
    and row by row) nor its checkpoints (read raw, row by row and through the checkpointer) hold any of the
    recordings or of the reply audio it sent; the failed recording is logged as its size and hash."""
    from tests.voice_traces import checkpointer_reads, leaks, raw_files, runlog_files, sent_audio, sqlite_rows

    mp3 = (SPEECH / "hotwords.mp3").read_bytes()
    silent = wav_bytes(np.random.default_rng(7).uniform(-1e-3, 1e-3, 640), 16_000)  # 1,324 bytes
    env = {"WORKBENCH_LLM": "extractive", "WORKBENCH_MAX_AUDIO_S": str(MAX_AUDIO_S)}
    with running_server(tmp_path, **env) as server:
        with connect(f"{server.ws_url}/ws/assistant?session_id=private&format=flac", max_size=None) as ws:
            ws.send(JFK)
            binary = until_done(ws)
        with connect(f"{server.ws_url}/ws/assistant", max_size=None) as ws:
            message = {"type": "audio", "data": base64.b64encode(mp3).decode(), "format": "mp3", "stream_audio": True}
            ws.send(json.dumps({**message, "session_id": "private"}))
            streamed = until_done(ws)
            ws.send(json.dumps({"type": "audio", "data": base64.b64encode(silent).decode(), "session_id": "private"}))
            failed = until_done(ws)
        assert binary[-1]["status"] == "ok" and streamed[-1]["status"] == "ok"
        assert [e["code"] for e in of_type(failed, "error")] == ["no_speech"], failed
        run = wait_for_run(server.home, of_type(failed, "error")[0]["run_id"])
    replies = sent_audio(binary) + sent_audio(streamed)
    assert len(replies) >= 3 and of_type(streamed, "audio_chunk"), "both turns were spoken"
    clips = [JFK, mp3, silent, *replies]

    checkpoints = server.home / "checkpoints.sqlite"
    read_back = checkpointer_reads(checkpoints)
    assert any(b"country" in blob for blob in read_back.values()), "the scan reads the session"
    assert leaks(sqlite_rows(checkpoints) | raw_files(checkpoints) | read_back, clips) == []
    logged = runlog_files(server.home / "runs.duckdb")
    assert sum(b"private" in blob for blob in logged.values()) >= 3, "the scan reads the three turns' rows"
    assert leaks(logged, clips) == []
    assert f'"bytes": {len(silent)}, "sha256": "{hashlib.sha256(silent).hexdigest()}"' in run["input"]

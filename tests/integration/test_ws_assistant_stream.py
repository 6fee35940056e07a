"""/ws/assistant's live microphone against a real server (Silero VAD, faster-whisper tiny.en, Piper joe-us): real
speech streamed at the pace of the audio gives partial transcripts, one final transcript and a spoken reply per
turn; speech during a reply interrupts it; bad frames get their codes and the socket goes on.

Every message the client receives is validated against protocols/assistant.schema.json.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import numpy as np
import pytest
from websockets.sync.client import connect

from tests.integration.conftest import ROOT, Server, running_server, validate_assistant_message
from tests.microphone import Microphone, clip, final, frames, is_done, silence
from tests.servers import wait_for_run
from workbench.voice.metrics import word_error_rate

pytestmark = pytest.mark.integration

SPEECH = ROOT / "datasets" / "speech"
JFK_TEXT = json.loads((SPEECH / "transcripts.jsonl").read_text().splitlines()[0])["text"]
MAX_AUDIO_S = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    env = {"WORKBENCH_LLM": "extractive", "WORKBENCH_MAX_AUDIO_S": str(MAX_AUDIO_S)}
    with running_server(tmp_path_factory.mktemp("stream-home"), **env) as started:
        yield started


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return clip(SPEECH / "jfk.flac")


@pytest.fixture(scope="module")
def hotwords() -> np.ndarray:
    return clip(SPEECH / "hotwords.mp3")


def microphone(ws) -> Microphone:
    return Microphone(ws, validate_assistant_message)


def types(messages: list[tuple[float, dict]]) -> list[str]:
    return [m.get("type", "token") for _, m in messages]


def of_type(messages: list[tuple[float, dict]], kind: str) -> list[dict]:
    return [m for _, m in messages if m.get("type") == kind]


def text_turn_works(mic: Microphone) -> None:
    mic.ws.send(json.dumps({"type": "text", "content": "Which port does the server listen on?"}))
    assert mic.until(is_done)[-1][1]["status"] == "ok"


def history(server: Server, session: str) -> list[tuple[str, str]]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    with sqlite3.connect(server.home / "checkpoints.sqlite") as connection:
        state = SqliteSaver(connection).get({"configurable": {"thread_id": session}})
    assert state is not None
    return [(m.type, m.content) for m in state["channel_values"]["messages"]]


def test_a_streamed_clip_gives_partials_one_final_transcript_a_reply_and_audio(server, jfk):
    with connect(f"{server.ws_url}/ws/assistant?session_id=stream-jfk", max_size=None) as ws:
        mic = microphone(ws)
        # An orator's pauses: 1.1 s after "And so my fellow Americans." (a whole sentence to Whisper); by default
        # a turn that ends a sentence ends after 0.5 s of silence, as in a conversation.
        mic.start(turn_end_silence_ms=1200)
        mic.play(np.concatenate([silence(0.5), jfk, silence(2.0)]))
        messages = mic.until(is_done)
        mic.wait()
    kinds = types(messages)
    assert kinds.count("speech_started") == 1 and kinds.count("speech_stopped") == 1, kinds
    partials = [m for m in of_type(messages, "transcription") if m.get("partial")]
    finals = [m for _, m in messages if final(m)]
    assert partials and len(finals) == 1, kinds
    assert kinds.index("speech_started") < kinds.index("transcription") < kinds.index("speech_stopped")
    assert any(word in partials[-1]["text"].lower() for word in ("americans", "country"))
    wer = word_error_rate(JFK_TEXT, finals[0]["text"])
    print(f"\nstreamed jfk WER {wer:.3f}: {finals[0]['text']!r}; {len(partials)} partials")
    assert wer <= 0.15, finals[0]["text"]
    order = [kinds.index("speech_stopped"), kinds.index("token"), kinds.index("audio_chunk"), kinds.index("audio")]
    assert order == sorted(order) and order[0] > kinds.index("transcription"), kinds
    done = messages[-1][1]
    assert done["status"] == "ok" and done["transcript"] == finals[0]["text"]
    assert done["timings"]["transcript_s"] >= 0 and done["timings"]["audio_s"] > 10
    assert done["models"]["stt"] == "local/tiny.en"
    run = wait_for_run(server.home, done["run_id"])
    assert (run["status"], run["entry_point"], run["input"]) == ("ok", "ws", finals[0]["text"])


def test_two_utterances_a_second_apart_are_two_turns(server, hotwords):
    with connect(f"{server.ws_url}/ws/assistant?session_id=stream-two", max_size=None) as ws:
        mic = microphone(ws)
        mic.start(speak=False)  # the first reply ends before the second utterance: no barge-in
        mic.play(np.concatenate([hotwords, silence(1.0), hotwords, silence(2.0)]))
        messages = mic.until(final)
        messages += mic.until(final)
        messages += mic.until(is_done)
        mic.wait()
    kinds = types(messages)
    assert kinds.count("speech_started") == 2 and kinds.count("speech_stopped") == 2, kinds
    finals = [m for _, m in messages if final(m)]
    assert len(finals) == 2 and all("comfy" in f["text"].lower() for f in finals), finals
    assert [d["status"] for d in of_type(messages, "done")] in (["ok", "ok"], ["interrupted", "ok"])


def test_speech_during_the_reply_interrupts_it_and_the_history_keeps_what_was_heard(server, hotwords):
    session = "stream-barge-in"
    with connect(f"{server.ws_url}/ws/assistant?session_id={session}", max_size=None) as ws:
        mic = microphone(ws)
        mic.start(model="fake/slow")  # a long reply, word by word
        mic.play(np.concatenate([hotwords, silence(2.0)]))
        before = mic.until(lambda m: m.get("role") == "assistant")  # the reply has begun
        assert not of_type(before, "done")
        mic.wait()
        mic.start()  # the next turn is answered by the server's default model
        mic.play(np.concatenate([hotwords, silence(2.0)]))
        during = mic.until(lambda m: m.get("type") == "interrupted")
        stopped = mic.until(is_done)
        after = mic.until(is_done)
        mic.wait()
    kinds = types(during)
    assert "speech_started" in kinds, kinds
    interrupted = during[-1][1]
    done = stopped[-1][1]
    assert (done["type"], done["status"], done["run_id"]) == ("done", "interrupted", interrupted["run_id"])
    assert not of_type(stopped, "audio") and not of_type(stopped, "response")
    assert interrupted["run_id"]
    assert after[-1][1]["status"] == "ok" and [m for _, m in after if final(m)], types(after)
    run = wait_for_run(server.home, interrupted["run_id"])
    assert run["status"] == "interrupted"
    said = history(server, session)
    assert [kind for kind, _ in said][-2:] == ["human", "ai"] and "comfy" in said[0][1].lower()
    spoken = done["spoken"]
    assert ("ai", spoken) in said if spoken else [k for k, _ in said].count("ai") == 1, said


def test_a_frame_before_stream_start_is_refused_and_the_socket_goes_on(server):
    with connect(f"{server.ws_url}/ws/assistant", max_size=None) as ws:
        mic = microphone(ws)
        ws.send(frames(silence(0.02))[0])
        _, error = mic.receive()
        assert (error["type"], error["code"]) == ("error", "stream_not_started"), error
        text_turn_works(mic)


@pytest.mark.parametrize(("start", "message"), [({"sample_rate": 44100}, "44100 Hz"), ({"format": "opus"}, "opus")])
def test_a_stream_that_is_not_16_khz_pcm_is_refused(server, start, message):
    with connect(f"{server.ws_url}/ws/assistant", max_size=None) as ws:
        mic = microphone(ws)
        mic.start(**start)
        _, error = mic.receive()
        assert (error["code"], message in error["message"]) == ("unsupported_format", True), error
        ws.send(frames(silence(0.02))[0])
        assert mic.receive()[1]["code"] == "stream_not_started", "no stream was started"
        text_turn_works(mic)


def test_bad_frames_and_a_turn_over_the_limit_get_errors_and_the_stream_goes_on(server, hotwords):
    with connect(f"{server.ws_url}/ws/assistant", max_size=None) as ws:
        mic = microphone(ws)
        mic.start(speak=False)
        ws.send(b"\x00" * 641)
        ws.send(b"\x00" * 20)
        assert [mic.receive()[1]["code"] for _ in range(2)] == ["invalid_frame", "invalid_frame"]
        long_turn = np.concatenate([hotwords] * 4)  # 16 s of speech with no pause long enough to end a turn
        mic.play(np.concatenate([long_turn, silence(2.0)]), realtime=False)
        refused = mic.until(lambda m: m.get("type") == "error")
        assert refused[-1][1]["code"] == "audio_too_long" and "12 s" in refused[-1][1]["message"]
        mic.wait()
        mic.play(np.concatenate([hotwords, silence(2.0)]))
        heard = mic.until(is_done)
        mic.wait()
        assert not of_type(heard, "error") and heard[-1][1]["status"] == "ok", types(heard)
        assert [m for _, m in heard if final(m)]
        text_turn_works(mic)


def test_nothing_streamed_or_spoken_is_stored(tmp_path, jfk):
    """A streamed turn on a server of its own: once it stops, neither its run log nor its checkpoints (read raw, row
    by row and through the checkpointer) hold any of the streamed audio or of the reply audio it sent."""
    from tests.voice_traces import checkpointer_reads, leaks, raw_files, runlog_files, sent_audio, sqlite_rows

    streamed = np.concatenate([silence(0.5), jfk, silence(2.0)])
    env = {"WORKBENCH_LLM": "extractive", "WORKBENCH_MAX_AUDIO_S": str(MAX_AUDIO_S)}
    with running_server(tmp_path, **env) as private, connect(f"{private.ws_url}/ws/assistant", max_size=None) as ws:
        mic = microphone(ws)
        mic.start(session_id="private-stream", turn_end_silence_ms=1200)  # the clip is one turn (see above)
        mic.play(streamed, realtime=False)
        messages = [m for _, m in mic.until(is_done)]
        mic.wait()
    assert messages[-1]["status"] == "ok" and sent_audio(messages), "the turn was answered and spoken"
    pcm = b"".join(frames(streamed))
    speech = b"".join(frames(jfk))
    clips = [pcm[len(pcm) // 4 : len(pcm) // 2], speech[: len(speech) // 3], *sent_audio(messages)]
    checkpoints = private.home / "checkpoints.sqlite"
    read_back = checkpointer_reads(checkpoints)
    assert any(b"country" in blob for blob in read_back.values()), "the scan reads the session"
    assert leaks(sqlite_rows(checkpoints) | raw_files(checkpoints) | read_back, clips) == []
    logged = runlog_files(private.home / "runs.duckdb")
    assert any(b"private-stream" in blob for blob in logged.values()), "the scan reads the turn's row"
    assert leaks(logged, clips) == []

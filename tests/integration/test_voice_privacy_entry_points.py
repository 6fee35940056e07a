"""Recordings and spoken replies are never stored, on the entry points beside ``/ws/assistant`` (tested in
test_ws_assistant.py): ``workbench transcribe``, the voice eval and ``langgraph dev``'s voice graph, each with the
bundled clips of ``datasets/speech`` and a recording with no speech in it. The run log (DuckDB tables and crash
journal) and the checkpoints are read raw and row by row (see tests/voice_traces.py)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph_sdk import get_client

from tests.integration.conftest import ROOT, dev_server, run_cli
from tests.voice_traces import leaks, raw_files, runlog_files, sent_audio, traces
from workbench.voice.audio import wav_bytes

pytestmark = pytest.mark.integration

SPEECH = ROOT / "datasets" / "speech"
CLIPS = [(SPEECH / "jfk.flac").read_bytes(), (SPEECH / "hotwords.mp3").read_bytes()]
SILENT = wav_bytes(np.random.default_rng(7).uniform(-1e-3, 1e-3, 640), 16_000)
"""1,324 bytes of faint noise: no speech in it (base64, short enough to have been logged whole)."""


def home_files(home: Path) -> dict[str, bytes]:
    """Every file under ``home``, raw."""
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def clip_leaks(stored: dict[str, bytes], clips: list[bytes]) -> list[str]:
    """Traces of ``clips`` only (no header check: files other than the run log may hold audio headers legitimately,
    e.g. a model's own files)."""
    return [f"{name}: a trace of clip {i}" for name, blob in stored.items() for i, c in enumerate(clips)
            for t in traces(c) if t in blob]  # fmt: skip


def test_workbench_transcribe_leaves_no_trace_of_the_recordings(tmp_path):
    home = tmp_path / "home"
    silent = tmp_path / "silent.wav"
    silent.write_bytes(SILENT)
    heard = run_cli(home, "transcribe", str(SPEECH / "jfk.flac"), WORKBENCH_STT_MODEL="local/tiny.en")
    assert heard.returncode == 0 and "country" in heard.stdout.lower(), heard.stderr
    quiet = run_cli(home, "transcribe", str(silent), WORKBENCH_STT_MODEL="local/tiny.en")
    assert "no speech was recognised" in quiet.stderr
    stored = home_files(home) if home.exists() else {}
    assert clip_leaks(stored, [CLIPS[0], SILENT]) == []
    if (home / "runs.duckdb").exists():
        assert leaks(runlog_files(home / "runs.duckdb"), [CLIPS[0], SILENT]) == []


def test_the_voice_eval_logs_no_recording_or_reply(tmp_path):
    home = tmp_path / "home"
    done = run_cli(home, "eval", "voice", "--limit", "2", timeout=900, unset=("MLFLOW_TRACKING_URI",))
    assert done.returncode == 0, done.stderr[-3000:]
    logged = runlog_files(home / "runs.duckdb")
    assert any(b"'eval'" in blob for blob in logged.values()), "the eval's turns are in the run log"
    assert leaks(logged, CLIPS) == []  # the audio headers are looked for too: no reply audio either
    assert clip_leaks(home_files(home), CLIPS) == []


async def test_langgraph_dev_voice_turns_leave_no_recording_or_reply_in_checkpoints_or_the_run_log(tmp_path):
    home, workdir = tmp_path / "home", tmp_path / "workdir"
    home.mkdir()
    workdir.mkdir()
    replies: list[bytes] = []
    with dev_server(home, workdir, {"WORKBENCH_HOME": str(home), "WORKBENCH_LLM": "extractive"}) as url:
        client = get_client(url=url)
        thread = await client.threads.create()
        outcomes = []
        for recording, fmt in [(CLIPS[0], "flac"), (SILENT, "wav")]:
            custom: list[dict[str, Any]] = []
            final: dict[str, Any] = {}
            errors: list[Any] = []
            async for part in client.runs.stream(
                thread["thread_id"], "voice",
                input={"audio": base64.b64encode(recording).decode(), "audio_format": fmt, "text": None},
                stream_mode=["custom", "values"],
            ):  # fmt: skip
                if part.event == "error":
                    errors.append(part.data)
                elif part.event == "custom":
                    custom.append(part.data)
                elif part.event == "values":
                    final = part.data
            outcomes.append("error" if errors else "ok")
            replies += sent_audio(custom) + ([base64.b64decode(final["speech"])] if final.get("speech") else [])
        assert outcomes == ["ok", "error"]
        assert len(replies) >= 2, "the reply was spoken, sentence by sentence and whole"
        state = await client.threads.get_state(thread["thread_id"])
        assert "country" in state["values"]["transcript"].lower() and not state["values"].get("speech")
    checkpoints = {name: blob for name, blob in raw_files(*(workdir / ".langgraph_api").iterdir()).items()
                   if name.startswith(".langgraph_checkpoint")}  # fmt: skip
    assert checkpoints, "the dev server saved the thread's checkpoints as it stopped"
    clips = [CLIPS[0], SILENT, *replies]
    assert leaks(checkpoints, clips) == []
    logged = runlog_files(home / "runs.duckdb")
    assert sum(thread["thread_id"].encode() in blob for blob in logged.values()) >= 2, "both turns were logged"
    assert leaks(logged, clips) == []

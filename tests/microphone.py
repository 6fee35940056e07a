"""A live microphone for ``/ws/assistant`` in tests and benchmarks: a clip's 16 kHz ``pcm_s16le`` frames sent from
a thread at the pace of the audio (or as fast as the socket takes them), while the caller reads the server's
events, each stamped with the moment it arrived."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from websockets.sync.client import ClientConnection

from workbench.voice.audio import decode_audio

RATE = 16_000
FRAME_MS = 20


def clip(path: Path) -> np.ndarray:
    """A recording as 16 kHz mono float samples."""
    data = path.read_bytes()
    return decode_audio(data, None, max_bytes=len(data), max_seconds=600).samples


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(RATE * seconds), dtype=np.float32)


def frames(samples: np.ndarray, ms: int = FRAME_MS) -> list[bytes]:
    """``samples`` as whole ``ms`` frames of little-endian 16-bit PCM (a last partial frame is padded with
    silence)."""
    size = RATE * ms // 1000
    padded = np.pad(samples, (0, -len(samples) % size))
    pcm = (np.clip(padded, -1, 1) * 32767).astype("<i2").tobytes()
    return [pcm[i : i + 2 * size] for i in range(0, len(pcm), 2 * size)]


class Microphone:
    """Streams audio into an open ``/ws/assistant`` socket (after ``stream_start``) and reads what comes back."""

    def __init__(self, ws: ClientConnection, validate: Callable[[dict], None] = lambda _: None) -> None:
        self.ws = ws
        self.validate = validate
        self.started = 0.0
        """When the first frame of the last :meth:`play` went out (``time.perf_counter``)."""
        self.offset = 0.0
        """Where the last :meth:`play` starts in the stream's audio (the server's ``at_s`` clock), in seconds."""
        self._sent = 0
        self._sender: threading.Thread | None = None

    def start(self, **options: object) -> None:
        """Send ``stream_start`` (a new stream: the server's clock starts again)."""
        self._sent = 0
        self.ws.send(json.dumps({"type": "stream_start", "sample_rate": RATE, "format": "pcm_s16le", **options}))

    def play(self, samples: np.ndarray, *, realtime: bool = True) -> float:
        """Start sending ``samples`` (in the background; :meth:`wait` for the end); the moment the first frame
        goes out: audio second ``s`` of the clip is sent at about that moment plus ``s``."""
        chunks = frames(samples)
        ready = threading.Event()

        def send() -> None:
            self.started = time.perf_counter()
            ready.set()
            for i, chunk in enumerate(chunks):
                if realtime:
                    time.sleep(max(0.0, self.started + i * FRAME_MS / 1000 - time.perf_counter()))
                self.ws.send(chunk)

        self.wait()
        self.offset = self._sent / RATE
        self._sent += len(chunks) * RATE * FRAME_MS // 1000
        self._sender = threading.Thread(target=send, daemon=True)
        self._sender.start()
        ready.wait()
        return self.started

    def sent_at(self, at_s: float) -> float:
        """When the frame holding second ``at_s`` of the stream went out (for a second of the last :meth:`play`,
        streamed at the pace of the audio)."""
        return self.started + (at_s - self.offset) + FRAME_MS / 1000

    @property
    def sending(self) -> bool:
        """Whether a clip is still being sent."""
        return self._sender is not None and self._sender.is_alive()

    def wait(self) -> None:
        """Until the clip being played has been sent."""
        if self._sender is not None:
            self._sender.join()
            self._sender = None

    def receive(self, timeout: float = 120) -> tuple[float, dict]:
        message = json.loads(self.ws.recv(timeout=timeout))
        arrived = time.perf_counter()
        self.validate(message)
        return arrived, message

    def until(self, last: Callable[[dict], bool], timeout: float = 120) -> list[tuple[float, dict]]:
        """Messages, stamped, up to and including the first for which ``last`` is true."""
        got: list[tuple[float, dict]] = []
        while True:
            got.append(self.receive(timeout))
            if last(got[-1][1]):
                return got


def is_done(message: dict) -> bool:
    return message.get("type") == "done"


def final(message: dict) -> bool:
    """A turn's final transcription (partial ones say ``"partial": true``)."""
    return message.get("type") == "transcription" and not message.get("partial")

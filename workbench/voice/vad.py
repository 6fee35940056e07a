"""Voice activity on a live stream: Silero VAD window by window, and where a speaker's turn starts, pauses and ends.

The model is Silero VAD v6 as faster-whisper ships it (``faster_whisper/assets/silero_vad_v6.onnx``, run by
ONNX Runtime on one CPU thread): no extra dependency and no download. faster-whisper runs it over a whole recording
at once; here each 512-sample window (32 ms at 16 kHz) is scored as it arrives, with the model's recurrent state and
the previous window's last 64 samples carried to the next, which is what the batched call computes too. A window
costs about 0.2 ms, so it runs on the event loop.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

WINDOW = 512
"""Samples per scored window (32 ms at 16 kHz), the size Silero VAD is trained on."""
CONTEXT = 64
"""Samples of the previous window each window is scored with."""
WINDOW_MS = 32

Change = Literal["start", "pause", "resume", "end"]
"""start: speech began (after ``start_windows`` of it); pause: the speaker has been silent ``pause_windows``; resume:
speech again after a pause; end: silent ``end_windows``, the turn is over whatever was said."""


@functools.cache
def _session() -> Any:
    """The ONNX Runtime session, loaded once per process (``run`` is safe to call from several threads)."""
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"], sess_options=options)


class StreamingVAD:
    """Speech probabilities of a stream of 16 kHz float samples, one per complete 512-sample window."""

    def __init__(self) -> None:
        self._session = _session()
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far (a new stream starts from silence)."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    @property
    def pending(self) -> int:
        """Samples waiting for the rest of their window."""
        return len(self._pending)

    def __call__(self, samples: np.ndarray) -> list[float]:
        """Score every window that ``samples`` completes; a partial window waits for the next call."""
        buffer = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        whole = len(buffer) // WINDOW
        scores: list[float] = []
        for i in range(whole):
            window = buffer[i * WINDOW : (i + 1) * WINDOW]
            batch = np.concatenate([self._context, window])[None, :]
            out, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
            self._context = window[-CONTEXT:]
            scores.append(float(np.asarray(out).reshape(-1)[0]))
        self._pending = buffer[whole * WINDOW :]
        return scores


@dataclass
class TurnTracker:
    """Turns out of window scores: hysteresis on the threshold (a window below ``threshold - 0.15`` is silence, as
    faster-whisper decides), a minimum of speech to start, trailing silence to pause and, at most, to end (a caller
    that knows the turn is complete ends it sooner with :meth:`end`)."""

    threshold: float
    start_windows: int
    pause_windows: int
    end_windows: int
    in_turn: bool = False
    paused: bool = False
    silence: int = 0
    """Silent windows since the last speech of the turn."""
    _speech: int = field(default=0, repr=False)
    _dropped: bool = field(default=False, repr=False)

    @classmethod
    def of(cls, threshold: float, start_ms: int, pause_ms: int, end_ms: int) -> TurnTracker:
        start, pause, end = (max(1, -(-ms // WINDOW_MS)) for ms in (start_ms, pause_ms, end_ms))
        return cls(threshold, start, min(pause, end), end)

    def update(self, score: float) -> Change | None:
        """The change this window makes, if any."""
        if self._dropped:  # a refused turn lasts until the speaker has been silent long enough to end it
            self.silence = self.silence + 1 if score < self.threshold else 0
            self._dropped = self.silence < self.end_windows
            return None
        if not self.in_turn:
            self._speech = self._speech + 1 if score >= self.threshold else 0
            if self._speech >= self.start_windows:
                self.in_turn, self.paused, self._speech, self.silence = True, False, 0, 0
                return "start"
            return None
        if score >= self.threshold or (score >= self.threshold - 0.15 and self.silence == 0):
            self.silence = 0
            if self.paused:
                self.paused = False
                return "resume"
            return None
        self.silence += 1
        if self.silence >= self.end_windows:
            self.end()
            return "end"
        if self.silence == self.pause_windows:
            self.paused = True
            return "pause"
        return None

    def end(self) -> None:
        """End the current turn."""
        self.in_turn = self.paused = False
        self._speech = self.silence = 0

    def drop(self) -> None:
        """Leave the current turn without ending it (it was refused): the next one starts after the speaker has been
        silent long enough to end a turn."""
        self.end()
        self._dropped = True

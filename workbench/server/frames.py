"""What every WebSocket frame goes through before validation: bounded JSON, and per-client limits.

- :func:`parse_frame` refuses JSON nested deeper than :data:`MAX_DEPTH` levels and numbers longer than
  :data:`MAX_NUMBER_CHARS` characters (or not finite) with a :class:`FrameError` carrying a protocol error code,
  so a hostile frame is answered instead of raising ``RecursionError`` or ``ValueError`` in the handler.
- :class:`TokenBucket` bounds one socket's message rate; :class:`ClientTurns` bounds the turns one client address
  runs at once over all its sockets.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 16
MAX_NUMBER_CHARS = 40


class FrameError(Exception):
    """A frame that cannot become a message: ``code`` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _bounded(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise FrameError("invalid_message", f"numbers are limited to {MAX_NUMBER_CHARS} characters")
    return text


def _int(text: str) -> int:
    return int(_bounded(text))


def _float(text: str) -> float:
    value = float(_bounded(text))
    if not math.isfinite(value):
        raise FrameError("invalid_message", "numbers must be finite")
    return value


def _constant(name: str) -> Any:
    raise FrameError("invalid_json", f"{name} is not JSON")


def _too_deep(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if level > MAX_DEPTH:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def parse_frame(text: str) -> Any:
    """The frame's JSON value; raises :class:`FrameError` for anything unparseable or beyond the bounds."""
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except FrameError:
        raise
    except RecursionError:
        raise FrameError("invalid_message", f"messages may nest at most {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise FrameError("invalid_json", f"not valid JSON: {exc.msg} at position {exc.pos}") from None
    except ValueError:
        raise FrameError("invalid_json", "not valid JSON") from None
    if _too_deep(value):
        raise FrameError("invalid_message", f"messages may nest at most {MAX_DEPTH} levels deep")
    return value


class TokenBucket:
    """``rate`` messages a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.tokens, self.stamp = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ClientTurns:
    """Turns running per client address, over all its sockets; an address with none running holds no entry."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running: Counter[str] = Counter()

    def acquire(self, client: str) -> bool:
        if self.running[client] >= self.limit:
            return False
        self.running[client] += 1
        return True

    def release(self, client: str) -> None:
        self.running[client] -= 1
        if self.running[client] <= 0:
            del self.running[client]

"""What the run log never stores: recordings, synthesized speech and other binary data, whatever field holds them.

Every row the run-log callback writes (``runs``: input, output, error, metadata) passes through
:func:`redacted_run`, every span attribute through :mod:`workbench.runlog.spans`, and the JSON it makes of a run's
inputs and outputs through
:func:`redact` first. A value is replaced by its size and SHA-256, ``{"audio": {"bytes": N, "sha256": "…"}}``
(``binary`` for bytes that are not an audio container), when it is

- ``bytes`` (or a ``bytearray`` / ``memoryview``);
- a string under an audio key (:data:`AUDIO_KEYS`), or the ``data`` of an ``audio`` / ``audio_chunk`` event;
- base64 (on its own or inside a longer text) that decodes to an audio container (WAV, MP3, WebM, Ogg, FLAC),
  at any length, or to bytes that are not text, from :data:`MIN_BINARY_CHARS` characters on.

Inside a text the marker is written ``<audio: N bytes, sha256 …>``. Text, numbers and short ids stay as they are.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
from typing import Any

from workbench.runlog.schema import RunRecord
from workbench.voice.formats import sniff_format

AUDIO_KEYS = frozenset({"audio", "speech", "recording", "input_audio"})
"""Keys whose string values are audio whatever they look like (raw PCM has no header to recognise)."""
AUDIO_EVENTS = frozenset({"audio", "audio_chunk", "input_audio"})
"""``type`` values of the dicts (stream events, content blocks) whose ``data`` is audio."""
MIN_BINARY_CHARS = 128
"""Base64 runs this long that decode to non-text bytes are redacted even without an audio header."""
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def marker(data: bytes, kind: str | None = None) -> dict[str, dict[str, Any]]:
    """``{"audio" | "binary": {"bytes": N, "sha256": hex}}`` in place of ``data``."""
    kind = kind or ("audio" if sniff_format(data) else "binary")
    return {kind: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}


def _text_marker(data: bytes) -> str:
    ((kind, facts),) = marker(data).items()
    return f"<{kind}: {facts['bytes']} bytes, sha256 {facts['sha256']}>"


def _decoded(run: str) -> bytes | None:
    """The bytes a base64 run stands for (a run cut short by a truncation decodes up to its last whole byte)."""
    body = run.rstrip("=")
    body = body[: len(body) - 1] if len(body) % 4 == 1 else body
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c.isspace() for c in text)


def _hidden(run: str) -> bytes | None:
    """The bytes behind a base64 run when they must not be kept: audio, or (a long run) anything but text."""
    data = _decoded(run)
    if data is None:
        return None
    if sniff_format(data) is not None or (len(run) >= MIN_BINARY_CHARS and not _is_text(data)):
        return data
    return None


def redact_text(text: str) -> str:
    """``text`` with every base64 run of audio or binary data replaced by ``<audio: N bytes, sha256 …>``."""
    if len(text) < 16:
        return text

    def replace(match: re.Match[str]) -> str:
        data = _hidden(match.group())
        return match.group() if data is None else _text_marker(data)

    return _BASE64_RUN.sub(replace, text)


def _audio(value: str) -> Any:
    """A string known to be audio: base64 (the usual) or anything else, as its marker."""
    if not value:
        return value
    return marker(_decoded(value) or value.encode(), "audio")


def redact(value: Any, key: str | None = None) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, bytes) with its audio and binary data replaced by markers;
    ``key`` is the name it is stored under."""
    if isinstance(value, bytes | bytearray | memoryview):
        return marker(bytes(value))
    if isinstance(value, str):
        return _audio(value) if key in AUDIO_KEYS else redact_text(value)
    if isinstance(value, dict):
        audio_event = value.get("type") in AUDIO_EVENTS
        return {k: _audio(v) if audio_event and k == "data" and isinstance(v, str) else redact(v, str(k))
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


_TOKENS = re.compile(
    r"\b(?:sk-(?:proj-)?[A-Za-z0-9_-]{16,}|gsk_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{16,}"
    r"|xox[abp]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16})"
)
"""API keys by their providers' prefixes (OpenAI, Groq, Hugging Face, GitHub, Slack, AWS)."""
_TOKEN_HINTS = ("sk-", "gsk_", "hf_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AKIA")
_BEARER = re.compile(r"\bbearer\s+[a-z0-9._~+/=-]{12,}")
_ASSIGNED = re.compile(r"(?:api[_-]?key|secret|password|token)\s*[:=]\s*[\"']?[^\s\"',;]{6,}")
"""Bearer tokens and ``password=...``-style assignments, searched in lower-cased text (faster than ignoring case);
an assignment counts where its name starts a word."""


def scrub_secrets(text: str) -> str:
    """``text`` with API keys (OpenAI, Groq, Hugging Face, GitHub, Slack, AWS), bearer tokens and
    ``password=...``-style assignments replaced by ``[secret]``. Each pattern runs only on a text that holds its
    hints, and the others on lower-cased text: a prompt of a few thousand characters costs tens of microseconds."""
    if len(text) < 12:
        return text
    if any(hint in text for hint in _TOKEN_HINTS):
        text = _TOKENS.sub("[secret]", text)
    lowered = text.lower()
    if len(lowered) != len(text):  # lower-casing changed the length (rare letters): positions would not match
        lowered = "".join(c.lower() if len(c.lower()) == 1 else "_" for c in text)
    found = list(_BEARER.finditer(lowered)) if "bearer" in lowered else []
    if ("=" in text or ":" in text) and any(hint in lowered for hint in ("key", "secret", "password", "token")):
        found += [m for m in _ASSIGNED.finditer(lowered) if m.start() == 0 or not lowered[m.start() - 1].isalpha()]
    if not found:
        return text
    kept, at = [], 0
    for match in sorted(found, key=lambda m: m.start()):
        if match.start() >= at:
            kept += [text[at : match.start()], "[secret]"]
            at = match.end()
    return "".join([*kept, text[at:]])


def _text(value: str | None) -> str | None:
    return None if value is None else scrub_secrets(redact_text(value))


def redacted_run(record: RunRecord) -> RunRecord:
    """A copy of a ``runs`` row that holds no audio or binary data and no secrets."""
    return dataclasses.replace(
        record,
        input=_text(record.input),
        output=_text(record.output),
        error=_text(record.error),
        metadata=redact(record.metadata) if record.metadata else record.metadata,
    )

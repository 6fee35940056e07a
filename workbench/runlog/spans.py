"""Spans into the run log: the span processor that writes every ended span of a run as a ``spans`` row (through
the crash-safe journal, like the runs), and the bounds and scrubbing every attribute passes before it is set.

What a span never holds: audio or binary data (their size and hash stand in, see :mod:`workbench.runlog.redact`),
API keys, bearer tokens, passwords and similar secrets (replaced by ``[secret]``), and text past its bound: a value
cut to size ends with a ``…[truncated: N chars]`` marker and its name is listed in ``workbench.truncated``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

from workbench.runlog.redact import redact, redact_text, scrub_secrets
from workbench.runlog.schema import SPAN_KINDS, SpanRecord

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Span

    from workbench.runlog.writer import RunLog

RUN_ID = "workbench.run_id"
KIND = "workbench.span.kind"
STATUS = "workbench.status"
"""How the span ended when OpenTelemetry's ok/error does not say it: 'aborted', 'interrupted'."""
TRUNCATED = "workbench.truncated"
_INTERNAL = frozenset({RUN_ID, KIND, STATUS})

TEXT_BOUND = 16_000
"""Characters an attribute's text keeps (a prompt, a completion, a tool result)."""
JSON_BOUND = 48_000
"""Characters a structured attribute's JSON keeps (a conversation, retrieved passages)."""
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|passwd|token|authorization|credential|cookie)", re.I)
_TOKEN_COUNTS = ("input_tokens", "output_tokens")


def scrub(text: str) -> str:
    """``text`` with secrets (API keys, bearer tokens, ``password=...``) replaced by ``[secret]`` and audio or
    binary runs replaced by their size and hash."""
    return scrub_secrets(redact_text(text))


def _scrubbed(value: Any) -> Any:
    """A JSON-like value (already :func:`~workbench.runlog.redact.redact`-ed) with secret-named keys blanked and
    every string scrubbed of secrets."""
    if isinstance(value, str):
        return scrub_secrets(value)
    if isinstance(value, Mapping):
        return {
            str(key): "[secret]"
            if _SECRET_KEY.search(str(key)) and not str(key).endswith(_TOKEN_COUNTS)
            else _scrubbed(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


class Attributes:
    """Span attributes built under bounds: texts and JSON cut to size with a marker, secrets scrubbed, and the
    names of the values that were cut listed under ``workbench.truncated``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.truncated: list[str] = []

    def text(self, key: str, value: Any, bound: int = TEXT_BOUND) -> Attributes:
        if value is None:
            return self
        return self._bounded(key, scrub(value if isinstance(value, str) else str(value)), bound)

    def json(self, key: str, value: Any, bound: int = JSON_BOUND) -> Attributes:
        """``value`` as JSON text, its strings scrubbed one by one (once: the JSON is not scrubbed again)."""
        if value is None:
            return self
        return self._bounded(key, json.dumps(_scrubbed(redact(value)), default=str, ensure_ascii=False), bound)

    def _bounded(self, key: str, text: str, bound: int) -> Attributes:
        if len(text) > bound:
            text = f"{text[:bound]}…[truncated: {len(text)} chars]"
            self.truncated.append(key)
        self.values[key] = text
        return self

    def set(self, key: str, value: Any) -> Attributes:
        """A scalar (or a list of scalars) as it is; strings are bounded and scrubbed; None is left out."""
        if isinstance(value, str):
            return self.text(key, value)
        if isinstance(value, bool | int | float):
            self.values[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(item, str | bool | int | float) for item in value):
            self.values[key] = [scrub(item) if isinstance(item, str) else item for item in value]
        elif value is not None:
            self.json(key, value)
        return self

    def update(self, values: Mapping[str, Any]) -> Attributes:
        for key, value in values.items():
            self.set(key, value)
        return self

    def done(self) -> dict[str, Any]:
        if self.truncated:
            self.values[TRUNCATED] = sorted(set(self.truncated))
        return self.values


def _when(nanoseconds: int | None) -> datetime | None:
    return None if nanoseconds is None else datetime.fromtimestamp(nanoseconds / 1e9, UTC)


def span_record(span: ReadableSpan) -> SpanRecord | None:
    """The ``spans`` row of ``span``, or None when it belongs to no run (it has no ``workbench.run_id``)."""
    attributes = dict(span.attributes or {})
    run_id = attributes.get(RUN_ID)
    context = span.get_span_context()
    if not isinstance(run_id, str) or context is None:
        return None
    start, end = span.start_time, span.end_time
    status = str(attributes.get(STATUS) or "")
    if not status:
        status = "error" if span.status.status_code is StatusCode.ERROR else "ok" if end is not None else "running"
    parent = span.parent.span_id if span.parent is not None else None
    return SpanRecord(
        run_id=run_id,
        span_id=f"{context.span_id:016x}",
        trace_id=f"{context.trace_id:032x}",
        parent_id=f"{parent:016x}" if parent else None,
        name=span.name,
        kind=kind if (kind := str(attributes.get(KIND))) in SPAN_KINDS else "step",
        started_at=_when(start),
        ended_at=_when(end),
        duration_ms=(end - start) / 1e6 if end is not None and start is not None else None,
        status=status,
        error=span.status.description if status != "ok" else None,
        attributes={key: value for key, value in attributes.items() if key not in _INTERNAL} or None,
    )


class RunLogSpanProcessor(SpanProcessor):
    """Writes each ended span of a run to the run log. Runs inline on the thread that ends the span: it only
    converts and enqueues (the run log's journal thread makes it crash-safe).

    While its handler holds a run open (:meth:`hold`), that run's spans wait here and leave with the run's last row
    (:meth:`take`), or with the next span that starts or ends (or the run's next checkpoint, :meth:`overdue`) once
    they have waited :data:`HOLD_S` seconds: a short run costs the run log one write of its spans, not one per
    span, and a long one journals its spans every few seconds. A span is written once, when it ended: a run cut
    off by a crash keeps the spans journaled before, under its row (which stands for its own span then)."""

    HOLD_S = 2.0

    def __init__(self, runlog: Callable[[], RunLog]) -> None:
        self._runlog = runlog
        self._held: dict[str, tuple[float, list[SpanRecord]]] = {}
        self._lock = threading.Lock()

    def hold(self, run_id: str) -> None:
        """Keep run ``run_id``'s spans until :meth:`take` (or :data:`HOLD_S`)."""
        with self._lock:
            self._held.setdefault(run_id, (time.monotonic(), []))

    def take(self, run_id: str) -> list[SpanRecord]:
        """The spans of ``run_id`` held so far; later ones are written as they end."""
        with self._lock:
            found = self._held.pop(run_id, None)
        return found[1] if found is not None else []

    def overdue(self, run_id: str) -> list[SpanRecord]:
        """The spans of ``run_id`` held for :data:`HOLD_S` seconds or more (none before), held again from now."""
        with self._lock:
            return self._overdue(run_id)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        run_id = (span.attributes or {}).get(RUN_ID)
        if isinstance(run_id, str):
            self._write_all(self.overdue(run_id))

    def on_end(self, span: ReadableSpan) -> None:
        record = span_record(span)
        if record is None:
            return
        with self._lock:
            held = self._held.get(record.run_id)
            if held is not None:
                held[1].append(record)
                records = self._overdue(record.run_id)
            else:
                records = [record]
        self._write_all(records)

    def _overdue(self, run_id: str) -> list[SpanRecord]:
        held = self._held.get(run_id)
        if held is None or not held[1] or time.monotonic() - held[0] < self.HOLD_S:
            return []
        self._held[run_id] = (time.monotonic(), [])
        return held[1]

    def _write_all(self, records: list[SpanRecord]) -> None:
        if records:
            self._runlog().log_records(records)

"""What a run-log handler knows about one run in flight: its row so far, its open and finished events, the text
it streamed, its token counts and the models it called; :meth:`OpenRun.finish` turns that into the rows logged."""

from __future__ import annotations

import dataclasses
import time
from typing import Any
from uuid import UUID

from workbench.runlog.extract import TEXT_LIMIT, token_usage
from workbench.runlog.schema import EventRecord, RunRecord
from workbench.runlog.writer import utcnow

# Where a run's model name came from, weakest first: a stronger source replaces a weaker one, never the reverse.
FROM_PROVIDER, FROM_LLM, FROM_METADATA, FROM_OUTPUT, FROM_EVENT = range(1, 6)


class OpenRun:
    """What is known about one run in flight; touched only under the handler's lock."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.t0 = time.perf_counter()
        self.children: set[UUID] = set()
        self.open_events: dict[UUID, tuple[EventRecord, float]] = {}
        self.done: list[EventRecord] = []
        self.extras: dict[str, Any] = {}
        self.streamed: dict[UUID, list[str]] = {}
        self.last_streamed: UUID | None = None
        self.tokens_in = self.tokens_out = 0
        self.usage_seen = self.estimated = False
        self.model_rank = FROM_METADATA if record.model else 0
        self.models: list[str] = []
        self.checkpoint_at = self.t0

    def open_event(self, run_id: UUID, kind: str, node: str, detail: dict[str, Any]) -> None:
        seq = len(self.done) + len(self.open_events)
        event = EventRecord(self.record.run_id, seq, node, kind, utcnow(), status="running", detail=detail or None)
        self.open_events[run_id] = (event, time.perf_counter())

    def close_event(self, run_id: UUID, status: str, error: str | None = None) -> None:
        event, t0 = self.open_events.pop(run_id, (None, 0.0))
        if event is not None:
            event.ended_at, event.duration_ms, event.status = utcnow(), (time.perf_counter() - t0) * 1000, status
            if error:
                event.detail = {**(event.detail or {}), "error": error}
            self.done.append(event)

    def note_model(self, model: str | None, rank: int) -> None:
        """Take ``model`` as the run's model unless a stronger source named one already."""
        if model and rank <= FROM_LLM and model not in self.models:
            self.models.append(model)
        if model and rank >= self.model_rank:
            self.record.model, self.model_rank = model, rank

    def on_token(self, run_id: UUID, text: str, checkpoint_interval: float) -> RunRecord | None:
        """Note a streamed token; a copy of the row with the text so far when a checkpoint is due."""
        if not text:
            return None
        now = time.perf_counter()
        if self.record.ttft_ms is None:
            self.record.ttft_ms = (now - self.t0) * 1000
        self.streamed.setdefault(run_id, []).append(text)
        self.last_streamed = run_id
        if now - self.checkpoint_at < checkpoint_interval:
            return None
        self.checkpoint_at = now
        return dataclasses.replace(self.record, output="".join(self.streamed[run_id])[:TEXT_LIMIT])

    def on_llm_end(self, run_id: UUID, response: Any) -> None:
        usage = token_usage(response)
        if usage is not None:
            self.usage_seen = True
            self.tokens_in, self.tokens_out = self.tokens_in + usage[0], self.tokens_out + usage[1]
        elif run_id in self.streamed:
            self.estimated = True
            self.tokens_out += len(self.streamed[run_id])
        event = self.open_events.get(run_id)
        if event is not None and usage is not None:
            event[0].detail = {**(event[0].detail or {}), "tokens_in": usage[0], "tokens_out": usage[1]}

    def finish(self, status: str, error: str | None) -> tuple[RunRecord, list[EventRecord]]:
        record = self.record
        record.status, record.error, record.ended_at = status, error, utcnow()
        if record.output is None and self.last_streamed is not None:
            record.output = "".join(self.streamed[self.last_streamed])[:TEXT_LIMIT]
        for run_id in list(self.open_events):
            self.close_event(run_id, status)
        if self.usage_seen or self.estimated:
            record.tokens_in = self.tokens_in if self.usage_seen else None
            record.tokens_out = self.tokens_out
        metadata = dict(self.extras)
        if self.estimated:
            metadata["tokens_estimated"] = True
        if len(self.models) > 1:
            metadata["models"] = self.models
        record.metadata = metadata or None
        return record, sorted(self.done, key=lambda event: event.seq)

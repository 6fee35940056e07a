"""What a run-log handler knows about one run in flight: its row so far, its span and the open spans of its steps,
the text it streamed, its token counts and the models it called; :meth:`OpenRun.finish` ends its spans and turns
the rest into the row logged."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from workbench.runlog.extract import TEXT_LIMIT, cached_input_tokens, token_usage
from workbench.runlog.schema import RunRecord
from workbench.runlog.spans import KIND, RUN_ID, STATUS, TEXT_BOUND, Attributes, scrub
from workbench.runlog.writer import utcnow

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from workbench.runlog.otel import Tracing

# Where a run's model name came from, weakest first: a stronger source replaces a weaker one, never the reverse.
FROM_PROVIDER, FROM_LLM, FROM_METADATA, FROM_OUTPUT, FROM_EVENT = range(1, 6)


def end_span(span: Span, status: str, error: str | None = None, attributes: dict[str, Any] | None = None) -> None:
    """Set ``span``'s outcome (and last attributes) and end it; the error's text is scrubbed and bounded."""
    error = scrub(error)[:TEXT_BOUND] if error else error
    if attributes:
        span.set_attributes(attributes)
    if status == "error":
        span.set_status(Status(StatusCode.ERROR, error))
    elif status != "ok":
        span.set_attribute(STATUS, status)
        span.set_status(Status(StatusCode.ERROR, error or status))
    span.end()


@dataclasses.dataclass
class _LlmCall:
    started: float
    first_token: float | None = None
    chunks: int = 0


class OpenRun:
    """What is known about one run in flight; touched only under the handler's lock."""

    def __init__(self, record: RunRecord, tracing: Tracing, attributes: dict[str, Any]) -> None:
        self.record = record
        self.t0 = time.perf_counter()
        self.tracer = tracing.tracer
        with tracing.ids.run(record.run_id):
            self.span = self.tracer.start_span(
                record.graph, attributes={RUN_ID: record.run_id, KIND: "run", **attributes}
            )
        self.recording = self.span.is_recording()
        """False when tracing is off (``OTEL_SDK_DISABLED=true``): no attributes are built for spans nobody keeps."""
        self.children: set[UUID] = set()
        self.spans: dict[UUID, Span] = {}
        """The open spans of this run's steps, by LangChain run id (or a step's own key)."""
        self.anchors: dict[UUID, Span] = {}
        """For every child run seen: the span its own children nest under (its span, or its nearest ancestor's)."""
        self.nodes: dict[UUID, str] = {}
        """The open node spans' names: a compiled subgraph added as a node starts a chain of the node's name inside
        the node's own, which is the same step, not a new one."""
        self.llm_calls: dict[UUID, _LlmCall] = {}
        self.extras: dict[str, Any] = {}
        self.streamed: dict[UUID, list[str]] = {}
        self.last_streamed: UUID | None = None
        self.tokens_in = self.tokens_out = 0
        self.usage_seen = self.estimated = False
        self.model_rank = FROM_METADATA if record.model else 0
        self.models: list[str] = []
        self.checkpoint_at = self.t0

    def open_span(
        self, run_id: UUID, parent_run_id: UUID | None, kind: str, name: str, attributes: dict[str, Any]
    ) -> Span:
        """Start the span of step ``run_id`` under its nearest recorded ancestor."""
        parent = self.anchors.get(parent_run_id, self.span) if parent_run_id is not None else self.span
        span = self.tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            attributes={RUN_ID: self.record.run_id, KIND: kind, **attributes},
        )
        self.spans[run_id] = self.anchors[run_id] = span
        if kind == "node":
            self.nodes[run_id] = name
        elif kind == "llm":
            self.llm_calls[run_id] = _LlmCall(time.perf_counter())
        return span

    def is_node(self, run_id: UUID | None, name: str) -> bool:
        """Whether ``run_id`` is an open node span named ``name``."""
        return run_id is not None and self.nodes.get(run_id) == name

    def pass_through(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        """Note a child that gets no span of its own (LangGraph's plumbing): its children nest under its parent."""
        self.anchors[run_id] = self.anchors.get(parent_run_id, self.span) if parent_run_id is not None else self.span

    def close_span(
        self, run_id: UUID, status: str, error: str | None = None, attributes: dict[str, Any] | None = None
    ) -> None:
        span = self.spans.pop(run_id, None)
        self.nodes.pop(run_id, None)
        if span is not None:
            end_span(span, status, error, attributes)

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
        call = self.llm_calls.get(run_id)
        if call is not None:
            call.chunks += 1
            if call.first_token is None:
                call.first_token = now
        if self.record.ttft_ms is None:
            self.record.ttft_ms = (now - self.t0) * 1000
        self.streamed.setdefault(run_id, []).append(text)
        self.last_streamed = run_id
        if now - self.checkpoint_at < checkpoint_interval:
            return None
        self.checkpoint_at = now
        return dataclasses.replace(self.record, output="".join(self.streamed[run_id])[:TEXT_LIMIT])

    def on_llm_end(self, run_id: UUID, response: Any, attributes: Attributes) -> None:
        """Count the call's tokens into the run and add its timing and usage to the call's span attributes."""
        usage = token_usage(response)
        if usage is not None:
            self.usage_seen = True
            self.tokens_in, self.tokens_out = self.tokens_in + usage[0], self.tokens_out + usage[1]
            attributes.set("gen_ai.usage.input_tokens", usage[0]).set("gen_ai.usage.output_tokens", usage[1])
            cached = cached_input_tokens(response)
            if cached is not None:  # OpenTelemetry GenAI: prompt tokens served from the provider's cache
                attributes.set("gen_ai.usage.cache_read.input_tokens", cached)
        elif run_id in self.streamed:
            self.estimated = True
            self.tokens_out += len(self.streamed[run_id])
            attributes.set("gen_ai.usage.output_tokens", len(self.streamed[run_id]))
            attributes.set("workbench.tokens_estimated", True)
        call = self.llm_calls.pop(run_id, None)
        if call is not None:
            now = time.perf_counter()
            if call.first_token is not None:
                attributes.set("gen_ai.response.time_to_first_chunk", round(call.first_token - call.started, 6))
            out = usage[1] if usage is not None else call.chunks
            writing = now - (call.first_token or call.started)
            if out and writing > 0:
                attributes.set("workbench.tokens_per_s", round(out / writing, 2))

    def finish(self, status: str, error: str | None, attributes: dict[str, Any]) -> RunRecord:
        """End the run's open spans with ``status``, then its own span; the row to log."""
        record = self.record
        record.status, record.error, record.ended_at = status, error, utcnow()
        if record.output is None and self.last_streamed is not None:
            record.output = "".join(self.streamed[self.last_streamed])[:TEXT_LIMIT]
        for run_id in reversed(list(self.spans)):  # innermost first
            self.close_span(run_id, status, error if status == "error" else None)
        if self.usage_seen or self.estimated:
            record.tokens_in = self.tokens_in if self.usage_seen else None
            record.tokens_out = self.tokens_out
        metadata = dict(self.extras)
        if self.estimated:
            metadata["tokens_estimated"] = True
        if len(self.models) > 1:
            metadata["models"] = self.models
        record.metadata = metadata or None
        ended = Attributes().text("workbench.output", record.output).set("gen_ai.request.model", record.model)
        ended.set("gen_ai.usage.input_tokens", record.tokens_in).set("gen_ai.usage.output_tokens", record.tokens_out)
        end_span(self.span, status, error, {**ended.done(), **attributes})
        return record

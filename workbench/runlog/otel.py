"""OpenTelemetry for the run log: the tracer provider a run-log handler records its spans with, ids that tie a trace
to its run, and OTLP export switched on by the standard environment variables.

A run's trace id is its run id (a UUID is 128 bits) and its root span's id the run id's low 64 bits, so the trace a
receiver shows is found by the run id the workbench shows, and a process that did not start the run (the gateway
of a graph server) can still add spans under its root.

Export: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, every span also goes,
in batches from a background thread, to that OTLP receiver (an MLflow server, Phoenix, Langfuse, Jaeger, a
collector); ``OTEL_EXPORTER_OTLP_PROTOCOL`` picks ``http/protobuf`` (the default) or ``grpc``, and
``OTEL_EXPORTER_OTLP_HEADERS``, ``..._TIMEOUT``, ``OTEL_SERVICE_NAME`` and ``OTEL_BSP_*`` are read by the SDK as
documented. A receiver that is down costs a warning in the log, never a run: export has its own thread and timeout.
``OTEL_TRACES_EXPORTER=none`` turns export off (the run log keeps its spans); ``OTEL_SDK_DISABLED=true`` turns
tracing off altogether, as the SDK defines it: runs are logged as rows without spans.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, Tracer

log = logging.getLogger(__name__)

SCOPE = "workbench.runlog"
"""The instrumentation scope the run log's spans are recorded under."""
PROTOCOLS = ("http/protobuf", "grpc")


def trace_id_of(run_id: str | UUID) -> int:
    """The trace id of run ``run_id``: the run id's 128 bits."""
    return (run_id if isinstance(run_id, UUID) else UUID(str(run_id))).int


def root_span_id_of(run_id: str | UUID) -> int:
    """The id of run ``run_id``'s own span: the run id's low 64 bits (never 0, which OpenTelemetry reserves)."""
    return trace_id_of(run_id) & 0xFFFF_FFFF_FFFF_FFFF or 1


class RunIds(IdGenerator):
    """Random ids, except while :meth:`run` is active on this thread: then the next trace and span ids are those
    of the run it names (the root span of a run takes them, see the module's docstring)."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._forced = threading.local()

    @contextmanager
    def run(self, run_id: str | UUID) -> Iterator[None]:
        self._forced.ids = (trace_id_of(run_id), root_span_id_of(run_id))
        try:
            yield
        finally:
            self._forced.ids = None

    def generate_trace_id(self) -> int:
        ids = getattr(self._forced, "ids", None)
        return ids[0] if ids else self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        ids = getattr(self._forced, "ids", None)
        return ids[1] if ids else self._random.generate_span_id()


def run_parent(run_id: str | UUID) -> object:
    """An OpenTelemetry context whose current span is run ``run_id``'s own span, as seen from another process:
    a span started in it joins that run's trace under its root."""
    from opentelemetry import trace

    span_context = SpanContext(
        trace_id_of(run_id), root_span_id_of(run_id), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context))


_resource: Resource | None = None
_exporting: SpanProcessor | None | bool = False  # False: not looked at yet
_lock = threading.Lock()


def _env(name: str) -> str:
    return os.environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or os.environ.get(f"OTEL_EXPORTER_OTLP_{name}") or ""


def export_target() -> str | None:
    """Where spans are exported (``protocol endpoint``), or None when export is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in {"none", ""}:
        return None
    endpoint = _env("ENDPOINT").strip()
    return f"{_env('PROTOCOL').strip() or 'http/protobuf'} {endpoint}" if endpoint else None


def _exporter_processor() -> SpanProcessor | None:
    target = export_target()
    if target is None:
        return None
    protocol = target.split(" ", 1)[0]
    if protocol not in PROTOCOLS:
        log.warning(
            "traces are not exported: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported here; use one of %s",
            protocol,
            ", ".join(PROTOCOLS),
        )
        return None
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
        exporter = OTLPSpanExporter()
    except Exception as exc:  # a bad header or endpoint: say which, run without export
        log.warning("traces are not exported to %s: %s; check the OTEL_EXPORTER_OTLP_* variables", target, exc)
        return None
    processor = BatchSpanProcessor(exporter)
    atexit.register(processor.shutdown)
    log.info("traces are exported to %s", target)
    return processor


def exporting() -> SpanProcessor | None:
    """This process's OTLP export, one for all tracer providers (built on first use from the environment)."""
    global _exporting
    if _exporting is False:
        with _lock:
            if _exporting is False:
                _exporting = _exporter_processor()
    return _exporting if isinstance(_exporting, SpanProcessor) else None


def reset_export() -> None:
    """Forget this process's export so the next provider reads the environment again (tests); spans still queued
    for the old receiver are flushed first."""
    global _exporting
    with _lock:
        old, _exporting = _exporting, False
    if isinstance(old, SpanProcessor):
        old.shutdown()


def flush_export(timeout_s: float = 5.0) -> bool:
    """Send the spans queued for export now; False when the receiver did not take them within ``timeout_s``."""
    processor = exporting()
    return processor.force_flush(int(timeout_s * 1000)) if processor is not None else True


def _resource_once() -> Resource:
    global _resource
    if _resource is None:
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "workbench"}
        _resource = Resource.create(attributes)
    return _resource


class Tracing:
    """A tracer whose spans go to ``processor`` (the run log's) and to this process's OTLP export, if any."""

    def __init__(self, processor: SpanProcessor) -> None:
        self.ids = RunIds()
        # shutdown_on_exit=False: the export is shared and shut down once, at exit
        self.provider = TracerProvider(resource=_resource_once(), id_generator=self.ids, shutdown_on_exit=False)
        self.provider.add_span_processor(processor)
        export = exporting()
        if export is not None:
            self.provider.add_span_processor(export)
        self.tracer: Tracer = self.provider.get_tracer(SCOPE)

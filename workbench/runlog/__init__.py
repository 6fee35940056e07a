"""The DuckDB run log: every graph run as a ``runs`` row plus its trace, OpenTelemetry spans in ``spans``.

- :class:`RunLog` / :func:`get_runlog`: the queue-fed writer (one background thread per process).
- :class:`RunLogCallback`: the LangChain callback handler that turns LangGraph runs into rows and spans
  (:mod:`~workbench.runlog.semconv` for their attributes, :mod:`~workbench.runlog.steps` for the steps a node
  marks itself, :mod:`~workbench.runlog.spans` for the processor that writes them, :mod:`~workbench.runlog.otel`
  for the tracer and OTLP export).
- :func:`recent_runs`, :func:`get_run`, :func:`export_parquet`, :func:`~workbench.runlog.queries.get_trace`: read
  queries; :mod:`~workbench.runlog.trace`: a trace as a tree with its critical path.
"""

from workbench.runlog.callback import RUNLOG_EVENT, RunLogCallback
from workbench.runlog.queries import count_runs, export_parquet, get_run, recent_runs
from workbench.runlog.schema import RUN_STATUSES, EventRecord, RunLogBusyError, RunRecord
from workbench.runlog.shared import get_runlog, set_runlog
from workbench.runlog.writer import RunLog

__all__ = [
    "RUNLOG_EVENT",
    "RUN_STATUSES",
    "EventRecord",
    "RunLog",
    "RunLogBusyError",
    "RunLogCallback",
    "RunRecord",
    "count_runs",
    "export_parquet",
    "get_run",
    "get_runlog",
    "recent_runs",
    "set_runlog",
]

"""What the gateway writes to the run log about the runs a LangGraph Server runs for it.

The server logs a run's own row and spans with the graph's callback; the gateway adds a span of what only it saw
(the request, the server's run id, the first token, the end) under the run's own span, and corrects the row of a
run it dropped to the error the client was told.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from workbench.runtime.base import GraphName

log = logging.getLogger(__name__)

DROPPED = (
    "the LangGraph Server that runs the graphs dropped this run (it stopped, restarted or lost the connection); "
    "the run is cancelled there and left out of the session's history: ask again once the server is back"
)


class GatewayEvents:
    """What the gateway saw of one remote run, as one ``gateway`` span under the run's own span (which the server
    records): from the request to the end, with the server's thread and run ids, when the run was created and
    its first token came (ms after the request), the parts it streamed by kind, and how it ended."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.started = time.perf_counter()
        self.parts: dict[str, int] = {}
        self._span = _start_span(run_id)

    def log(self, name: str, **detail: Any) -> None:
        """Note that step ``name`` happened now (``request``, ``created``, ``first_token``), with its details."""
        elapsed = round((time.perf_counter() - self.started) * 1000, 1)
        if self._span is not None:
            self._span.set_attributes(
                {
                    f"workbench.gateway.{name}_ms": elapsed,
                    **{f"workbench.gateway.{k}": str(v) for k, v in detail.items()},
                }
            )

    def saw(self, kind: str) -> None:
        self.parts[kind] = self.parts.get(kind, 0) + 1
        if kind == "token" and self.parts[kind] == 1:
            self.log("first_token")

    def end(self, status: str) -> None:
        if self._span is None:
            return
        from workbench.runlog.open_run import end_span

        parts = {f"workbench.gateway.parts.{kind}": count for kind, count in self.parts.items()}
        end_span(self._span, "ok" if status == "ok" else "aborted" if status == "aborted" else "error", status, parts)


_gateway: Any = None


def _start_span(run_id: str) -> Any:
    """The gateway's span of run ``run_id``, recorded into this process's run log (None if it cannot be)."""
    global _gateway
    try:
        from workbench.runlog import get_runlog
        from workbench.runlog.otel import Tracing, run_parent
        from workbench.runlog.spans import KIND, RUN_ID, RunLogSpanProcessor

        if _gateway is None:
            _gateway = Tracing(RunLogSpanProcessor(get_runlog))
        return _gateway.tracer.start_span(
            "gateway", context=run_parent(run_id), attributes={RUN_ID: run_id, KIND: "gateway"}
        )
    except Exception as exc:  # the protocol goes on without its trace
        log.warning("the gateway's span of run %s is not recorded: %s", run_id, exc)
        return None


@dataclass
class Dropped:
    """A run whose stream broke: the client was told it failed; the server may still run it, or run it again."""

    thread: str
    gateway_run: str
    graph: GraphName
    session: str | None
    server_run: str | None


def log_dropped(dropped: Dropped) -> bool:
    """Write the run-log row of a dropped run as the client saw it: an error (a rerun on the server may have logged
    it running, ok or aborted; its other fields are kept). The row is ``settled``: what the server logs of that run
    afterwards (the 'aborted' of a server that stops, its journal replayed after a crash) does not replace it.

    False when the row could not be read (the run log busy past its lock timeout, as while a restarted server
    replays its journal): the caller tries again later rather than leave the server's verdict standing."""
    from workbench.runlog import get_runlog
    from workbench.runlog.schema import RUN_COLUMNS, RunRecord
    from workbench.runlog.writer import utcnow

    runlog = get_runlog()
    try:
        row = runlog.get_run(dropped.gateway_run)
    except Exception as exc:  # the row stays as the server left it
        log.warning("the run log row of dropped run %s is not corrected yet: %s", dropped.gateway_run, exc)
        return False
    fields: dict[str, Any] = (
        {name: row[name] for name in RUN_COLUMNS if name in row}
        if row is not None
        else {"run_id": dropped.gateway_run, "graph": dropped.graph, "session_id": dropped.session, "output": ""}
    )
    fields.update(status="error", error=DROPPED, settled=True, ended_at=fields.get("ended_at") or utcnow())
    fields.setdefault("started_at", fields["ended_at"])
    runlog.log_run(RunRecord(**fields))
    return True

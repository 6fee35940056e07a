"""What the gateway writes to the run log about the runs a LangGraph Server runs for it.

The server logs a run's own events with the graph's callback; the gateway adds what only it saw (the request,
the server's run id, the first token, the end), numbered after the server's events, and corrects the row of a
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
GATEWAY_SEQ = 1_000_000
"""The gateway's events of a run are numbered from here, after the server's own events of the same run."""


class GatewayEvents:
    """What the gateway saw of one remote run, logged as ``gateway`` events under the run's id: the request, the
    server's run id, the first token, and the end (status, parts, seconds)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.seq = GATEWAY_SEQ
        self.started = time.perf_counter()
        self.parts: dict[str, int] = {}

    def log(self, name: str, status: str = "ok", **detail: Any) -> None:
        from workbench.runlog import get_runlog
        from workbench.runlog.schema import EventRecord
        from workbench.runlog.writer import utcnow

        now = utcnow()
        elapsed = round((time.perf_counter() - self.started) * 1000, 1)
        record = EventRecord(self.run_id, self.seq, name, "gateway", now, now, elapsed, status, detail or None)
        self.seq += 1
        try:
            get_runlog().log_records([record])
        except Exception as exc:  # the protocol goes on without its log line
            log.warning("gateway event of run %s not logged: %s", self.run_id, exc)

    def saw(self, kind: str) -> None:
        self.parts[kind] = self.parts.get(kind, 0) + 1
        if kind == "token" and self.parts[kind] == 1:
            self.log("first_token")

    def end(self, status: str) -> None:
        self.log("end", status, parts=self.parts)


@dataclass
class Dropped:
    """A run whose stream broke: the client was told it failed; the server may still run it, or run it again."""

    thread: str
    gateway_run: str
    graph: GraphName
    session: str | None
    server_run: str | None


def log_dropped(dropped: Dropped) -> None:
    """Write the run-log row of a dropped run as the client saw it: an error (a rerun on the server may have logged
    it running, ok or aborted; its other fields are kept)."""
    from workbench.runlog import get_runlog
    from workbench.runlog.schema import RUN_COLUMNS, RunRecord
    from workbench.runlog.writer import utcnow

    runlog = get_runlog()
    try:
        row = runlog.get_run(dropped.gateway_run)
    except Exception as exc:  # the row stays as the server left it
        log.warning("the run log row of dropped run %s is not corrected: %s", dropped.gateway_run, exc)
        return
    fields: dict[str, Any] = (
        {name: row[name] for name in RUN_COLUMNS if name in row}
        if row is not None
        else {"run_id": dropped.gateway_run, "graph": dropped.graph, "session_id": dropped.session, "output": ""}
    )
    fields.update(status="error", error=DROPPED, ended_at=fields.get("ended_at") or utcnow())
    fields.setdefault("started_at", fields["ended_at"])
    runlog.log_run(RunRecord(**fields))

"""A served audit task's events: numbered and stamped as they are published, and what each one moves in the task.

The graph emits bare ``task.*`` events; the :class:`~workbench.tasks.manager.TaskManager` numbers them per task
(``seq``, so a late watcher replays them in order), keeps the task's status, progress and per-agent states in
step with them, and logs each as an ``agent_logs`` row beside the task's row.
"""

from __future__ import annotations

from typing import Any

from workbench.runlog.schema import AgentLogRecord, TaskRecord
from workbench.runlog.writer import utcnow

AGENTS_START, AGENTS_SPAN = 15, 75
"""Progress while agents run: from the supervisor's plan (15 %) to the aggregation (90 %), by agents finished."""
AGENT_DONE = ("ok", "partial", "error", "timeout")


def numbered(task_id: str, seq: int, event: dict[str, Any]) -> dict[str, Any]:
    """The event as watchers and the run log see it: its type, task, number and time first."""
    return {
        "type": event["type"],
        "task_id": task_id,
        "seq": seq,
        "timestamp": utcnow().isoformat(),
        **{k: v for k, v in event.items() if k != "type"},
    }


def track(record: TaskRecord, plan: list[str], event: dict[str, Any]) -> None:
    """Keep the task's status, progress and per-agent states in step with ``event``; ``plan`` (the agents that
    run, set by the supervisor's ``select`` step) is updated in place."""
    states: dict[str, Any] = dict(record.agent_states or {})
    record.agent_states = states
    kind, agent = event["type"], event.get("agent")
    if kind == "task.started":
        record.status, record.started_at = "running", utcnow()
    elif kind == "task.progress":
        if event.get("step") == "select" and event.get("plan") is not None:
            plan[:] = event["plan"]
            for name in list(states):
                if name not in plan:
                    states[name] = {"status": "skipped"}
        if agent and event.get("step") == "select" and agent not in plan:
            states[agent] = {"status": "skipped", "message": event.get("message")}
        elif agent and event.get("step") == "agents":
            state = states.setdefault(agent, {})
            if state.get("status") in (None, "pending"):
                state["status"] = "running"
            state["message"] = event.get("message")
    elif kind == "task.agent_result" and agent:
        states[agent] = {
            **states.get(agent, {}),
            "status": event.get("status", "ok"),
            "findings": event.get("findings"),
            "counts": event.get("counts"),
            "summary": event.get("summary"),
            "duration_s": event.get("duration_s"),
        }
    elif kind == "task.error" and agent:
        states[agent] = {
            **states.get(agent, {}),
            "status": event.get("status", "error"),
            "error": event.get("message"),
        }
    percent = event.get("percent")
    if kind == "task.progress" and event.get("step") == "agents" or kind in ("task.agent_result", "task.error"):
        finished = sum(1 for a in plan if states.get(a, {}).get("status") in AGENT_DONE)
        percent = AGENTS_START + AGENTS_SPAN * finished / max(1, len(plan))
    if kind == "task.completed":
        percent = 100
    if percent is not None:
        record.progress = round(max(record.progress, float(percent)), 1)


def log_row(task_id: str, event: dict[str, Any]) -> AgentLogRecord:
    """The ``agent_logs`` row of a numbered event (the event itself is its ``data``)."""
    return AgentLogRecord(
        task_id=task_id,
        seq=event["seq"],
        type=event["type"],
        ts=utcnow(),
        agent=event.get("agent"),
        step=event.get("step"),
        message=event.get("message") or event.get("summary"),
        percent=event.get("percent"),
        data=event,
    )

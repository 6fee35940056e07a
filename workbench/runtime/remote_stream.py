"""A remote run's request and its server stream, in the runtime's terms.

A run starts as a streamed run, or (an audit) as a background run whose resumable stream is joined from its first
event. The request carries the run's context as JSON: unset fields are left out (the graph's defaults apply), and so is
``resources``, the process's clients, which are neither JSON nor the server's (it builds its own). The stream's
``messages-tuple``, ``custom`` and ``values`` parts become the same parts an in-process run yields (a run that stops
on an ``interrupt`` ends with a state holding its questions under ``__interrupt__``, as in-process), and a failure
the graph reported is raised as the error it was. A run without input runs its thread on from where it stopped,
with ``resume`` as the answer to the question it waits on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from langchain_core.messages import messages_from_dict
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

from workbench.reported_errors import ERROR_EVENT
from workbench.runtime.base import GATEWAY_RUN_ID, GraphFailed, GraphRun, GraphToken, RunPart
from workbench.runtime.errors import rebuilt

log = logging.getLogger(__name__)

_MODES = {"messages": "messages-tuple", "custom": "custom", "values": "values"}
LIVE = ("pending", "running")
"""The statuses of a run that has not ended."""
RESOURCES = "resources"
"""The context field that holds the process's clients: never sent."""


class StreamCut(Exception):
    """A run's stream closed cleanly, but the run did not end well (its server stopped, or interrupted it)."""


async def stream_run(
    client: LangGraphClient, run: GraphRun, tid: str, created: dict[str, Any], *, timeout_s: float
) -> AsyncIterator[RunPart]:
    """Start ``run`` on thread ``tid`` and yield its parts (the server's run id goes into ``created`` as soon as it
    is known); :class:`StreamCut` when its stream closes before the run ended well."""
    options = run_options(run)
    if run.background:
        made = await client.runs.create(tid, run.graph, stream_resumable=True, **options)
        created["run_id"] = made["run_id"]
        stream = client.runs.join_stream(tid, made["run_id"], last_event_id="-1")
    else:
        stream = client.runs.stream(
            tid, run.graph, on_disconnect="cancel", on_run_created=lambda meta: created.update(meta), **options
        )
    async for part in run_parts(run, stream, created):
        yield part
    server_run = created.get("run_id")
    if server_run is not None and not await _ended_well(client, tid, str(server_run), timeout_s):
        raise StreamCut("the stream ended before the run did")


async def _ended_well(client: LangGraphClient, tid: str, server_run: str, timeout_s: float) -> bool:
    """Whether the run whose stream just closed without an error ended well: a server stopped gracefully closes
    the streams of the runs it interrupts as cleanly as those of finished ones (and may run them again)."""
    try:
        async with asyncio.timeout(timeout_s):
            info = await client.runs.get(tid, server_run)
            if info.get("status") in LIVE:  # finishing: its status follows its stream
                await client.runs.join(tid, server_run)
                info = await client.runs.get(tid, server_run)
    except (httpx.HTTPError, TimeoutError) as exc:
        log.debug("run %s: its end is not known (%s)", server_run, exc)
        return False
    return info.get("status") == "success"


def context_json(context: Any) -> dict[str, Any] | None:
    """A run's context as the JSON a remote run takes: a dataclass field by field (``dataclasses.asdict`` would
    deep-copy the clients), its unset (None) fields left out; never its ``resources``."""
    if context is None:
        return None
    if dataclasses.is_dataclass(context) and not isinstance(context, type):
        values = ((f.name, getattr(context, f.name)) for f in dataclasses.fields(context) if f.name != RESOURCES)
        return {name: _json(value) for name, value in values if value is not None}
    return {name: value for name, value in dict(context).items() if name != RESOURCES}


def _json(value: Any) -> Any:
    """A nested dataclass as its dict (as ``asdict`` made it); any other value as it is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def run_options(run: GraphRun) -> dict[str, Any]:
    """What the SDK sends to start ``run`` (besides its thread and graph)."""
    modes = [_MODES[mode] for mode in run.stream_mode]
    if "custom" not in modes:
        modes.append("custom")  # errors the graph reports travel there
    options: dict[str, Any] = {
        "input": run.input,
        "context": context_json(run.context),
        "stream_mode": modes,
        "metadata": {**run.metadata, GATEWAY_RUN_ID: run.run_id},
        "multitask_strategy": "reject",
        "if_not_exists": "create",  # a thread the server lost (a restarted dev server) is made again
        "durability": run.durability,
        "stream_subgraphs": run.subgraphs,
    }
    if run.input is None and run.resume is not None:
        options["command"] = {"resume": run.resume}  # the answer to the question the thread waits on
    return options


async def run_parts(
    run: GraphRun, stream: AsyncIterator[StreamPart], created: dict[str, Any]
) -> AsyncIterator[RunPart]:
    """The parts of ``stream`` as the runtime yields them (the server's run id, once seen, goes into ``created``);
    the run's failure is raised as the error it reported."""
    reported: dict[str, Any] | None = None
    async for part in stream:
        event, _, namespace = part.event.partition("|")  # a subgraph's events are "<mode>|<namespace>"
        data = part.data
        if event == "values" and namespace:
            continue  # a subgraph's state: the run's parts are the graph's own
        if event == "messages" and isinstance(data, list | tuple) and len(data) == 2:
            message, meta = data
            content = message.get("content") if isinstance(message, dict) else None
            if message.get("type") == "AIMessageChunk" and isinstance(content, str) and content:
                yield "token", GraphToken(str(meta.get("langgraph_node") or ""), content)
        elif event == "custom":
            if isinstance(data, dict) and data.get("type") == ERROR_EVENT:
                reported = data
            else:
                yield "custom", data
        elif event == "values":
            yield "values", with_messages(data)
        elif event == "metadata" and isinstance(data, dict) and data.get("run_id"):
            created.setdefault("run_id", data["run_id"])
        elif event == "error":
            raise failure(run, data, reported)


def failure(run: GraphRun, data: Any, reported: dict[str, Any] | None) -> BaseException:
    """The error a failed run raises: the one the graph reported, else one named by the server's error event."""
    if reported is not None:
        return rebuilt(reported)
    name = data.get("error") if isinstance(data, dict) else None
    if name == "TimeoutError":
        return TimeoutError()
    log.error("run %s failed on the LangGraph Server: %s", run.run_id, data)
    return GraphFailed(str(name or "error"))


def with_messages(values: Any) -> Any:
    """A state from the server with its ``messages`` as LangChain messages."""
    if not isinstance(values, dict) or not isinstance(values.get("messages"), list):
        return values
    try:
        messages = messages_from_dict([{"type": m["type"], "data": m} for m in values["messages"]])
    except (KeyError, TypeError, ValueError):
        return values
    return {**values, "messages": messages}

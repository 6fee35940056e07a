"""Sessions on a LangGraph Server as histories: its threads, checkpoints, questions, abandons and forks, read and
written through the SDK into the records every runtime reports (:mod:`workbench.runtime.threads`).

What the server gives differs from an in-process checkpointer in a few ways, handled here:

- The subgraph a node calls (an agent spec's ``subgraph`` node) is no subgraph the server can walk: its
  namespaces are found by asking for the history of ``<node>:<task id>`` of every task the root history lists,
  and a question raised inside one comes with the root task's id only, so its namespace is the one of those that
  holds checkpoints. The server reads those checkpoints with the root graph, so their ``next`` is not known (it
  reports ``[]``); the question a namespace waits on is put on its newest checkpoint.
- A checkpoint's metadata cannot be written through the server's ``update_state``: a fork's origin is kept in its
  thread's metadata (:data:`~workbench.runtime.threads.FORKED_SESSION`, ``FORKED_CHECKPOINT``).
- A session none of whose turns finished is cleared by deleting its thread and making it again, empty, with its
  metadata (so other gateways find it where they expect it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable, Mapping
from typing import Any, cast

from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import Checkpoint as At

from workbench.runtime.base import GATEWAY_RUN_ID, GraphName, ThreadNotFound
from workbench.runtime.threads import (
    FORKED_CHECKPOINT,
    FORKED_SESSION,
    Checkpoint,
    Interrupt,
    ThreadStatus,
    ThreadSummary,
    checked_edits,
    first_question,
    fork_session,
    forked_from,
    message_dict,
    state_dict,
)

ThreadOf = Callable[[GraphName, str], str]
"""The server thread of a graph's session (:func:`workbench.runtime.remote.thread_id`)."""
PROBES_AT_ONCE = 8
"""Subgraph namespaces asked for at once while a history is read."""
STATUSES: dict[str, ThreadStatus] = {"interrupted": "waiting", "busy": "busy", "error": "error"}
LEFT_OUT = ("parents", "step", "source")
"""Checkpoint metadata a record shows in fields of its own."""


async def threads(client: LangGraphClient, graph: GraphName, limit: int) -> list[ThreadSummary]:
    """The graph's sessions, most recently changed first (threads that hold no state yet left out)."""
    found = await client.threads.search(metadata={"graph": graph}, limit=limit, sort_by="updated_at", sort_order="desc")
    summaries = []
    for item in found:
        metadata, values = item.get("metadata") or {}, item.get("values") or {}
        status = STATUSES.get(str(item.get("status")), "idle")
        if not values and status == "idle":
            continue
        waiting = item.get("interrupts") or {}
        summaries.append(
            ThreadSummary(
                graph=graph,
                session_id=str(metadata.get("session_id") or item["thread_id"]),
                status=status,
                updated_at=str(item.get("updated_at") or "") or None,
                first_question=first_question(values),
                checkpoint_id=None,
                forked_from=forked_from(metadata),
                interrupts=[_interrupt(i) for items in waiting.values() for i in items],
            )
        )
    return summaries


async def history(client: LangGraphClient, tid: str, limit: int) -> list[Checkpoint]:
    """The thread's checkpoints, newest first: the graph's own, then each subgraph namespace's."""
    root = await client.threads.get_history(tid, limit=limit)
    records = [_record(s, root[i + 1] if i + 1 < len(root) else None) for i, s in enumerate(root)]
    candidates = list(dict.fromkeys(ns for state in root for ns in _task_namespaces(state)))
    gate = asyncio.Semaphore(PROBES_AT_ONCE)

    async def inside(namespace: str) -> list[dict[str, Any]]:
        async with gate:
            return cast(
                list[dict[str, Any]],
                await client.threads.get_history(tid, limit=limit, checkpoint=_at(namespace=namespace)),
            )

    found = await asyncio.gather(*(inside(ns) for ns in candidates))
    pending: dict[str, list[Interrupt]] = {}
    for question in await waiting(
        client, tid, known=[ns for ns, states in zip(candidates, found, strict=True) if states]
    ):
        pending.setdefault(question.namespace, []).append(question)
    for namespace, states in zip(candidates, found, strict=True):
        for index, state in enumerate(states):
            record = _record(state, states[index + 1] if index + 1 < len(states) else None, namespace)
            if index == 0 and namespace in pending:
                record = dataclasses.replace(record, interrupts=pending[namespace])
            records.append(record)
    return records


async def waiting(client: LangGraphClient, tid: str, known: list[str] | None = None) -> list[Interrupt]:
    """What the thread waits on, with the subgraph namespace of each question (``known``: the namespaces found
    already; others are asked for)."""
    head = await client.threads.get_state(tid, subgraphs=True)
    found: list[Interrupt] = []
    seen: set[str] = set()
    for task in head.get("tasks") or []:
        if not task.get("interrupts"):
            continue
        namespace = await _namespace_of(client, tid, task, known)
        for item in task["interrupts"]:
            if str(item.get("id")) not in seen:
                seen.add(str(item.get("id")))
                found.append(_interrupt(item, namespace))
    found += [_interrupt(i) for i in head.get("interrupts") or [] if str(i.get("id")) not in seen]
    return found


async def abandon(client: LangGraphClient, tid: str, metadata: dict[str, Any]) -> bool:
    """Drop the question the thread waits on: a copy of the checkpoint where its last finished turn ended becomes
    the head, or the thread is made again empty when none finished. False when it waits on nothing."""
    if not await waiting(client, tid, known=[]):
        return False
    before: str | None = None
    while True:
        page = await client.threads.get_history(tid, limit=100, before=before)
        for state in page:
            if not state.get("next") and not state.get("interrupts"):
                await client.threads.update_state(tid, None, as_node="__copy__", checkpoint=_at(_id(state)))
                return True
        if len(page) < 100:
            break
        before = _id(page[-1])
    await client.threads.delete(tid)
    await client.threads.create(thread_id=tid, if_exists="do_nothing", metadata=metadata)
    return True


async def fork(
    client: LangGraphClient,
    thread_of: ThreadOf,
    graph: GraphName,
    thread: str,
    checkpoint_id: str,
    values: dict[str, Any] | None,
) -> tuple[str, Checkpoint]:
    """A new session holding ``thread``'s state at ``checkpoint_id`` with ``values`` written over it (see
    :meth:`workbench.runtime.base.GraphRuntime.fork`)."""
    edits = _edits(await _fields(client, graph), values or {})
    tid = thread_of(graph, thread)
    snapshot = await client.threads.get_state(tid, checkpoint=_at(checkpoint_id))
    if not snapshot.get("checkpoint") or (not snapshot.get("values") and not snapshot.get("next")):
        raise ThreadNotFound(f"session {thread!r} of {graph} has no checkpoint {checkpoint_id!r}")
    writer = await _writer(client, tid, snapshot)
    session = fork_session(thread, uuid.uuid4().hex[:8])
    linked = {"session_id": session, "graph": graph, FORKED_SESSION: thread, FORKED_CHECKPOINT: checkpoint_id}
    forked = thread_of(graph, session)
    await client.threads.create(thread_id=forked, metadata=linked, graph_id=graph)
    await client.threads.update_state(forked, snapshot.get("values") or {}, as_node=writer)
    if edits:
        await client.threads.update_state(forked, edits, as_node=writer)
        state = (await client.threads.get_state(forked)).get("values")
        written = state if isinstance(state, dict) else {}
        dropped = sorted(k for k, v in edits.items() if k != "messages" and written.get(k) != v)
        if dropped:  # a run's start takes only its input fields; the server drops the others without a word
            await client.threads.delete(forked)
            raise ValueError(
                f"this checkpoint is a {writer} step, which cannot write {', '.join(dropped)}; fork from the step "
                "that writes it"
            )
    head = await client.threads.get_history(forked, limit=2)
    return session, _record(head[0], head[1] if len(head) > 1 else None)


async def _fields(client: LangGraphClient, graph: GraphName) -> list[str]:
    """The graph's state fields, from the schema the server reports for it."""
    assistants = await client.assistants.search(graph_id=graph, limit=1)
    if not assistants:
        raise ThreadNotFound(f"the LangGraph Server does not serve a graph called {graph!r}")
    schemas = await client.assistants.get_schemas(assistants[0]["assistant_id"])
    properties = (schemas.get("state_schema") or {}).get("properties") or {}
    return sorted(k for k in properties if not str(k).startswith("__"))


def _edits(known: list[str], values: dict[str, Any]) -> dict[str, Any]:
    """A fork's edits checked against the graph's state fields, as JSON the server takes (messages as dicts)."""
    edits = checked_edits(known, values)
    if "messages" in edits:
        edits["messages"] = [message_dict(m) for m in edits["messages"]]
    return edits


async def _writer(client: LangGraphClient, tid: str, snapshot: Mapping[str, Any]) -> str:
    """The node whose step made checkpoint ``snapshot``: a fork writes its state as that node would have."""
    parent = snapshot.get("parent_checkpoint") or {}
    if (snapshot.get("metadata") or {}).get("source") == "input" or not parent.get("checkpoint_id"):
        raise ValueError(
            "this checkpoint holds a run's input before any step ran; fork from the step before or after it"
        )
    before = await client.threads.get_state(tid, checkpoint=_at(str(parent["checkpoint_id"])))
    if not before.get("next"):
        raise ValueError("this checkpoint's step is not known; fork from another one")
    return str(before["next"][0])


async def _namespace_of(client: LangGraphClient, tid: str, task: Mapping[str, Any], known: list[str] | None) -> str:
    """The subgraph namespace a waiting task's question was raised in (``""``: the task's node itself)."""
    state = task.get("state")
    if isinstance(state, Mapping):
        return str((state.get("checkpoint") or {}).get("checkpoint_ns") or "")
    namespace = f"{task.get('name')}:{task.get('id')}"
    if known is not None and namespace in known:
        return namespace
    if known is None and await client.threads.get_history(tid, limit=1, checkpoint=_at(namespace=namespace)):
        return namespace
    return ""


def _task_namespaces(state: Mapping[str, Any]) -> list[str]:
    """The namespaces a subgraph called by one of the checkpoint's next tasks would have saved under."""
    return [f"{t.get('name')}:{t.get('id')}" for t in state.get("tasks") or [] if t.get("name") != "__start__"]


def _at(checkpoint_id: str | None = None, namespace: str = "") -> At:
    """Where on a thread to read or write: a checkpoint of the graph's own, or the head of a subgraph namespace."""
    return cast(At, {"checkpoint_ns": namespace} | ({"checkpoint_id": checkpoint_id} if checkpoint_id else {}))


def _interrupt(item: Mapping[str, Any], namespace: str = "") -> Interrupt:
    return Interrupt(str(item.get("id") or ""), item.get("value"), namespace)


def _id(state: Mapping[str, Any]) -> str:
    return str((state.get("checkpoint") or {}).get("checkpoint_id") or state.get("checkpoint_id") or "")


def _record(state: Mapping[str, Any], parent: Mapping[str, Any] | None, namespace: str = "") -> Checkpoint:
    """A server thread state as a history record; ``parent``: the state before it (whose next tasks made it)."""
    metadata = dict(state.get("metadata") or {})
    source = str(metadata.get("source") or "")
    node = "input" if source == "input" else ", ".join((parent or {}).get("next") or []) or source
    parent_id = (state.get("parent_checkpoint") or {}).get("checkpoint_id")
    step = metadata.get("step")
    run_id = metadata.get(GATEWAY_RUN_ID) or metadata.get("run_id")
    return Checkpoint(
        checkpoint_id=_id(state),
        parent_id=str(parent_id) if parent_id else None,
        namespace=namespace,
        step=step if isinstance(step, int) else -1,
        source=source,
        node=node,
        next=[str(n) for n in state.get("next") or []],
        created_at=str(state.get("created_at") or "") or None,
        run_id=str(run_id) if run_id else None,
        values=state_dict(state.get("values") or {}),
        interrupts=[_interrupt(i, namespace) for i in state.get("interrupts") or []],
        metadata=state_dict({k: v for k, v in metadata.items() if k not in LEFT_OUT}),
    )

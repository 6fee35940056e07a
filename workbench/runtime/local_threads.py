"""Sessions of in-process graphs as histories: every saved step of a thread (its subgraphs' namespaces included),
the session's settled state, a finished-or-waiting head restored after a turn that did not end, forks.

A session turn saves a checkpoint after each step (so its history can be read and forked at any step), and only a
turn that ended, or stopped on an ``interrupt``, counts: a checkpoint whose graph still had nodes to run and no
question to wait on is a turn cut short (it failed, was aborted, or its process died). The session's state is its
last *settled* checkpoint (:func:`is_settled`: a fork or an edit settles too); a turn cut short is rolled back by
copying that checkpoint to the head (LangGraph's ``__copy__`` update), so the next turn starts where the last one
ended and the cut-short steps stay in the history for debugging.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.types import StateSnapshot

from workbench.runtime.threads import (
    Checkpoint,
    Interrupt,
    ThreadStatus,
    ThreadSummary,
    first_question,
    forked_from,
    state_dict,
)

INTERRUPT_CHANNEL = "__interrupt__"
WRITTEN_AS = "workbench.written_as"
"""Checkpoint metadata of a fork's edit: the node its state was written as."""
SETTLED = "workbench.settled_from"
"""Checkpoint metadata of a head copied back after a turn cut short: the id of the checkpoint it copies."""


def is_settled(snapshot: StateSnapshot) -> bool:
    """Whether a checkpoint is one a session may rest on: a turn ended there (nothing left to run, or waiting on an
    interrupt), or someone wrote it (a fork or an edit, which runs on from there when asked)."""
    source = (snapshot.metadata or {}).get("source")
    return not snapshot.next or bool(snapshot.interrupts) or source in ("update", "fork")


def config_of(thread: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


async def settled(graph: Any, thread: str) -> StateSnapshot | None:
    """The thread's last settled checkpoint (None: the thread has none, e.g. its first turn never ended)."""
    head: StateSnapshot = await graph.aget_state(config_of(thread))
    if not head.values and not head.next:
        return None
    if is_settled(head):
        return head
    async for snapshot in graph.aget_state_history(config_of(thread)):
        if is_settled(snapshot):
            return snapshot
    return None


async def restore(graph: Any, checkpointer: BaseCheckpointSaver, thread: str) -> bool:
    """Roll a thread whose head is a turn cut short back to its last settled checkpoint (a copy of it becomes the
    head), or clear a thread whose first turn never ended. True when something was rolled back."""
    head: StateSnapshot = await graph.aget_state(config_of(thread))
    if is_settled(head) or (not head.values and not head.next):
        return False
    last = await settled(graph, thread)
    if last is None:
        await checkpointer.adelete_thread(thread)
        return True
    copied = dict(last.config)
    copied["metadata"] = {SETTLED: last.config["configurable"]["checkpoint_id"]}
    await graph.aupdate_state(copied, None, as_node="__copy__")
    return True


async def abandon(graph: Any, checkpointer: BaseCheckpointSaver, thread: str) -> bool:
    """Drop the question a session waits on: the checkpoint where its last finished turn ended becomes the head
    again (a copy), or the session is cleared when no turn of it finished. False when it waits on nothing."""
    head: StateSnapshot = await graph.aget_state(config_of(thread))
    if not head.interrupts:
        return False
    async for snapshot in graph.aget_state_history(config_of(thread)):
        if not snapshot.next and not snapshot.interrupts:
            copied = dict(snapshot.config)
            copied["metadata"] = {SETTLED: snapshot.config["configurable"]["checkpoint_id"]}
            await graph.aupdate_state(copied, None, as_node="__copy__")
            return True
    await checkpointer.adelete_thread(thread)
    return True


async def pending_interrupts(graph: Any, checkpointer: BaseCheckpointSaver | None, thread: str) -> list[Interrupt]:
    """What the thread waits on, with the subgraph namespace of each question (none when it does not wait).

    LangGraph names the namespace of a question asked in a subgraph it can walk to; one a node calls from inside
    its own code is found where the checkpointer saved the question (the subgraph namespace's pending write)."""
    head: StateSnapshot = await graph.aget_state(config_of(thread), subgraphs=True)
    found: dict[str, Interrupt] = {}
    for task in head.tasks:
        namespace = ""
        if isinstance(task.state, StateSnapshot):
            namespace = str(task.state.config["configurable"].get("checkpoint_ns") or "")
        for item in task.interrupts:
            found.setdefault(item.id, Interrupt(item.id, item.value, namespace))
    for item in head.interrupts:
        found.setdefault(item.id, Interrupt(item.id, item.value))
    unplaced = {ident for ident, question in found.items() if not question.namespace}
    if unplaced and checkpointer is not None:
        async for saved in checkpointer.alist(config_of(thread)):
            namespace = str(saved.config["configurable"].get("checkpoint_ns") or "")
            for _, channel, value in saved.pending_writes or [] if namespace else []:
                for item in value if channel == INTERRUPT_CHANNEL and isinstance(value, list | tuple) else []:
                    ident = str(getattr(item, "id", ""))
                    if ident in unplaced:
                        found[ident] = Interrupt(ident, found[ident].value, namespace)
                        unplaced.discard(ident)
            if not unplaced:
                break
    return list(found.values())


async def history(graph: Any, checkpointer: BaseCheckpointSaver, thread: str, limit: int = 200) -> list[Checkpoint]:
    """Every checkpoint of the thread, newest first: the graph's own (as ``aget_state_history`` reports them),
    then each subgraph namespace's (read from the checkpointer: a subgraph a node calls is not a node LangGraph
    can walk to)."""
    records: list[Checkpoint] = []
    snapshots = [s async for s in graph.aget_state_history(config_of(thread), limit=limit)]
    for index, snapshot in enumerate(snapshots):
        parent = snapshots[index + 1] if index + 1 < len(snapshots) else None
        records.append(_from_snapshot(snapshot, parent))
    by_namespace: dict[str, list[CheckpointTuple]] = {}
    async for item in _all_namespaces(checkpointer, thread, limit * 4):
        namespace = str(item.config["configurable"].get("checkpoint_ns") or "")
        if namespace:
            by_namespace.setdefault(namespace, []).append(item)
    for namespace, items in by_namespace.items():
        for index, item in enumerate(items):
            records.append(_from_tuple(namespace, item, items[index + 1] if index + 1 < len(items) else None))
    return records


async def threads(checkpointer: BaseCheckpointSaver, owner: Any, graph: str, limit: int = 50) -> list[ThreadSummary]:
    """The graph's sessions, most recently changed first. ``owner(thread_id, metadata)`` says which graph and
    session a thread holds (None: another graph's)."""
    latest: dict[str, CheckpointTuple] = {}
    first: dict[str, CheckpointTuple] = {}
    async for item in checkpointer.alist(None):
        configurable = item.config["configurable"]
        if configurable.get("checkpoint_ns"):
            continue
        thread = str(configurable["thread_id"])
        if thread not in latest or _id(item) > _id(latest[thread]):
            latest[thread] = item
        if thread not in first or _id(item) < _id(first[thread]):
            first[thread] = item
    summaries = []
    for thread, item in latest.items():
        owned = owner(thread, item.metadata or {})
        if owned is None or owned[0] != graph:
            continue
        values = item.checkpoint.get("channel_values") or {}
        waiting = [w for w in item.pending_writes or [] if w[1] == INTERRUPT_CHANNEL]
        status: ThreadStatus = "waiting" if waiting else "idle"
        forked = forked_from(first[thread].metadata or {})
        summaries.append(
            ThreadSummary(
                graph=graph,
                session_id=owned[1],
                status=status,
                updated_at=str(item.checkpoint.get("ts") or "") or None,
                first_question=first_question(values),
                checkpoint_id=_id(item),
                forked_from=forked,
            )
        )
    summaries.sort(key=lambda s: s.updated_at or "", reverse=True)
    return summaries[:limit]


async def _all_namespaces(checkpointer: BaseCheckpointSaver, thread: str, limit: int) -> AsyncIterator[CheckpointTuple]:
    async for item in checkpointer.alist(config_of(thread), limit=limit):
        yield item


def _id(item: CheckpointTuple) -> str:
    return str(item.config["configurable"]["checkpoint_id"])


def _writer(snapshot: StateSnapshot, parent: StateSnapshot | None) -> str:
    metadata: dict[str, Any] = dict(snapshot.metadata or {})
    source = metadata.get("source")
    if source == "input":
        return "input"
    if metadata.get(WRITTEN_AS):
        return str(metadata[WRITTEN_AS])
    if source == "fork":
        return "copy"
    if parent is not None and parent.next:
        return ", ".join(parent.next)
    return str(source or "")


def _from_snapshot(snapshot: StateSnapshot, parent: StateSnapshot | None) -> Checkpoint:
    metadata = dict(snapshot.metadata or {})
    configurable = snapshot.config["configurable"]
    parent_id = (snapshot.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return Checkpoint(
        checkpoint_id=str(configurable["checkpoint_id"]),
        parent_id=str(parent_id) if parent_id else None,
        namespace="",
        step=_step(metadata),
        source=str(metadata.get("source") or ""),
        node=_writer(snapshot, parent),
        next=list(snapshot.next),
        created_at=snapshot.created_at,
        run_id=_run_id(metadata),
        values=state_dict(snapshot.values),
        interrupts=[Interrupt(i.id, i.value) for i in snapshot.interrupts],
        metadata=state_dict({k: v for k, v in metadata.items() if k not in ("parents", "step", "source")}),
    )


def _next_of(item: CheckpointTuple | None) -> list[str]:
    """The nodes a saved checkpoint scheduled (LangGraph writes a ``branch:to:<node>`` channel for each)."""
    if item is None:
        return []
    updated = item.checkpoint.get("updated_channels") or []
    return [str(c)[len("branch:to:") :] for c in updated if str(c).startswith("branch:to:")]


def _from_tuple(namespace: str, item: CheckpointTuple, parent: CheckpointTuple | None) -> Checkpoint:
    metadata = dict(item.metadata or {})
    source = str(metadata.get("source") or "")
    parent_id = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    waiting = [w for w in item.pending_writes or [] if w[1] == INTERRUPT_CHANNEL]
    return Checkpoint(
        checkpoint_id=_id(item),
        parent_id=str(parent_id) if parent_id else None,
        namespace=namespace,
        step=_step(metadata),
        source=source,
        node="input" if source == "input" else ", ".join(_next_of(parent)) or source,
        next=_next_of(item),
        created_at=str(item.checkpoint.get("ts") or "") or None,
        run_id=_run_id(metadata),
        values=state_dict(item.checkpoint.get("channel_values") or {}),
        interrupts=[
            Interrupt(str(getattr(v, "id", "")), getattr(v, "value", v), namespace)
            for w in waiting
            for v in (w[2] if isinstance(w[2], list | tuple) else [w[2]])
        ],  # fmt: skip
        metadata=state_dict({k: v for k, v in metadata.items() if k not in ("parents", "step", "source")}),
    )


def _run_id(metadata: dict[str, Any]) -> str | None:
    value = metadata.get("run_id")
    return str(value) if value else None


def _step(metadata: dict[str, Any]) -> int:
    step = metadata.get("step")
    return step if isinstance(step, int) else -1

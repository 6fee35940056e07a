"""A fork of an in-process session: a new thread holding another's state at one of its checkpoints, written as
the node that made that checkpoint would have written it (LangGraph's ``update_state``), then the user's edits
the same way, so the fork runs on from the node after it. The fork's first checkpoint names where it came from.
"""

from __future__ import annotations

from typing import Any, get_type_hints

from langchain_core.runnables import RunnableConfig

from workbench.runtime.base import ThreadNotFound
from workbench.runtime.local_threads import WRITTEN_AS, config_of
from workbench.runtime.threads import FORKED_CHECKPOINT, FORKED_SESSION, checked_edits


async def fork(
    graph: Any, name: str, origin: tuple[str, str], checkpoint_id: str, target: str, values: dict[str, Any]
) -> None:
    """Write thread ``target`` of graph ``name`` as a fork of session ``origin`` (its id and its checkpointer
    thread) at ``checkpoint_id``, with ``values`` edited in. :class:`ThreadNotFound` for an unknown checkpoint,
    ``ValueError`` (its message for the user) for an edit the fork cannot make."""
    session, source = origin
    edits = _edits(graph, values)
    snapshot = await graph.aget_state(config_of(source, checkpoint_id))
    if not snapshot.values and not snapshot.next:
        raise ThreadNotFound(f"session {session!r} of {name} has no checkpoint {checkpoint_id!r}")
    writer = await _writer(graph, snapshot)
    _writable(graph, writer, edits)
    config = config_of(target)
    config["metadata"] = {"graph": name, FORKED_SESSION: session, FORKED_CHECKPOINT: checkpoint_id, WRITTEN_AS: writer}
    config = await graph.aupdate_state(config, snapshot.values, as_node=writer)
    if edits:
        edited: RunnableConfig = {**config, "metadata": {"graph": name, WRITTEN_AS: writer}}
        await graph.aupdate_state(edited, edits, as_node=writer)


async def _writer(graph: Any, snapshot: Any) -> str:
    """The node whose step made checkpoint ``snapshot``: a fork writes its state as that node would have."""
    if (snapshot.metadata or {}).get("source") == "input" or snapshot.parent_config is None:
        raise ValueError(
            "this checkpoint holds a run's input before any step ran; fork from the step before or after it"
        )
    parent = await graph.aget_state(snapshot.parent_config)
    if not parent.next:
        raise ValueError("this checkpoint's step is not known; fork from another one")
    return str(parent.next[0])


def _edits(graph: Any, values: dict[str, Any]) -> dict[str, Any]:
    """A fork's edits checked against the graph's state fields (its channels, LangGraph's own left out)."""
    return checked_edits(sorted(k for k in graph.channels if not k.startswith(("__", "branch:"))), values)


def _writable(graph: Any, writer: str, edits: dict[str, Any]) -> None:
    """Refuse edits the fork cannot make as ``writer``: the state a run starts with is written as its input, which
    takes only the graph's input fields (LangGraph would drop the others without a word)."""
    if writer != "__start__" or not edits:
        return
    schema = getattr(graph.builder, "input_schema", None)
    fields = set(get_type_hints(schema)) if schema is not None else set(edits)
    refused = sorted(set(edits) - fields)
    if refused:
        raise ValueError(
            f"this checkpoint is a run's start, where only its input ({', '.join(sorted(fields))}) can change; to "
            f"change {', '.join(refused)}, fork from the step that writes it"
        )

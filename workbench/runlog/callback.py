"""A LangChain callback handler that logs every LangGraph run: one ``runs`` row plus its node/LLM/tool events.

Attach it where every invocation passes, the compiled graph's config::

    graph = builder.compile(name="chat").with_config(callbacks=[RunLogCallback()])

The row's ``run_id`` is the LangChain root run id: pass ``config={"run_id": uuid4()}`` to choose it (a run a
gateway started on a LangGraph Server is logged under the id the gateway announced, ``metadata[GATEWAY_RUN_ID]``).
Fields come from the config's ``metadata``: ``entry_point`` (default "langgraph"), ``session_id`` (else LangGraph's
``thread_id``), ``model``, ``prompt_version``. The row's ``model`` is, from the strongest source down: a node's
:data:`RUNLOG_EVENT`, a ``model`` key in the final state, ``metadata["model"]``, the LLM calls'
``ls_provider/ls_model_name`` (so a run aborted midway names its model as a finished one does when the graph or
its caller says which model it runs); other scalar metadata (an eval's
``example_id``, LangGraph Server's ``assistant_id``...) goes into the row's ``metadata``. A node adds fields by
dispatching a custom event named :data:`RUNLOG_EVENT`, e.g. ``await adispatch_custom_event(RUNLOG_EVENT,
{"prompt_version": "v2", "stt_ms": 120})``: run fields are set, other keys go into ``metadata``.

While a run streams, its row is logged again with the text so far every ``checkpoint_interval`` seconds, so a
crash loses at most that much of its output.

Cancellation: when the task consuming ``astream`` is cancelled, or stops iterating, LangGraph reports the root
run's error (``CancelledError`` / ``GeneratorExit``) before the cancelled task resumes, so the run is logged as
'aborted' with the text streamed so far. ``finish_open_runs()`` / ``abort(run_id)`` cover callers that want to
be sure (call them in a ``finally``): a run is logged as finished once, never twice. An outer
``asyncio.timeout`` also reaches the graph as a cancellation; to record it as a timeout, call
``abort(run_id, status="error", error="timed out")`` when it fires: that corrects the run just logged 'aborted'.
(A ``TimeoutError`` raised inside the graph is logged as 'error' / "timed out" by itself.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from workbench.runlog.extract import (
    GATEWAY_RUN_ID,
    TEXT_LIMIT,
    classify_error,
    input_text,
    retrieved_docs,
    row_id,
    text_of,
)
from workbench.runlog.in_flight import RunsInFlight
from workbench.runlog.open_run import FROM_EVENT, FROM_LLM, FROM_PROVIDER, OpenRun
from workbench.runlog.schema import RunRecord
from workbench.runlog.semconv import (
    llm_end_attributes,
    llm_start_attributes,
    retrieval_end_attributes,
    run_attributes,
    tool_end_attributes,
    tool_start_attributes,
)
from workbench.runlog.spans import Attributes
from workbench.runlog.writer import utcnow

if TYPE_CHECKING:
    from workbench.runlog.writer import RunLog

__all__ = ["GATEWAY_RUN_ID", "RUNLOG_EVENT", "TEXT_LIMIT", "RunLogCallback", "row_id", "unstarted_run"]

RUNLOG_EVENT = "workbench.runlog"
"""Name of the custom event a node dispatches to add fields to its run's row."""

_RUN_FIELDS = frozenset({"model", "prompt_version", "session_id", "entry_point", "input"})
_NOT_EXTRAS = _RUN_FIELDS | {"thread_id", "checkpoint_ns", "checkpoint_id", GATEWAY_RUN_ID}


def unstarted_run(run_id: str, graph: str, status: str, error: str | None, **fields: Any) -> RunRecord:
    """The row of a run stopped before its graph started: no output, started and ended now."""
    now = utcnow()
    return RunRecord(run_id, graph, status=status, error=error, output="", started_at=now, ended_at=now, **fields)


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class RunLogCallback(RunsInFlight, BaseCallbackHandler):
    """Turns LangGraph runs into run-log rows. Cheap to build: it touches the run log on the first run only.

    One instance serves concurrent runs (state keyed by root run id, guarded by a lock). It runs inline, so
    events arrive in order and are never handed to an executor thread; each handler only updates memory and
    enqueues records. A chain whose parent this handler has not seen is a root (a new run). The callbacks are here;
    what becomes of a run once open (how it ends, ``abort``, ``relog``, ``settle``) is
    :class:`~workbench.runlog.in_flight.RunsInFlight`'s.
    """

    run_inline = True
    raise_error = False

    def __init__(self, runlog: RunLog | None = None, *, checkpoint_interval: float = 0.5) -> None:
        super().__init__(runlog)
        self.checkpoint_interval = checkpoint_interval

    # -- chains: the graph itself and its nodes ------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "graph")
        metadata = metadata or {}
        with self._lock:
            run = self._child(run_id, parent_run_id)
            if run is not None:
                if metadata.get("langgraph_node") == name and not run.is_node(parent_run_id, name):
                    attributes = {"workbench.step": metadata.get("langgraph_step"), "workbench.node": name}
                    namespace = metadata.get("langgraph_checkpoint_ns")
                    if isinstance(namespace, str) and "|" in namespace:  # a node of a subgraph
                        attributes["workbench.namespace"] = namespace.rsplit("|", 1)[0].split(":", 1)[0]
                    run.open_span(run_id, parent_run_id, "node", name, attributes)
                else:
                    run.pass_through(run_id, parent_run_id)
                return
            if parent_run_id in self._finished:  # a straggler of a run already logged (e.g. a cancelled thread)
                self._remember_finished(run_id)
                return
            record = RunRecord(
                run_id=row_id(run_id, metadata),
                graph=name,
                entry_point=str(metadata.get("entry_point") or "langgraph"),
                session_id=_str_or_none(metadata.get("session_id") or metadata.get("thread_id")),
                model=_str_or_none(metadata.get("model")),
                prompt_version=_str_or_none(metadata.get("prompt_version")),
                input=input_text(inputs),
                status="running",
                started_at=utcnow(),
            )
            self._spans.hold(record.run_id)  # its spans leave with its last row (or every few seconds)
            self._open[run_id] = run = OpenRun(record, self.tracing, run_attributes(record, metadata))
            run.extras.update(
                (key, value)
                for key, value in metadata.items()
                if key not in _NOT_EXTRAS
                and not key.startswith(("langgraph_", "ls_", "lc_", "__"))
                and isinstance(value, str | int | float | bool)
            )
            self._root_of[run_id] = run_id
        self._log_run(record)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if not self._finish(run_id, "ok", None, outputs):
            self._close_child(run_id, "ok")

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        status, text = classify_error(error)
        if not self._finish(run_id, status, text or None, None):
            self._close_child(run_id, status, text if status == "error" else None)

    # -- LLM calls, tools, retrievers ----------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        name, provider = metadata.get("ls_model_name"), metadata.get("ls_provider")
        model = (f"{provider}/{name}" if provider else str(name)) if name else _str_or_none(provider)
        node = metadata.get("langgraph_node") or kwargs.get("name") or (serialized or {}).get("name") or "llm"
        with self._lock:
            run = self._child(run_id, parent_run_id)
            if run is not None:
                run.note_model(model, FROM_LLM if name else FROM_PROVIDER)
                params = kwargs.get("invocation_params")
                attributes = llm_start_attributes(messages, metadata, params, str(node)) if run.recording else {}
                run.open_span(run_id, parent_run_id, "llm", f"chat {name or provider or node}", attributes)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.on_chat_model_start(
            serialized, [prompts], run_id=run_id, parent_run_id=parent_run_id, metadata=metadata, **kwargs
        )

    def on_llm_new_token(self, token: Any, *, run_id: UUID, chunk: Any = None, **kwargs: Any) -> None:
        text = text_of(token) or text_of(getattr(getattr(chunk, "message", None), "content", None))
        with self._lock:
            run = self._run_of(run_id)
            checkpoint = run.on_token(run_id, text, self.checkpoint_interval) if run is not None else None
            if checkpoint is not None:  # under the lock: the final row cannot be queued before it
                self._log_run(checkpoint)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run = self._run_of(run_id)
            if run is not None:
                attributes = llm_end_attributes(response) if run.recording else Attributes()
                run.on_llm_end(run_id, response, attributes)
                run.close_span(run_id, "ok", attributes=attributes.done())

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_child(run_id, *classify_error(error))

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
        attributes = tool_start_attributes(name, kwargs.get("inputs"), input_str, kwargs.get("tool_call_id"))
        self._open_child(run_id, parent_run_id, "tool", f"execute_tool {name}", attributes)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_child(run_id, "ok", attributes=tool_end_attributes(output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_child(run_id, *classify_error(error))

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "retrieval")
        attributes = {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.query.text": query}
        self._open_child(run_id, parent_run_id, "retrieval", name, attributes)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_child(run_id, "ok", attributes=retrieval_end_attributes(documents))

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_child(run_id, *classify_error(error))

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if name != RUNLOG_EVENT or not isinstance(data, dict):
            return
        with self._lock:
            run = self._run_of(run_id)
            if run is None:
                return
            for key, value in data.items():
                if key == "retrieved":
                    run.record.retrieved = retrieved_docs(value)
                elif key == "model":
                    run.note_model(_str_or_none(value), FROM_EVENT)
                elif key in _RUN_FIELDS:
                    setattr(run.record, key, _str_or_none(value))
                else:
                    run.extras[key] = value

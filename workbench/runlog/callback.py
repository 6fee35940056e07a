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

import asyncio
import dataclasses
import json
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from workbench.errors import StorageUnavailable
from workbench.runlog.redact import redact, redact_text, redacted_events, redacted_run
from workbench.runlog.schema import EventRecord, RunRecord
from workbench.runlog.shared import get_runlog
from workbench.runlog.writer import utcnow

if TYPE_CHECKING:
    from workbench.runlog.writer import RunLog

RUNLOG_EVENT = "workbench.runlog"
"""Name of the custom event a node dispatches to add fields to its run's row."""

TEXT_LIMIT = 20_000
_ELIDE_OVER = 2_000
_RUN_FIELDS = frozenset({"model", "prompt_version", "session_id", "entry_point", "input"})
GATEWAY_RUN_ID = "workbench_run_id"
"""Metadata naming the run id a gateway announced for a run it started on a LangGraph Server: the row takes it."""
_NOT_EXTRAS = _RUN_FIELDS | {"thread_id", "checkpoint_ns", "checkpoint_id", GATEWAY_RUN_ID}
_RETRIEVED_KEYS = ("chunk_id", "source", "score", "dense_score", "sparse_score")
_FINISHED_MEMORY = 10_000
# Where a run's model name came from, weakest first: a stronger source replaces a weaker one, never the reverse.
_FROM_PROVIDER, _FROM_LLM, _FROM_METADATA, _FROM_OUTPUT, _FROM_EVENT = range(1, 6)
_ENDED_MEMORY = 256


def unstarted_run(run_id: str, graph: str, status: str, error: str | None, **fields: Any) -> RunRecord:
    """The row of a run stopped before its graph started: no output, started and ended now."""
    now = utcnow()
    return RunRecord(run_id, graph, status=status, error=error, output="", started_at=now, ended_at=now, **fields)


def row_id(run_id: UUID, metadata: dict[str, Any]) -> str:
    """The id a root run is logged under: the gateway's (a UUID in its metadata), else LangChain's."""
    announced = metadata.get(GATEWAY_RUN_ID)
    if isinstance(announced, str):
        try:
            return str(UUID(announced))
        except ValueError:
            pass
    return str(run_id)


def classify_error(error: BaseException) -> tuple[str, str]:
    """``(status, error text)`` for a run or step that ended with ``error``."""
    name = type(error).__name__
    if isinstance(error, asyncio.CancelledError | GeneratorExit | KeyboardInterrupt):
        return "aborted", name
    if isinstance(error, TimeoutError):
        return "error", "timed out"
    if name in {"GraphInterrupt", "NodeInterrupt"}:
        return "interrupted", name
    if name == "ParentCommand":  # LangGraph control flow (Command(graph=Command.PARENT)), not a failure
        return "ok", ""
    return "error", f"{name}: {error}"[:TEXT_LIMIT]


def text_of(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p if isinstance(p, str) else p.get("text", "") if isinstance(p, dict) else "" for p in content)
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def _role_and_content(message: Any) -> tuple[str, Any]:
    if isinstance(message, dict):
        return str(message.get("role") or message.get("type") or ""), message.get("content")
    if isinstance(message, tuple | list) and len(message) == 2:
        return str(message[0]), message[1]
    if isinstance(message, str):
        return "human", message
    return str(getattr(message, "type", "")), getattr(message, "content", None)


def _last_message_text(state: Any, roles: set[str]) -> str | None:
    messages = state.get("messages") if isinstance(state, dict) else None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        role, content = _role_and_content(message)
        if role in roles:
            return text_of(content)
    return None


def _elide(value: Any) -> Any:
    """Long strings (base64 audio, file contents) shortened to their length, so JSON text stays readable."""
    if isinstance(value, str) and len(value) > _ELIDE_OVER:
        return f"<{len(value)} chars>"
    if isinstance(value, dict):
        return {key: _elide(item) for key, item in value.items()}
    return value


def _json_text(value: Any) -> str:
    """JSON of ``value`` with audio and binary data replaced by their size and hash (see
    :mod:`workbench.runlog.redact`) and other long strings by their length."""
    try:
        return redact_text(json.dumps(_elide(redact(value)), default=str, ensure_ascii=False))[:TEXT_LIMIT]
    except (TypeError, ValueError):
        return redact_text(str(value))[:TEXT_LIMIT]


def input_text(inputs: Any) -> str:
    """Readable text of a run's inputs: the last human message, else JSON (truncated to 20k chars); audio and
    binary data appear as their size and hash only."""
    if isinstance(inputs, str):
        return redact_text(inputs)[:TEXT_LIMIT]
    text = _last_message_text(inputs, {"human", "user"})
    return redact_text(text)[:TEXT_LIMIT] if text is not None else _json_text(inputs)


def output_text(outputs: Any) -> str:
    """Readable text of a run's outputs: the last AI message, else JSON (truncated to 20k chars); audio and
    binary data appear as their size and hash only."""
    if isinstance(outputs, str):
        return redact_text(outputs)[:TEXT_LIMIT]
    text = _last_message_text(outputs, {"ai", "assistant", "AIMessageChunk"})
    return redact_text(text)[:TEXT_LIMIT] if text is not None else _json_text(outputs)


def retrieved_docs(value: Any) -> list[dict[str, Any]] | None:
    """Retrieved documents (dicts, or LangChain ``Document``s) reduced to chunk_id, source and scores."""
    if not isinstance(value, list | tuple):
        return None
    docs = []
    for item in value:
        data = (
            item
            if isinstance(item, dict)
            else {"chunk_id": getattr(item, "id", None), **(getattr(item, "metadata", None) or {})}
        )
        docs.append({key: data.get(key) for key in _RETRIEVED_KEYS})
    return docs


def _token_usage(response: Any) -> tuple[int, int] | None:
    """``(input, output)`` tokens reported in an ``LLMResult``, or None when the provider gave none."""
    found, tokens_in, tokens_out = False, 0, 0
    for generation in (g for gens in getattr(response, "generations", None) or [] for g in gens):
        usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
        if usage:
            found, tokens_in, tokens_out = True, tokens_in + usage["input_tokens"], tokens_out + usage["output_tokens"]
    llm_output = getattr(response, "llm_output", None) or {}
    usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not found and isinstance(usage, dict) and ("prompt_tokens" in usage or "completion_tokens" in usage):
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return (tokens_in, tokens_out) if found else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class _OpenRun:
    """What is known about one run in flight; touched only under the handler's lock."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.t0 = time.perf_counter()
        self.children: set[UUID] = set()
        self.open_events: dict[UUID, tuple[EventRecord, float]] = {}
        self.done: list[EventRecord] = []
        self.extras: dict[str, Any] = {}
        self.streamed: dict[UUID, list[str]] = {}
        self.last_streamed: UUID | None = None
        self.tokens_in = self.tokens_out = 0
        self.usage_seen = self.estimated = False
        self.model_rank = _FROM_METADATA if record.model else 0
        self.models: list[str] = []
        self.checkpoint_at = self.t0

    def open_event(self, run_id: UUID, kind: str, node: str, detail: dict[str, Any]) -> None:
        seq = len(self.done) + len(self.open_events)
        event = EventRecord(self.record.run_id, seq, node, kind, utcnow(), status="running", detail=detail or None)
        self.open_events[run_id] = (event, time.perf_counter())

    def close_event(self, run_id: UUID, status: str, error: str | None = None) -> None:
        event, t0 = self.open_events.pop(run_id, (None, 0.0))
        if event is not None:
            event.ended_at, event.duration_ms, event.status = utcnow(), (time.perf_counter() - t0) * 1000, status
            if error:
                event.detail = {**(event.detail or {}), "error": error}
            self.done.append(event)

    def note_model(self, model: str | None, rank: int) -> None:
        """Take ``model`` as the run's model unless a stronger source named one already."""
        if model and rank <= _FROM_LLM and model not in self.models:
            self.models.append(model)
        if model and rank >= self.model_rank:
            self.record.model, self.model_rank = model, rank

    def on_token(self, run_id: UUID, text: str, checkpoint_interval: float) -> RunRecord | None:
        """Note a streamed token; a copy of the row with the text so far when a checkpoint is due."""
        if not text:
            return None
        now = time.perf_counter()
        if self.record.ttft_ms is None:
            self.record.ttft_ms = (now - self.t0) * 1000
        self.streamed.setdefault(run_id, []).append(text)
        self.last_streamed = run_id
        if now - self.checkpoint_at < checkpoint_interval:
            return None
        self.checkpoint_at = now
        return dataclasses.replace(self.record, output="".join(self.streamed[run_id])[:TEXT_LIMIT])

    def on_llm_end(self, run_id: UUID, response: Any) -> None:
        usage = _token_usage(response)
        if usage is not None:
            self.usage_seen = True
            self.tokens_in, self.tokens_out = self.tokens_in + usage[0], self.tokens_out + usage[1]
        elif run_id in self.streamed:
            self.estimated = True
            self.tokens_out += len(self.streamed[run_id])
        event = self.open_events.get(run_id)
        if event is not None and usage is not None:
            event[0].detail = {**(event[0].detail or {}), "tokens_in": usage[0], "tokens_out": usage[1]}

    def finish(self, status: str, error: str | None) -> tuple[RunRecord, list[EventRecord]]:
        record = self.record
        record.status, record.error, record.ended_at = status, error, utcnow()
        if record.output is None and self.last_streamed is not None:
            record.output = "".join(self.streamed[self.last_streamed])[:TEXT_LIMIT]
        for run_id in list(self.open_events):
            self.close_event(run_id, status)
        if self.usage_seen or self.estimated:
            record.tokens_in = self.tokens_in if self.usage_seen else None
            record.tokens_out = self.tokens_out
        metadata = dict(self.extras)
        if self.estimated:
            metadata["tokens_estimated"] = True
        if len(self.models) > 1:
            metadata["models"] = self.models
        record.metadata = metadata or None
        return record, sorted(self.done, key=lambda event: event.seq)


class RunLogCallback(BaseCallbackHandler):
    """Turns LangGraph runs into run-log rows. Cheap to build: it touches the run log on the first run only.

    One instance serves concurrent runs (state keyed by root run id, guarded by a lock). It runs inline, so
    events arrive in order and are never handed to an executor thread; each handler only updates memory and
    enqueues records. A chain whose parent this handler has not seen is a root (a new run).
    """

    run_inline = True
    raise_error = False

    def __init__(self, runlog: RunLog | None = None, *, checkpoint_interval: float = 0.5) -> None:
        self._runlog = runlog
        self._given = runlog is not None
        self.checkpoint_interval = checkpoint_interval
        # Held for microseconds, CPU only. An RLock also keeps langgraph dev's blockbuster (which flags a contended
        # threading.Lock acquired on the event loop) from failing a callback when a sync node's thread holds it.
        self._lock = threading.RLock()
        self._open: dict[UUID, _OpenRun] = {}
        self._root_of: dict[UUID, UUID] = {}
        self._finished: OrderedDict[UUID, None] = OrderedDict()
        self._ended: OrderedDict[UUID, RunRecord] = OrderedDict()
        """The last rows logged for runs that ended, so one can be logged again as what its client was told."""

    @property
    def runlog(self) -> RunLog:
        """The run log written to: the one given, else the process-wide one (built on first use)."""
        if self._runlog is None or (self._runlog.closed and not self._given):
            self._runlog = get_runlog()  # the process-wide one, again after a server's stop closed it
        return self._runlog

    def knows(self, run_id: str | UUID) -> bool:
        """Whether run ``run_id`` started here (it is open, or was logged as finished)."""
        key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
        with self._lock:
            return key in self._open or key in self._finished

    def open_run_ids(self) -> list[str]:
        """Ids of the runs started and not yet finished."""
        with self._lock:
            return [run.record.run_id for run in self._open.values()]

    def abort(self, run_id: str | UUID, status: str = "aborted", error: str | None = "aborted") -> bool:
        """Log the open run ``run_id`` as finished with ``status``.

        If it already ended as 'aborted' (its task was cancelled) and ``status`` differs, its row is logged again
        with ``status`` and ``error`` (once). False when there was nothing to do.
        """
        key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
        if self._finish(key, status, error, None):
            return True
        with self._lock:
            record = self._ended.get(key)
            if record is None or record.status != "aborted" or record.status == status:
                return False
        return self.relog(key, status, error)

    async def saved(self, run_id: str | UUID) -> None:
        """Wait until the ended run ``run_id`` is crash-safe in the run log, before its client hears ``done``; when
        it cannot be (a full disk), log it as the error the client is about to hear and raise
        :class:`~workbench.errors.StorageUnavailable`."""
        try:
            await self.runlog.require_durable()
        except StorageUnavailable as exc:
            self.relog(run_id, "error", exc.code)
            raise

    def relog(self, run_id: str | UUID, status: str, error: str | None) -> bool:
        """Log the ended run ``run_id`` again with ``status`` and ``error``: what its client was told when that
        differs from how the graph ended (an ``ok`` run that could not be saved is an error to its client). False
        when the run is not among the last ones ended here."""
        key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
        with self._lock:
            record = self._ended.pop(key, None)
        if record is None:
            return False
        self._log_run(dataclasses.replace(record, status=status, error=error))
        return True

    def settle(self, unseen: RunRecord) -> None:
        """Finish run ``unseen.run_id`` with its status and error if it is still open (one that ended keeps its
        row); a run this handler never saw (stopped before its graph started) is logged as ``unseen``."""
        if self.knows(unseen.run_id):
            self.abort(unseen.run_id, status=unseen.status, error=unseen.error)
        else:
            self._log_run(unseen)

    def finish_open_runs(self, status: str = "aborted", error: str | None = "aborted") -> list[str]:
        """Log every still-open run as finished with ``status``; return their ids."""
        with self._lock:
            keys = list(self._open)
        return [str(key) for key in keys if self._finish(key, status, error, None)]

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
                if metadata.get("langgraph_node") == name:
                    run.open_event(run_id, "node", name, {"step": metadata.get("langgraph_step")})
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
            self._open[run_id] = run = _OpenRun(record)
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
                run.note_model(model, _FROM_LLM if name else _FROM_PROVIDER)
                run.open_event(run_id, "llm", str(node), {"model": model} if model else {})

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
        self.on_chat_model_start(serialized, prompts, run_id=run_id, parent_run_id=parent_run_id, metadata=metadata)

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
                run.on_llm_end(run_id, response)
                run.close_event(run_id, "ok")

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
        self._open_child(run_id, parent_run_id, "tool", kwargs.get("name") or (serialized or {}).get("name"))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_child(run_id, "ok")

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
        self._open_child(run_id, parent_run_id, "retriever", kwargs.get("name") or (serialized or {}).get("name"))

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_child(run_id, "ok")

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
                    run.note_model(_str_or_none(value), _FROM_EVENT)
                elif key in _RUN_FIELDS:
                    setattr(run.record, key, _str_or_none(value))
                else:
                    run.extras[key] = value

    # -- bookkeeping -------------------------------------------------------------------------------------

    def _log_run(self, record: RunRecord) -> None:
        """Queue a copy of ``record``'s row without audio or binary data: the one way a row leaves here."""
        self.runlog.log_run(redacted_run(record))

    def _log_events(self, events: list[EventRecord]) -> None:
        self.runlog.log_events(redacted_events(events))

    def _finish(self, root_id: UUID, status: str, error: str | None, outputs: Any) -> bool:
        with self._lock:
            run = self._open.pop(root_id, None)
            if run is None:
                return False
            for run_id in (*run.children, root_id):
                self._root_of.pop(run_id, None)
                self._remember_finished(run_id)
            if isinstance(outputs, dict):
                if isinstance(outputs.get("model"), str):
                    run.note_model(outputs["model"], _FROM_OUTPUT)
                if outputs.get("retrieved_docs") is not None:
                    run.record.retrieved = retrieved_docs(outputs["retrieved_docs"])
            if outputs is not None:
                run.record.output = output_text(outputs)
            record, events = run.finish(status, error)
            self._ended[root_id] = record
            if len(self._ended) > _ENDED_MEMORY:
                self._ended.popitem(last=False)
        self._log_run(record)
        self._log_events(events)
        return True

    def _child(self, run_id: UUID, parent_run_id: UUID | None) -> _OpenRun | None:
        """The open run that ``parent_run_id`` belongs to, now also owning ``run_id`` (lock held)."""
        root_id = self._root_of.get(parent_run_id) if parent_run_id is not None else None
        run = self._open.get(root_id) if root_id is not None else None
        if run is not None and root_id is not None:
            self._root_of[run_id] = root_id
            run.children.add(run_id)
        elif parent_run_id in self._finished:
            self._remember_finished(run_id)
        return run

    def _run_of(self, run_id: UUID) -> _OpenRun | None:
        root_id = self._root_of.get(run_id)
        return self._open.get(root_id) if root_id is not None else None

    def _open_child(self, run_id: UUID, parent_run_id: UUID | None, kind: str, name: Any) -> None:
        with self._lock:
            run = self._child(run_id, parent_run_id)
            if run is not None:
                run.open_event(run_id, kind, str(name or kind), {})

    def _close_child(self, run_id: UUID, status: str, error: str | None = None) -> None:
        with self._lock:
            run = self._run_of(run_id)
            if run is not None:
                run.close_event(run_id, status, error if status == "error" else None)

    def _remember_finished(self, run_id: UUID) -> None:
        self._finished[run_id] = None
        if len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)

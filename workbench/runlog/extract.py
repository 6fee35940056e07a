"""What the run log takes from LangChain's callback payloads: readable text of a run's inputs and outputs, its
retrieved chunks, its token counts, how it ended, and the id its row is logged under.

Texts are cut to :data:`TEXT_LIMIT` characters; audio and binary data appear as their size and hash only
(:mod:`workbench.runlog.redact`). Pure functions of the payloads: :class:`~workbench.runlog.callback.RunLogCallback`
calls them as events arrive.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

from workbench.runlog.redact import redact, redact_text

TEXT_LIMIT = 20_000
_ELIDE_OVER = 2_000
GATEWAY_RUN_ID = "workbench_run_id"
"""Metadata naming the run id a gateway announced for a run it started on a LangGraph Server: the row takes it."""
_RETRIEVED_KEYS = ("chunk_id", "source", "score", "dense_score", "sparse_score")


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


def cached_input_tokens(response: Any) -> int | None:
    """Prompt tokens the provider read from its cache (``input_token_details.cache_read``), or None when it gave
    no such count."""
    counts = [
        details["cache_read"]
        for gens in getattr(response, "generations", None) or []
        for generation in gens
        if (usage := getattr(getattr(generation, "message", None), "usage_metadata", None))
        and "cache_read" in (details := usage.get("input_token_details") or {})
    ]
    return sum(counts) if counts else None


def token_usage(response: Any) -> tuple[int, int] | None:
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

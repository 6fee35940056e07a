"""LangChain's callback payloads as OpenTelemetry GenAI attributes (``gen_ai.*``, the semantic conventions for
generative AI), so an OTLP receiver that knows them (MLflow, Phoenix, Langfuse) shows messages, tokens and tools
as its own; what the conventions do not name is under ``workbench.*``. Every value is bounded and scrubbed
(:class:`~workbench.runlog.spans.Attributes`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.runlog.extract import text_of
from workbench.runlog.spans import Attributes

if TYPE_CHECKING:
    from workbench.runlog.schema import RunRecord

_ROLES = {"human": "user", "ai": "assistant", "AIMessageChunk": "assistant", "system": "system", "tool": "tool"}
_REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "max_tokens": "gen_ai.request.max_tokens",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "seed": "gen_ai.request.seed",
    "stop": "gen_ai.request.stop_sequences",
}
DOCUMENT_TEXT = 1_000
"""Characters of each retrieved passage a retrieval span keeps."""


def message(value: Any) -> dict[str, Any]:
    """One LangChain message (or a plain prompt string) as ``{"role", "content", "tool_calls"?}``."""
    if isinstance(value, str):
        return {"role": "user", "content": value}
    kind = str(getattr(value, "type", "") or "")
    entry: dict[str, Any] = {
        "role": _ROLES.get(kind, kind or "user"),
        "content": text_of(getattr(value, "content", "")),
    }
    calls = getattr(value, "tool_calls", None)
    if calls:
        entry["tool_calls"] = [
            {"id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")} for call in calls
        ]
    if kind == "tool":
        entry["tool_call_id"] = getattr(value, "tool_call_id", None)
    return entry


def run_attributes(record: RunRecord, metadata: dict[str, Any]) -> dict[str, Any]:
    """The attributes of a run's own span as it starts."""
    attributes = (
        Attributes()
        .set("gen_ai.operation.name", "invoke_agent")
        .set("gen_ai.agent.name", record.graph)
        .set("gen_ai.conversation.id", record.session_id)
        .set("workbench.entry_point", record.entry_point)
        .set("workbench.prompt_version", record.prompt_version)
        .text("workbench.input", record.input)
    )
    assistant = metadata.get("assistant_id")
    if isinstance(assistant, str):
        attributes.set("gen_ai.agent.id", assistant)
    return attributes.done()


def llm_start_attributes(
    messages: Any, metadata: dict[str, Any], params: dict[str, Any] | None, node: str
) -> dict[str, Any]:
    """An LLM call's request: model, provider, parameters and the messages it reads (the system prompt among them,
    as LangChain passes it: it is not repeated as ``gen_ai.system_instructions``)."""
    batches = messages if isinstance(messages, list) else []
    conversation = [message(m) for m in (batches[0] if batches and isinstance(batches[0], list) else batches)]
    attributes = (
        Attributes()
        .set("gen_ai.operation.name", "chat")
        .set("gen_ai.request.model", metadata.get("ls_model_name"))
        .set("gen_ai.provider.name", metadata.get("ls_provider"))
        .set("workbench.node", node)
        .json("gen_ai.input.messages", conversation)
    )
    for key, name in _REQUEST_PARAMS.items():
        value = (params or {}).get(key)
        if value is None:
            value = metadata.get(f"ls_{key}")
        attributes.set(name, list(value) if isinstance(value, tuple) else value)
    return attributes.done()


def llm_end_attributes(response: Any) -> Attributes:
    """An LLM call's response: what it wrote (text and tool calls), why it stopped, which model answered.
    Returned unfinished: the run adds usage and timing before the span ends."""
    generations = [g for batch in getattr(response, "generations", None) or [] for g in batch]
    outputs, reasons, model = [], [], None
    for generation in generations:
        reply = getattr(generation, "message", None)
        entry = message(reply) if reply is not None else {"role": "assistant", "content": generation.text}
        info = {**(getattr(generation, "generation_info", None) or {}), **(getattr(reply, "response_metadata", {}))}
        reason = info.get("finish_reason") or info.get("stop_reason") or info.get("done_reason")
        if reason:
            entry["finish_reason"] = str(reason)
            reasons.append(str(reason))
        model = model or info.get("model_name") or info.get("model")
        outputs.append(entry)
    attributes = Attributes().json("gen_ai.output.messages", outputs)
    attributes.set("gen_ai.response.finish_reasons", reasons or None).set("gen_ai.response.model", model)
    return attributes


def tool_start_attributes(name: str, inputs: Any, input_str: str, call_id: Any) -> dict[str, Any]:
    """A tool call: its name and arguments."""
    attributes = Attributes().set("gen_ai.operation.name", "execute_tool").set("gen_ai.tool.name", name)
    attributes.set("gen_ai.tool.call.id", call_id if isinstance(call_id, str) else None)
    if isinstance(inputs, dict):
        attributes.json("gen_ai.tool.call.arguments", inputs)
    else:
        attributes.text("gen_ai.tool.call.arguments", input_str)
    return attributes.done()


def tool_end_attributes(output: Any) -> dict[str, Any]:
    """A tool call's result (a tool message's content, or the value it returned)."""
    content = getattr(output, "content", output)
    text = text_of(content) if isinstance(content, str | list) else content
    attributes = Attributes()
    if isinstance(text, str):
        attributes.text("gen_ai.tool.call.result", text)
    else:
        attributes.json("gen_ai.tool.call.result", text)
    return attributes.done()


def documents(hits: Any) -> list[dict[str, Any]]:
    """Retrieved passages (the store's dicts, or LangChain ``Document``s) with their ids, sources and scores."""
    found = []
    for hit in hits if isinstance(hits, list | tuple) else []:
        data = hit if isinstance(hit, dict) else {**(getattr(hit, "metadata", None) or {}), "text": hit.page_content}
        found.append(
            {
                "id": data.get("chunk_id") or data.get("id") or getattr(hit, "id", None),
                "source": data.get("source"),
                "score": data.get("score"),
                "dense_score": data.get("dense_score"),
                "sparse_score": data.get("sparse_score"),
                "text": str(data.get("text") or "")[:DOCUMENT_TEXT],
            }
        )
    return found


def retrieval_end_attributes(hits: Any) -> dict[str, Any]:
    """What a retrieval found: its passages, with scores and chunk ids."""
    found = documents(hits)
    return Attributes().json("gen_ai.retrieval.documents", found).set("workbench.retrieval.hits", len(found)).done()

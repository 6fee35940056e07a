"""Scripted chat models: no model, no network (``fake/<name>`` where testing is on; tests and benchmarks build them).

``ScriptedChatModel`` plays queued replies (text or tool calls) in order, streams them at a fixed rate, and
records what it was asked, like ``llm``'s MockModel and LangGraph's FakeToolCallingModel.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCall, ToolCallChunk
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field, PrivateAttr

Reply = str | AIMessage | Callable[[list[BaseMessage]], str | AIMessage]


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    """An AI message that asks for one tool call."""
    return AIMessage(content="", tool_calls=[ToolCall(name=name, args=args, id=call_id)])


class ScriptedChatModel(BaseChatModel):
    """Replies from a queue (then ``default``), streamed one word at a time every ``token_delay_s`` seconds."""

    model_name: str = "fake/scripted"
    default: Reply = "This is a scripted answer [1]."
    token_delay_s: float = 0.0
    replies: deque[Reply] = Field(default_factory=deque)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _tools: list[str] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "fake", "ls_model_name": self.model_name, "ls_model_type": "chat"}

    def enqueue(self, *replies: Reply) -> ScriptedChatModel:
        """Queue replies, played in order before ``default``."""
        self.replies.extend(replies)
        return self

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages of every call, in order."""
        return self._calls

    @property
    def bound_tools(self) -> list[str]:
        return self._tools

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        self._tools = [getattr(t, "name", getattr(t, "__name__", str(t))) for t in tools]
        return self

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self._calls.append(list(messages))
        reply = self.replies.popleft() if self.replies else self.default
        if callable(reply):
            reply = reply(messages)
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply)
        tokens_in = sum(len(str(m.content).split()) for m in messages)
        tokens_out = len(str(message.content).split())
        usage = UsageMetadata(input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out)
        return message.model_copy(
            update={"usage_metadata": usage, "response_metadata": {"model_name": self.model_name}}
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _pieces(self, message: AIMessage) -> list[AIMessageChunk]:
        words = re.findall(r"\S+\s*", str(message.content))
        chunks = [AIMessageChunk(content=w) for w in words]
        if message.tool_calls:
            chunks.append(
                AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        ToolCallChunk(name=c["name"], args=_json(c["args"]), id=c["id"], index=i)
                        for i, c in enumerate(message.tool_calls)
                    ],
                )
            )
        tail = AIMessageChunk(
            content="", usage_metadata=message.usage_metadata, response_metadata=message.response_metadata
        )
        return [*chunks, tail]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self._pieces(self._next(messages)):
            if piece.content and self.token_delay_s:
                time.sleep(self.token_delay_s)
            chunk = ChatGenerationChunk(message=piece)
            if run_manager and piece.content:
                run_manager.on_llm_new_token(str(piece.content), chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for piece in self._pieces(self._next(messages)):
            if piece.content and self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            chunk = ChatGenerationChunk(message=piece)
            if run_manager and piece.content:
                await run_manager.on_llm_new_token(str(piece.content), chunk=chunk)
            yield chunk


def _json(value: Any) -> str:
    import json

    return json.dumps(value)

"""The bundled offline LLM: a GGUF model run in-process by llama-cpp-python.

One ``Llama`` per model file per process, loaded on first use and shared; generation is serialized by a lock
because a llama.cpp context is not thread-safe. Async streaming runs the generator in a worker thread and stops
it at the next token when the consumer goes away (abort, disconnect, timeout).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}
_models: dict[str, Any] = {}
_load_lock = threading.Lock()


def _load(model_path: str, n_ctx: int, n_threads: int | None) -> Any:
    with _load_lock:
        if model_path not in _models:
            import llama_cpp.llama_cpp as low_level
            from llama_cpp import Llama

            # Without use_extra_bufts=False the first generation segfaults on CPUs with AMX. Llama() has no
            # argument for it, so the default model params are amended while this one model is built.
            defaults = low_level.llama_model_default_params

            def params_without_extra_bufts() -> Any:
                params = defaults()
                params.use_extra_bufts = False
                return params

            low_level.llama_model_default_params = params_without_extra_bufts
            try:
                llama = Llama(model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
            finally:
                low_level.llama_model_default_params = defaults
            _models[model_path] = (llama, threading.Lock())
        return _models[model_path]


class LlamaCppChatModel(BaseChatModel):
    """Chat over a local GGUF file with llama.cpp's chat template."""

    model_path: str
    model_name: str = "smollm2-135m"
    n_ctx: int = 4096
    n_threads: int | None = None
    temperature: float = 0.2
    max_tokens: int = 384

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "local", "ls_model_name": self.model_name, "ls_model_type": "chat"}

    def _payload(self, messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _chunks(self, messages: list[BaseMessage], stop: list[str] | None, halt: threading.Event) -> Iterator[str]:
        llama, lock = _load(self.model_path, self.n_ctx, self.n_threads)
        with lock:
            stream = llama.create_chat_completion(
                messages=self._payload(messages),
                stream=True,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                stop=stop,
            )
            try:
                for part in stream:
                    if halt.is_set():
                        break
                    text = part["choices"][0]["delta"].get("content")
                    if text:
                        yield text
            finally:
                stream.close()

    def _usage(self, messages: list[BaseMessage], output: str) -> UsageMetadata:
        llama, _ = _load(self.model_path, self.n_ctx, self.n_threads)
        tokens_in = sum(len(llama.tokenize(str(m.content).encode(), add_bos=False)) for m in messages)
        tokens_out = len(llama.tokenize(output.encode(), add_bos=False))
        return UsageMetadata(input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out)

    def _final_chunk(self, messages: list[BaseMessage], output: str) -> ChatGenerationChunk:
        message = AIMessageChunk(
            content="", usage_metadata=self._usage(messages, output), response_metadata={"model_name": self.model_name}
        )
        return ChatGenerationChunk(message=message)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages, stop, run_manager))
        message = AIMessage(content=text, usage_metadata=self._usage(messages, text))
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=None)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        output = []
        for text in self._chunks(messages, stop, threading.Event()):
            output.append(text)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk
        yield self._final_chunk(messages, "".join(output))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        halt = threading.Event()

        def produce() -> None:
            try:
                for text in self._chunks(messages, stop, halt):
                    loop.call_soon_threadsafe(queue.put_nowait, text)
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except BaseException as exc:  # handed to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = loop.run_in_executor(None, produce)
        output = []
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                output.append(item)
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
                if run_manager:
                    await run_manager.on_llm_new_token(item, chunk=chunk)
                yield chunk
        finally:
            halt.set()
        await worker
        yield await asyncio.to_thread(self._final_chunk, messages, "".join(output))

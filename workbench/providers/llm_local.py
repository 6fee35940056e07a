"""The bundled offline LLM: a GGUF model run in-process by llama-cpp-python.

One ``Llama`` per model file per process, loaded on first use and shared; generation is serialized by a lock
because a llama.cpp context is not thread-safe. The context keeps the tokens it evaluated last, and a prompt that
starts with them reads only the rest (the chat graph's prompt starts the same way on every turn). Async streaming
runs the generator in a worker thread and stops it at the next token when the consumer goes away (abort,
disconnect, timeout).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}
_models: dict[tuple[str, int], Loaded] = {}
_load_lock = threading.Lock()


@dataclass
class Loaded:
    """One loaded model file: the ``Llama``, the lock its context is used under, the chat template that formats
    prompts, how long loading took, and the evaluated state of the prompt it was warmed with (see
    :meth:`LlamaCppChatModel.warm`)."""

    llama: Any
    lock: threading.Lock
    format: Callable[[list[dict[str, str]]], tuple[str, list[str]]]
    load_s: float
    warmed: Snapshot | None = None


@dataclass(frozen=True)
class Snapshot:
    """A context's evaluated tokens and llama.cpp's state for them (its KV cache, a few MB for a few hundred
    tokens). Unlike ``Llama.save_state`` it leaves out llama-cpp-python's logits buffer (n_batch x vocabulary
    floats, 300 MB for Qwen2.5), which a restored prompt never reads: its last token is always evaluated again."""

    tokens: tuple[int, ...]
    state: bytes

    @classmethod
    def take(cls, llama: Any) -> Snapshot:
        import ctypes

        from llama_cpp import llama_cpp as low_level

        size = low_level.llama_state_get_size(llama.ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = low_level.llama_state_get_data(llama.ctx, buffer, size)
        return cls(tuple(llama.input_ids[: llama.n_tokens].tolist()), ctypes.string_at(buffer, written))

    def restore(self, llama: Any) -> None:
        import ctypes

        from llama_cpp import llama_cpp as low_level

        buffer = (ctypes.c_uint8 * len(self.state)).from_buffer_copy(self.state)
        if low_level.llama_state_set_data(llama.ctx, buffer, len(self.state)) != len(self.state):
            raise RuntimeError("llama.cpp refused a saved state of this context")
        n = len(self.tokens)
        llama.input_ids[:n] = self.tokens
        llama.n_tokens = n
        llama._requires_eval = True  # the logits are not restored: the next prompt's last token refreshes them


def _formatter(llama: Any) -> Callable[[list[dict[str, str]]], tuple[str, list[str]]]:
    """The model's own chat template (from its GGUF metadata), as ``messages -> (prompt, stop strings)``; ChatML
    when the file has none."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    render: Any = llama_chat_format.format_chatml
    if template:
        eos, bos = llama.token_eos(), llama.token_bos()
        render = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        )

    def format_prompt(messages: list[dict[str, str]]) -> tuple[str, list[str]]:
        response = render(messages=messages)
        return response.prompt, _stops(response.stop)

    return format_prompt


def _stops(stop: Any) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop or [])


def _load(model_path: str, n_ctx: int, n_threads: int | None, prompt_lookup: int = 0) -> Loaded:
    with _load_lock:
        key = (model_path, prompt_lookup)
        if key not in _models:
            import llama_cpp.llama_cpp as low_level
            from llama_cpp import Llama
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            # Without use_extra_bufts=False the first generation segfaults on CPUs with AMX. Llama() has no
            # argument for it, so the default model params are amended while this one model is built.
            defaults = low_level.llama_model_default_params

            def params_without_extra_bufts() -> Any:
                params = defaults()
                params.use_extra_bufts = False
                return params

            started = time.perf_counter()
            draft = LlamaPromptLookupDecoding(num_pred_tokens=prompt_lookup) if prompt_lookup else None
            low_level.llama_model_default_params = params_without_extra_bufts
            try:
                # A draft model makes llama-cpp-python keep logits for every position, but it sizes that buffer by
                # logits_all: without it, a prompt past n_batch (512) tokens overflows it.
                llama = Llama(
                    model_path=model_path,
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    draft_model=draft,
                    logits_all=draft is not None,
                    verbose=False,
                )
            finally:
                low_level.llama_model_default_params = defaults
            _models[key] = Loaded(llama, threading.Lock(), _formatter(llama), time.perf_counter() - started)
        return _models[key]


def reused_prefix(evaluated: Sequence[int], prompt: Sequence[int]) -> int:
    """How many of ``prompt``'s tokens llama.cpp keeps from the tokens it ``evaluated`` last: their common prefix,
    less one when it is the whole prompt (the last token is evaluated again for its logits). llama-cpp-python's
    ``Llama.generate`` reuses its context's cache the same way."""
    common = 0
    for a, b in zip(evaluated, prompt, strict=False):
        if a != b:
            break
        common += 1
    return min(common, len(prompt) - 1) if prompt else 0


class LlamaCppChatModel(BaseChatModel):
    """Chat over a local GGUF file with the file's chat template.

    The prompt is formatted and tokenized here, so each call reports in its usage how many prompt tokens llama.cpp
    reused from the previous call (``input_token_details.cache_read``: a prompt that starts as the last one did,
    such as the chat graph's fixed system message, is not read again). ``prompt_lookup`` turns on llama.cpp's
    draft-free speculative decoding (prompt lookup: drafts copied from the prompt, checked in one batch)."""

    model_path: str
    model_name: str = "smollm2-135m"
    n_ctx: int = 4096
    n_threads: int | None = None
    temperature: float = 0.2
    max_tokens: int = 384
    prompt_lookup: int = 0
    """Tokens drafted per step by prompt lookup; 0: off."""

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "local", "ls_model_name": self.model_name, "ls_model_type": "chat"}

    def loaded(self) -> Loaded:
        """The model, loaded on first use (then shared by every model object on the same file)."""
        return _load(self.model_path, self.n_ctx, self.n_threads, self.prompt_lookup)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own tokenizer."""
        return len(self.loaded().llama.tokenize(text.encode(), add_bos=False, special=False))

    def warm(self, messages: list[BaseMessage]) -> None:
        """Load the model and evaluate ``messages`` (one token is generated), so that a prompt that starts the same
        way reads only what follows; their evaluated state is kept, so that such a prompt still finds it after
        another prompt (a query rewrite, another graph's) has replaced it in the context."""
        for _ in self._chunks(messages, None, threading.Event(), {}, max_tokens=1, keep=True):
            pass

    def _payload(self, messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _chunks(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        halt: threading.Event,
        usage: dict[str, int],
        max_tokens: int | None = None,
        keep: bool = False,
    ) -> Iterator[str]:
        """The answer's text pieces; ``keep``: then save the evaluated state as the one to restore (under the same
        hold of the lock, so it is this prompt's)."""
        loaded = self.loaded()
        llama = loaded.llama
        with loaded.lock:
            prompt, stops = loaded.format(self._payload(messages))
            tokens = llama.tokenize(prompt.encode(), add_bos=True, special=True)
            usage["input_tokens"] = len(tokens)
            usage["cache_read"] = reused_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
            warmed = loaded.warmed
            if warmed is not None and (from_warmed := reused_prefix(warmed.tokens, tokens)) > usage["cache_read"]:
                warmed.restore(llama)
                usage["cache_read"] = from_warmed
            stream = llama.create_completion(
                prompt=tokens,
                stream=True,
                temperature=self.temperature,
                max_tokens=max_tokens or self.max_tokens,
                stop=[*stops, *(stop or [])],
            )
            try:
                for part in stream:
                    if halt.is_set():
                        break
                    text = part["choices"][0]["text"]
                    if text:
                        yield text
            finally:
                stream.close()
            if keep:
                loaded.warmed = Snapshot.take(llama)

    def _usage(self, usage: dict[str, int], output: str) -> UsageMetadata:
        tokens_in = usage.get("input_tokens", 0)
        tokens_out = self.count_tokens(output) if output else 0
        return UsageMetadata(
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            total_tokens=tokens_in + tokens_out,
            input_token_details={"cache_read": usage.get("cache_read", 0)},
        )

    def _final_chunk(self, usage: dict[str, int], output: str) -> ChatGenerationChunk:
        message = AIMessageChunk(
            content="", usage_metadata=self._usage(usage, output), response_metadata={"model_name": self.model_name}
        )
        return ChatGenerationChunk(message=message)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        *chunks, last = self._stream(messages, stop, run_manager)  # token callbacks as a stream has them
        text = "".join(chunk.text for chunk in chunks)
        assert isinstance(last.message, AIMessageChunk)  # the final chunk: the call's usage
        message = AIMessage(content=text, usage_metadata=last.message.usage_metadata)
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=None)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        output: list[str] = []
        usage: dict[str, int] = {}
        for text in self._chunks(messages, stop, threading.Event(), usage):
            output.append(text)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk
        yield self._final_chunk(usage, "".join(output))

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
        usage: dict[str, int] = {}

        def produce() -> None:
            try:
                for text in self._chunks(messages, stop, halt, usage):
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
        yield await asyncio.to_thread(self._final_chunk, usage, "".join(output))

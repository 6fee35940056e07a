"""The bundled offline LLM: a GGUF model run in-process by llama-cpp-python.

One ``Llama`` per model file per process, loaded on first use and shared; generation is serialized by a lock
because a llama.cpp context is not thread-safe. The context keeps the tokens it evaluated last, and a prompt that
starts with them reads only the rest (the chat graph's prompt starts the same way on every turn). Async streaming
runs the generator in a worker thread and stops it at the next token when the consumer goes away (abort,
disconnect, timeout). A reply can also be begun before it is asked for (:meth:`LlamaCppChatModel.think_ahead`: a
voice turn whose speaker has paused), and the call that asks for it goes on from there.
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
SAMPLING: dict[str, Any] = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0}
"""llama-cpp-python's completion defaults, named so that a reply begun ahead samples as its completion goes on."""
AHEAD_TOKENS = 48
"""Most tokens of a reply begun ahead (its first sentence, and the first token of the next, is usually fewer)."""
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
    ahead: Ahead | None = None


@dataclass(frozen=True)
class Ahead:
    """The start of a reply generated before it was asked for: the prompt's tokens, the tokens generated after
    them (all evaluated: the context holds both), their text, the temperature they were sampled at, whether the
    model had already ended its reply, and the seconds it took."""

    prompt: tuple[int, ...]
    tokens: tuple[int, ...]
    text: str
    temperature: float
    ended: bool
    elapsed_s: float

    def continues(self, llama: Any, prompt: Sequence[int], temperature: float, stop: Sequence[str]) -> bool:
        """Whether a call on ``prompt`` at ``temperature`` can start from this: the same prompt and sampling, no
        stop string of the call's in the text, and the context still holding what was generated."""
        held = llama.input_ids[: llama.n_tokens].tolist()
        return (
            tuple(prompt) == self.prompt
            and temperature == self.temperature
            and not any(s and s in self.text for s in stop)
            and tuple(held) == self.prompt + self.tokens
        )


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

    def think_ahead(self, messages: list[BaseMessage], halt: threading.Event) -> int:
        """Begin the reply to ``messages`` before it is asked for: generate it up to its first complete sentence (at
        most :data:`AHEAD_TOKENS` tokens, and never past the reply's ``max_tokens``) and keep that, evaluated, so
        that the next call on the same messages and temperature starts from there instead of from its prompt (any
        other call drops it). Returns the tokens kept: 0 when ``halt`` was set meanwhile (the turn went on), or
        with prompt lookup on."""
        if self.prompt_lookup:
            return 0
        from llama_cpp import llama_cpp as low_level

        from workbench.sentences import complete_sentences

        loaded = self.loaded()
        llama = loaded.llama
        with loaded.lock:
            started = time.perf_counter()
            loaded.ahead = None
            prompt, stops = loaded.format(self._payload(messages))
            tokens = llama.tokenize(prompt.encode(), add_bos=True, special=True)
            self._reuse(loaded, tokens, {})
            generated: list[int] = []
            text, whole, ended = "", True, False
            steps = llama.generate(tokens, temp=self.temperature, **SAMPLING)
            try:
                for token in steps:
                    if halt.is_set():
                        return 0
                    if low_level.llama_vocab_is_eog(llama._model.vocab, token):
                        ended = True
                        break
                    generated.append(token)
                    try:
                        text, whole = llama.detokenize(generated, prev_tokens=tokens).decode(), True
                    except UnicodeDecodeError:  # a character split across tokens: its end comes next
                        whole = False
                    if whole and (stopped := next((s for s in stops if s in text), None)):
                        text, ended = text[: text.index(stopped)], True
                        break
                    enough = len(generated) >= min(AHEAD_TOKENS, self.max_tokens)
                    if enough or (whole and complete_sentences(text)[0]):
                        break
            finally:
                steps.close()
            if not generated or not whole or halt.is_set():
                return 0  # nothing kept: a cut mid-character cannot be continued as text
            if llama.n_tokens < len(tokens) + len(generated):
                llama.eval(generated[llama.n_tokens - len(tokens) :])  # the last token sampled is not yet read
            elapsed = time.perf_counter() - started
            loaded.ahead = Ahead(tuple(tokens), tuple(generated), text, self.temperature, ended, elapsed)
            return len(generated)

    def _reuse(self, loaded: Loaded, tokens: Sequence[int], usage: dict[str, int]) -> None:
        """Count the prompt tokens the context already holds, and restore the warmed state when it holds more."""
        llama = loaded.llama
        usage["input_tokens"] = len(tokens)
        usage["cache_read"] = reused_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
        warmed = loaded.warmed
        if warmed is not None and (from_warmed := reused_prefix(warmed.tokens, tokens)) > usage["cache_read"]:
            warmed.restore(llama)
            usage["cache_read"] = from_warmed

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
            limit = max_tokens or self.max_tokens
            ahead, loaded.ahead = loaded.ahead, None
            if ahead is not None and ahead.continues(llama, tokens, self.temperature, stop or []):
                usage.update(input_tokens=len(tokens), cache_read=len(tokens), ahead_tokens=len(ahead.tokens))
                usage["ahead_ms"] = round(ahead.elapsed_s * 1000)
                if ahead.text:
                    yield ahead.text
                if ahead.ended or len(ahead.tokens) >= limit:
                    return
                tokens, limit = [*tokens, *ahead.tokens], limit - len(ahead.tokens)
            else:
                self._reuse(loaded, tokens, usage)
            stream = llama.create_completion(
                prompt=tokens,
                stream=True,
                temperature=self.temperature,
                max_tokens=limit,
                stop=[*stops, *(stop or [])],
                **SAMPLING,
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
        metadata: dict[str, Any] = {"model_name": self.model_name}
        if usage.get("ahead_tokens"):  # the reply was begun ahead (think_ahead): how much of it, in how long
            metadata |= {"ahead_tokens": usage["ahead_tokens"], "ahead_s": usage["ahead_ms"] / 1000}
        message = AIMessageChunk(content="", usage_metadata=self._usage(usage, output), response_metadata=metadata)
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
        message = AIMessage(
            content=text, usage_metadata=last.message.usage_metadata, response_metadata=last.message.response_metadata
        )
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

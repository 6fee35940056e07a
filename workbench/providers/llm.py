"""Chat models chosen by a ``"provider/model"`` string.

``auto`` picks OpenAI when its key is set, else Groq, else the bundled local model, else the extractive
baseline. Cloud models get the offline model as a fallback in ``auto`` mode, so a dead network degrades an
answer instead of hanging it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from dataclasses import dataclass
from typing import Literal

from cachetools import LRUCache
from langchain_core.language_models import BaseChatModel

from workbench.errors import ConfigurationError, ProviderUnavailable
from workbench.providers import bundled
from workbench.settings import Settings

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_GROQ_MODEL = "llama-3.1-8b-instant"
#: Scripted models for tests and benchmarks of the protocols, selectable like any other model.
FAKE_MODELS: dict[str, dict] = {
    "scripted": {},
    "stream": {"token_delay_s": 0.01, "default": " ".join(f"t{i}" for i in range(100))},
    "slow": {"token_delay_s": 0.05, "default": " ".join(f"word{i}" for i in range(400)) + " [1]."},
}
Purpose = Literal["chat", "voice", "triage", "judge"]
"""What a model is for. ``auto`` picks a faster bundled model for voice turns; triage (an audit's verdicts on its
findings) and judging (scoring an eval's answers) may run without one (see :meth:`ModelRegistry.resolve`)."""
OFF = frozenset({"none", "off", "extractive"})
"""Specs that turn the optional purposes (triage, judge) off: the extractive baseline writes no verdicts."""
CLOUD_PROVIDERS = ("openai/", "groq/")
CHOICES = '"auto", "openai/<model>", "groq/<model>", "local/<bundled model>", "extractive"'
#: What a cloud model's name may look like (it is sent to the provider, never used as a path).
_CLOUD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,99}")


@dataclass(frozen=True)
class ModelChoice:
    """A resolved model: the spec that serves answers, the model, and what to fall back to."""

    spec: str
    model: BaseChatModel
    fallback: BaseChatModel | None = None

    @property
    def supports_tools(self) -> bool:
        return type(self.model).bind_tools is not BaseChatModel.bind_tools


def local_runtime_available(name: str = "smollm2-135m") -> bool:
    """Whether llama.cpp and bundled model ``name`` are installed (nothing is imported, read or joined)."""
    return importlib.util.find_spec("llama_cpp") is not None and bundled.installed(name)


def default_threads(cores: int | None = None) -> int:
    """llama.cpp threads when ``WORKBENCH_LOCAL_LLM_THREADS`` is unset: half the cores, at most 4, at least 1.

    On a small shared machine every thread llama.cpp waits for at a barrier may be descheduled by another
    process: with 2 cores under load, 2 threads generated 1.6-15x slower than 1 (bench/local_models.py)."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(4, cores // 2))


def resolve_spec(spec: str, settings: Settings, purpose: Purpose = "chat") -> str:
    """Turn ``auto`` (or an empty spec) into a concrete ``provider/model`` string."""
    spec = (spec or "auto").strip()
    if spec != "auto":
        return spec
    if settings.openai_api_key:
        return f"openai/{DEFAULT_OPENAI_MODEL}"
    if settings.groq_api_key:
        return f"groq/{DEFAULT_GROQ_MODEL}"
    return offline_spec(settings, purpose)


def offline_spec(settings: Settings, purpose: Purpose = "chat") -> str:
    """What ``auto`` answers with when no cloud model is configured: the bundled model set for ``purpose`` (voice
    falls back to the chat one), else the extractive baseline. SmolLM2-135M is never chosen here: on the chat
    suite it does worse than the extractive baseline (see docs/benchmarks.md); name it to use it."""
    wanted = [settings.voice_local_model, settings.local_model] if purpose == "voice" else [settings.local_model]
    for name in wanted:
        if name in bundled.BUNDLED and local_runtime_available(name):
            return f"local/{name}"
    return "extractive"


def auto_note(settings: Settings) -> str | None:
    """Why ``auto`` answers extractively here, or None when it has a language model."""
    if resolve_spec("auto", settings) != "extractive":
        return None
    return (
        f"auto answers extractively: the bundled model local/{settings.local_model} is not installed (make setup"
        " installs it) and no cloud key (OPENAI_API_KEY, GROQ_API_KEY) is set"
    )


def check_spec(spec: str, settings: Settings) -> str:
    """The spec, stripped, if this server can serve it; else :class:`ConfigurationError` (no such model here) or
    :class:`ProviderUnavailable` (a cloud provider that is not configured). Nothing is built or loaded."""
    spec = (spec or "auto").strip()
    provider, slash, name = spec.partition("/")
    match provider:
        case "auto" | "extractive" if not slash:
            return spec
        case "local" if name in bundled.BUNDLED:
            return spec
        case "fake" if settings.testing and name in FAKE_MODELS:
            return spec
        case "openai" | "groq" if _CLOUD_NAME.fullmatch(name):
            configured = (
                settings.openai_api_key or settings.openai_base_url if provider == "openai" else settings.groq_api_key
            )
            if not configured:
                key = "OPENAI_API_KEY (or OPENAI_BASE_URL)" if provider == "openai" else "GROQ_API_KEY"
                raise ProviderUnavailable(f"{provider} models need {key} on the server; choose another model")
            return spec
    raise ConfigurationError(f"unknown model {spec[:100]!r}; choose one of {CHOICES}")


def build_chat_model(spec: str, settings: Settings) -> BaseChatModel:
    """Build the model for a concrete spec (no ``auto``)."""
    provider, _, name = spec.partition("/")
    match provider:
        case "openai":
            if not settings.openai_api_key and not settings.openai_base_url:
                raise ProviderUnavailable(f"{spec}: set OPENAI_API_KEY (or OPENAI_BASE_URL) or choose another model")
            from langchain_openai import ChatOpenAI

            return ChatOpenAI(
                model=name or DEFAULT_OPENAI_MODEL,
                api_key=settings.openai_api_key or "not-needed",  # type: ignore[arg-type]
                base_url=settings.openai_base_url,
                timeout=settings.llm_timeout_s,
                max_retries=1,
                stream_usage=True,
            )
        case "groq":
            if not settings.groq_api_key:
                raise ProviderUnavailable(f"{spec}: set GROQ_API_KEY or choose another model")
            from langchain_groq import ChatGroq

            return ChatGroq(
                model=name or DEFAULT_GROQ_MODEL,
                api_key=settings.groq_api_key,
                timeout=settings.llm_timeout_s,
                max_retries=1,
            )
        case "local":
            if name not in bundled.BUNDLED:
                raise ConfigurationError(f"unknown local model {name!r}; bundled: {', '.join(bundled.BUNDLED)}")
            if importlib.util.find_spec("llama_cpp") is None:
                raise ProviderUnavailable(f"{spec}: install llama-cpp-python (make setup), or choose extractive")
            path = bundled.model_file(name, settings.home / "models")
            from workbench.providers.llm_local import LlamaCppChatModel

            threads = settings.local_llm_threads or default_threads()
            return LlamaCppChatModel(
                model_path=str(path),
                model_name=name,
                n_threads=threads,
                prompt_lookup=settings.local_llm_prompt_lookup,
                temperature=settings.local_llm_temperature,
            )
        case "extractive":
            from workbench.providers.llm_extractive import ExtractiveChatModel

            return ExtractiveChatModel()
        case "fake":
            from workbench.providers.scripted import ScriptedChatModel

            if name not in FAKE_MODELS:
                raise ConfigurationError(f"unknown fake model {name!r}; known: {', '.join(FAKE_MODELS)}")
            return ScriptedChatModel(model_name=spec, **FAKE_MODELS[name])
        case _:
            raise ConfigurationError(f"unknown model {spec!r}; choose one of {CHOICES}")


class ModelRegistry:
    """Builds each model once and shares it, keeping at most ``model_cache_size`` built (the least recently used
    goes first); tests register fakes by spec, and those stay."""

    def __init__(self, settings: Settings, overrides: dict[str, BaseChatModel] | None = None) -> None:
        self._settings = settings
        self._registered: dict[str, BaseChatModel] = dict(overrides or {})
        self._built: LRUCache[str, BaseChatModel] = LRUCache(maxsize=settings.model_cache_size)
        self._lock = threading.Lock()

    def register(self, spec: str, model: BaseChatModel) -> None:
        with self._lock:
            self._registered[spec] = model

    def _get(self, spec: str) -> BaseChatModel:
        with self._lock:
            if spec in self._built:
                return self._built[spec]  # a read makes it the most recently used
        model = build_chat_model(spec, self._settings)
        with self._lock:
            return self._built.setdefault(spec, model)

    def resolve(self, spec: str | None = None, purpose: Purpose = "chat") -> str | None:
        """The ``provider/model`` that serves ``spec`` for ``purpose`` here, unbuilt: every caller chooses its model
        through this. Raises :class:`ConfigurationError` (no such model) or :class:`ProviderUnavailable` (a cloud
        provider that is not configured) before anything loads.

        - chat, voice: ``spec``, else the configured model (``WORKBENCH_LLM``); ``auto`` as :func:`resolve_spec`
          says for the purpose (a voice turn's bundled model is the faster one).
        - triage: ``spec``, else ``WORKBENCH_AUDIT_MODEL``, else the configured model; None (no triage) for
          ``none``/``off``/``extractive``, and for an ``auto`` nobody chose that has only the bundled models: their
          verdicts are mostly "uncertain" and cost seconds each on two cores, so triage by them is opt-in.
        - judge: None without ``spec``; ``auto`` judges with a cloud model only; the extractive baseline cannot.
        """
        if purpose == "triage":
            chosen = (spec or self._settings.audit_model or "").strip()
            requested = chosen or (self._settings.llm or "auto").strip()
            if requested.lower() in OFF:
                return None
            concrete = self._concrete(requested, "chat")
            unchosen_offline = not chosen and requested == "auto" and not concrete.startswith(CLOUD_PROVIDERS)
            return None if unchosen_offline or concrete.split("/")[0] in OFF else concrete
        if purpose == "judge":
            if not spec:
                return None
            concrete = self._concrete(spec, "chat")
            if spec.strip() == "auto" and not concrete.startswith(CLOUD_PROVIDERS):
                return None
            if concrete == "extractive":
                raise ConfigurationError(
                    "the extractive baseline cannot judge answers; set judge_model to a chat model"
                )
            return concrete
        return self._concrete(spec, purpose)

    def _concrete(self, spec: str | None, purpose: Purpose) -> str:
        requested = (spec or self._settings.llm).strip()
        if requested in self._registered:
            return requested
        return resolve_spec(check_spec(requested, self._settings), self._settings, purpose)

    def check(self, spec: str | None = None) -> str:
        """``spec`` (default: the configured model), if :meth:`resolve` can serve it."""
        requested = (spec or self._settings.llm).strip()
        self.resolve(requested)
        return requested

    def concrete(self, spec: str | None = None, purpose: Purpose = "chat") -> str:
        """What :meth:`resolve` answers for a chat or voice turn."""
        return self._concrete(spec, purpose)

    def choose(self, spec: str | None = None, purpose: Purpose = "chat") -> ModelChoice:
        """The model :meth:`resolve` names, built (once, then shared); for a purpose that resolves to no model,
        :class:`ConfigurationError`."""
        concrete = self.resolve(spec, purpose)
        if concrete is None:
            raise ConfigurationError(f"no {purpose} model is configured; name one")
        if concrete in self._registered:
            return ModelChoice(concrete, self._registered[concrete])
        default = self._settings.audit_model if purpose == "triage" else None
        requested = (spec or default or self._settings.llm or "auto").strip()
        model = self._get(concrete)
        fallback = None
        if requested == "auto" and concrete.startswith(CLOUD_PROVIDERS):
            fallback = self._get(offline_spec(self._settings, purpose))
        return ModelChoice(concrete, model, fallback)

    def available(self) -> list[str]:
        """Model specs offered in pickers: the configured one first, what else is set up here, the offline ones."""
        specs = list(dict.fromkeys([self._settings.llm or "auto", "auto"]))
        if self._settings.openai_api_key or self._settings.openai_base_url:
            specs.append(f"openai/{DEFAULT_OPENAI_MODEL}")
        if self._settings.groq_api_key:
            specs.append(f"groq/{DEFAULT_GROQ_MODEL}")
        specs.extend(f"local/{name}" for name in bundled.BUNDLED if local_runtime_available(name))
        specs.append("extractive")
        specs.extend(self._registered)
        return list(dict.fromkeys(specs))

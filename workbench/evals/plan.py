"""What an eval asked for interactively becomes: the suite, its variants and the cases to run.

The Evals tab's inputs (models picked or typed, prompt versions ticked, ``key=value[,value]`` lines, a case
limit) are read here the way the CLI reads ``--model``/``--set``, so a run from the UI and one from the command line
with the same choices are the same variants. Reading a suite imports it and lists its cases: call these in a worker
thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from evals import load_suite
from workbench.errors import WorkbenchError
from workbench.evals.suite import Case, Suite, Variant
from workbench.evals.variants import VariantError, build_variants, parse_sets
from workbench.settings import Settings

MAX_VARIANTS = 12
ALWAYS_OFFERED = "extractive"
"""The model every eval can use (no LLM): offered with whatever the server has."""


class SuiteUnavailable(WorkbenchError):
    """A suite that does not import or cannot list its cases; the other suites stay usable."""

    def __init__(self, suite: str, cause: Exception) -> None:
        super().__init__(f"the suite {suite} cannot be loaded: {cause}")
        self.suite = suite
        self.cause = cause


class TooManyVariants(VariantError):
    """More combinations than one eval may run (each variant is a full pass over the cases)."""


@dataclass(frozen=True)
class EvalPlan:
    """An eval ready to queue."""

    suite: Suite
    variants: list[Variant]
    cases: list[Case]
    """The cases to run (the limit applied)."""
    listed: list[Case]
    """Every case the suite has now (promoted ones included), for its description."""


def offered_models(available: list[str]) -> list[str]:
    """The models to offer: the server's, then the extractive baseline (once)."""
    return list(dict.fromkeys([*available, ALWAYS_OFFERED]))


def variant_choices(models: list[str] | str | None, versions: list[str] | None, sets: str | None) -> dict[str, list]:
    """The tab's inputs as :func:`~workbench.evals.variants.build_variants` choices: the settings box holds
    ``key=value[,value]`` lines (as the CLI's ``--set``); models may be picked or typed comma-separated."""
    lines = [line.strip() for line in (sets or "").splitlines() if line.strip() and not line.strip().startswith("#")]
    choices: dict[str, list[str]] = parse_sets(lines)
    picked = [models] if isinstance(models, str) else list(models or [])
    names = [name.strip() for item in picked for name in item.split(",") if name.strip()]
    if names:
        choices["model"] = list(dict.fromkeys(names))
    if versions:
        choices["prompt_version"] = list(versions)
    return choices


def limit_cases(cases: list[Case], limit: float | None) -> list[Case]:
    """The first ``limit`` bundled cases and every promoted one (promoting a run is asking for it to be run)."""
    if not limit or limit <= 0:
        return list(cases)
    bundled = [c for c in cases if c.source != "promoted"][: int(limit)]
    return bundled + [c for c in cases if c.source == "promoted"]


def prompt_versions(suite: Suite) -> list[str]:
    """The prompt versions a suite can compare: its own list, the chat graph's answer prompts for chat-rag."""
    if "prompt_version" not in suite.defaults:
        return []
    versions = getattr(suite, "prompt_versions", None)
    if versions is None and suite.name == "chat-rag":
        from graphs.chat_prompts import ANSWER_PROMPTS

        versions = list(ANSWER_PROMPTS)
    return list(versions or [str(suite.defaults["prompt_version"])])


def open_suite(name: str) -> Suite:
    """The suite called ``name``; :class:`SuiteUnavailable` when it does not import."""
    try:
        return load_suite(name)
    except Exception as exc:  # a suite that does not import: the others stay usable
        raise SuiteUnavailable(name, exc) from exc


def list_cases(suite: Suite, settings: Settings) -> list[Case]:
    """The suite's cases now (runs may have been promoted since); :class:`SuiteUnavailable` when it cannot say."""
    try:
        return suite.cases(settings)
    except Exception as exc:
        raise SuiteUnavailable(suite.name, exc) from exc


def read_suite(name: str, settings: Settings) -> tuple[Suite, list[Case]]:
    """The suite and its cases, for its description."""
    suite = open_suite(name)
    return suite, list_cases(suite, settings)


def plan_eval(name: str, settings: Settings, *, models: list[str] | str | None, versions: list[str] | None,
              sets: str | None, limit: float | None) -> EvalPlan:  # fmt: skip
    """The eval those choices ask for. Raises :class:`SuiteUnavailable`, :class:`VariantError` for a setting that
    does not parse, :class:`TooManyVariants` past :data:`MAX_VARIANTS` combinations."""
    suite = open_suite(name)
    variants = build_variants(suite.defaults, variant_choices(models, versions, sets))
    listed = list_cases(suite, settings)
    if len(variants) > MAX_VARIANTS:
        raise TooManyVariants(f"{len(variants)} variants: choose at most {MAX_VARIANTS} combinations.")
    return EvalPlan(suite, variants, limit_cases(listed, limit), listed)

"""Variants from the command line or the Evals tab: every combination of the values given for each knob.

``--model extractive --model local/smollm2-135m --set top_k=3,5`` gives four variants; one value each gives one.
Values are typed after the suite's defaults (int, float, bool, str).
"""

from __future__ import annotations

import itertools
from typing import Any

from workbench.evals.suite import Variant


class VariantError(ValueError):
    pass


def _typed(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise VariantError(f"{value!r} is not a boolean (true/false)")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def parse_sets(items: list[str]) -> dict[str, list[str]]:
    """``["top_k=3,5", "search_mode=dense"]`` -> ``{"top_k": ["3", "5"], "search_mode": ["dense"]}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip():
            raise VariantError(f"--set takes key=value[,value...], not {item!r}")
        out.setdefault(key.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return out


def build_variants(defaults: dict[str, Any], choices: dict[str, list[str]]) -> list[Variant]:
    """One variant per combination of the chosen values; unknown knobs are refused with the known ones."""
    unknown = sorted(set(choices) - set(defaults))
    if unknown:
        raise VariantError(f"unknown settings {unknown}; this suite takes {', '.join(sorted(defaults))}")
    keys = [k for k, v in choices.items() if v]
    try:
        values = [[_typed(v, defaults[k]) for v in dict.fromkeys(choices[k])] for k in keys]
    except ValueError as exc:
        raise VariantError(str(exc)) from exc
    variants = []
    for combo in itertools.product(*values):
        params = dict(zip(keys, combo, strict=True))
        varying = [k for k, v in zip(keys, values, strict=True) if len(v) > 1]
        name = ",".join(f"{k}={params[k]}" for k in varying) or ",".join(f"{k}={v}" for k, v in params.items())
        variants.append(Variant(name or "default", params))
    return variants

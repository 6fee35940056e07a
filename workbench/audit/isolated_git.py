"""git as the audit runs it: nothing from the repository or the machine acts, and it can always be stopped.

Every git command gets ``-c`` settings that switch off hooks, fsmonitor, symlinks, credential helpers, redirects
and every protocol but the one asked for, and an environment without the caller's ``GIT_*`` variables, system or
global configuration, or prompts. A clone is watched while it runs: stopped on cancel, at its deadline, or when the
checkout passes its size or file bounds; its error message names no server folder.

Why ``subprocess`` rather than ``git.Repo.clone_from``: GitPython always starts from ``os.environ`` (so inherited
``GIT_DIR``, ``GIT_CONFIG_*`` and the like could not be dropped) and its clone blocks without a way to cancel or
watch the size. git runs in a process group of its own that a timeout or a cancel kills whole, and that dies with
this process even when it is killed (:mod:`workbench.audit.child_processes`); the executable is the one
GitPython is configured with (``GIT_PYTHON_GIT_EXECUTABLE``), and GitPython reads the index.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from workbench.audit import child_processes
from workbench.audit.checkout_tree import Bounds, CloneError, measure
from workbench.audit.git_source import scratch_for

_POLL_S = 0.05


def git_clone(url: str, dest: Path, *, ref: str | None, depth: int, protocol: str, bounds: Bounds) -> None:
    """Clone ``url`` into ``dest`` within ``bounds``, one branch (``ref``, else the default) ``depth`` commits deep;
    raises :class:`CloneError` (``ref_not_found``, ``clone_failed``) or what the bounds raise."""
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


def read_history(dest: Path) -> tuple[str, int]:
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


def index_symlinks(dest: Path) -> list[str]:
    """Paths git recorded as symbolic links (checked out as plain files holding the link's target)."""
    import git

    repo = git.Repo(dest)
    try:
        return [str(entry.path) for entry in repo.index.entries.values() if stat.S_ISLNK(entry.mode)]
    finally:
        repo.close()

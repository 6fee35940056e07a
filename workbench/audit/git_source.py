"""A local repository's history, read without leaving the folders allowed for audits.

git follows paths found inside a git directory: ``commondir``, ``objects/info/alternates`` and
``http-alternates``, a ``.git`` file's ``gitdir:`` (worktrees, submodules), symbolic links in place of
``objects``, ``refs``, ``HEAD``, ``packed-refs`` or any file under them, ``info/grafts``, config includes. Checking
those paths and then letting git open the repository would leave git free to read whatever they name by the
time it runs (a link swapped in after the check), and the list of what git follows grows with its versions.

So git never opens the audited repository. :func:`private_copy` copies, or hard-links where the file system
allows, only what a clone needs (``HEAD``, ``packed-refs``, ``shallow``, ``refs/``, ``reftable/``, ``objects/``)
into a bare repository of the audit's own, entering every folder and opening every file relative to its parent
with ``O_NOFOLLOW`` (:func:`~workbench.audit.checkout_tree.copy_tree`); its config is written anew (only the
object and ref formats carried over, read without includes). The audit's clone then reads that copy. What git
could follow is either not copied (``info/grafts``, hooks, worktrees, config and its includes) or refused with
a :class:`~workbench.audit.safety.TargetError` (``path_not_allowed``) that names the part of ``.git`` and no
server path: ``.git`` as a file or link, ``commondir``, alternates, any symbolic link among the copied parts.
:func:`check_git_dir` tells a request the same before a task is queued (checks on names, the copy decides).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from workbench.audit.checkout_tree import Bounds, CloneError, LinkFound, copy_tree, open_dir
from workbench.audit.safety import TargetError

NEEDED = frozenset({"HEAD", "packed-refs", "shallow", "refs", "reftable", "objects", "config"})
"""The entries of a git directory a clone reads (``config`` only for the formats it names)."""
FORMATS = {"objectformat": ("sha1", "sha256"), "refstorage": ("files", "reftable")}
"""The repository extensions carried over to the copy, with the values accepted."""

_WHAT_TO_DO = (
    "The audit reads only what lies inside the folders allowed for audits and follows no link out of them: "
    "audit the repository that holds the history itself, or make this one self-contained"
)
_BORROWING = {
    "commondir": "its git directory is a linked worktree's (.git/commondir names another repository)",
    "objects/info/alternates": "it borrows objects from another repository (.git/objects/info/alternates)",
    "objects/info/http-alternates": "it borrows objects from elsewhere (.git/objects/info/http-alternates)",
}


def check_git_dir(folder: Path) -> bool:
    """Whether ``folder`` is a git repository the audit can clone (False: a plain folder, copied instead).

    Raises :class:`TargetError` for a ``.git`` that is a file or a link, a git directory that borrows from
    another repository (``commondir``, alternates) or whose ``objects``, ``refs``, ``HEAD``... is a link. A quick
    check for requests; :func:`private_copy` enforces it, and every link below, as it reads."""
    dot_git = folder / ".git"
    if not os.path.lexists(dot_git):
        return False
    if dot_git.is_symlink() or not dot_git.is_dir():
        raise _refused("its .git is a file or a link naming a git directory elsewhere (a worktree or a submodule)")
    for relative, why in _BORROWING.items():
        if os.path.lexists(dot_git / relative):
            raise _refused(why)
    for name in sorted(NEEDED):
        if (dot_git / name).is_symlink():
            raise _refused(f"its .git holds a symbolic link (.git/{name})")
    return True


def scratch_for(dest: Path) -> Path:
    """Where :func:`private_copy` puts the copy for the checkout at ``dest`` (beside it, removed with it)."""
    return dest.with_name(f"{dest.name}.source")


@contextlib.contextmanager
def private_copy(folder: Path, dest: Path, bounds: Bounds) -> Iterator[Path]:
    """A bare copy of the history of the repository at ``folder`` (checked by :func:`check_git_dir`), made
    without following any link and removed on exit. Its bytes count against ``bounds`` (hard links do not);
    its files do not count against the checkout's file limit."""
    copy = scratch_for(dest)
    shutil.rmtree(copy, ignore_errors=True)  # a copy left by a killed process
    try:
        fd = open_dir(folder / ".git")
        try:
            copy_tree(
                fd,
                copy,
                dataclasses.replace(bounds, max_files=sys.maxsize),
                keep=_keep,
                links="refuse",
                hardlink=True,
            )
        except LinkFound as link:
            raise _refused(f"its .git holds a symbolic link (.git/{link.path})") from None
        finally:
            os.close(fd)
        _write_config(copy)
        yield copy
    finally:
        shutil.rmtree(copy, ignore_errors=True)  # no chmod: hard-linked files are the repository's own


def _keep(relative: str) -> bool:
    """Copy what a clone needs; refuse what would make git read another repository."""
    if relative in _BORROWING:
        raise _refused(_BORROWING[relative])
    return relative.split("/", 1)[0] in NEEDED


def _write_config(copy: Path) -> None:
    """Replace the copied config by one that holds only the repository's object and ref formats."""
    formats: dict[str, str] = {}
    config = copy / "config"
    if config.is_file():
        import git  # GitPython, imported when a clone runs

        parser = git.GitConfigParser(str(config), read_only=True, merge_includes=False)  # the copy: no link
        for key, accepted in FORMATS.items():
            try:
                value = str(parser.get_value("extensions", key)).strip().lower()
            except Exception:  # absent, or a config git itself would not read: the default
                continue
            if value not in accepted:
                raise CloneError("clone_failed", f"The repository uses an unsupported {key}: {value[:20]!r}.")
            formats[key] = value
        config.unlink()
    text = f"[core]\n\trepositoryformatversion = {1 if formats else 0}\n\tbare = true\n"
    if formats:
        text += "[extensions]\n" + "".join(f"\t{key} = {value}\n" for key, value in formats.items())
    config.write_text(text)


def _refused(why: str) -> TargetError:
    return TargetError("path_not_allowed", f"This repository cannot be audited: {why}. {_WHAT_TO_DO}.")

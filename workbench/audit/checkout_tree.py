"""A checkout's file tree within its bounds: the limits it runs under (time, size, file count, cancel), measuring
it and removing its symlinks without following any link, and copying local folders (a folder that is not a
repository, ``.git`` skipped; a repository's history, :mod:`workbench.audit.git_source`) through directory
descriptors opened with ``O_NOFOLLOW``, so no link is ever followed, even one swapped in while the copy runs."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.errors import WorkbenchError

CloneCode = Literal["clone_failed", "clone_timeout", "repo_too_large", "too_many_files", "ref_not_found", "cancelled"]

_CHUNK = 1024 * 1024


class CloneError(WorkbenchError):
    """A checkout failed or went past its bounds; ``code`` is machine-readable."""

    def __init__(self, code: CloneCode, message: str) -> None:
        super().__init__(message)
        self.code: CloneCode = code
        self.message = message


@dataclass
class Bounds:
    """The limits one checkout runs under."""

    max_bytes: int
    max_files: int
    deadline: float
    cancel: threading.Event

    def check_time(self) -> None:
        if self.cancel.is_set():
            raise CloneError("cancelled", "The checkout was cancelled.")
        if time.monotonic() > self.deadline:
            raise CloneError("clone_timeout", "The checkout took longer than audit_clone_timeout_s.")

    def check_size(self, files: int, total_bytes: int) -> None:
        if files > self.max_files:
            raise CloneError(
                "too_many_files", f"The repository has more than {self.max_files} files (audit_max_files)."
            )
        if total_bytes > self.max_bytes:
            raise CloneError(
                "repo_too_large", f"The repository takes more than {self.max_bytes} bytes (audit_max_repo_bytes)."
            )


def prepare_dest(dest: Path, source_dir: Path | None) -> None:
    """Refuse a destination that is not an absent or empty folder, or that overlaps the folder being audited."""
    if os.path.lexists(dest) and (dest.is_symlink() or not dest.is_dir() or any(dest.iterdir())):
        raise CloneError("clone_failed", "The task's checkout folder already exists; start a new task.")
    if source_dir is not None:
        real = dest.resolve()
        if real.is_relative_to(source_dir) or source_dir.is_relative_to(real):
            raise CloneError("clone_failed", "The destination must lie outside the folder being audited.")
    dest.parent.mkdir(parents=True, exist_ok=True)


def _walk(root: Path) -> Iterator[os.DirEntry[str]]:
    """Every entry under ``root`` without following symlinks; entries vanishing meanwhile are skipped."""
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    yield entry
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except (FileNotFoundError, NotADirectoryError):
            continue


def measure(dest: Path) -> tuple[int, int, int]:
    """Regular files outside ``.git``, their bytes, and the bytes of everything under ``dest``."""
    files = size = total = 0
    dot_git = str(dest / ".git")
    for entry in _walk(dest):
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            length = entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
        total += length
        if not entry.path.startswith(dot_git + os.sep):
            files += 1
            size += length
    return files, size, total


def remove_symlinks(dest: Path, recorded: list[str]) -> int:
    """Delete what git recorded as symlinks and every symlink on disk outside ``.git``; return how many."""
    removed = 0
    for relative in recorded:
        path = dest / relative
        if os.path.lexists(path) and not path.is_dir():
            path.unlink()
            removed += 1
    dot_git = str(dest / ".git")
    for entry in list(_walk(dest)):
        if entry.is_symlink() and not entry.path.startswith(dot_git + os.sep):
            os.unlink(entry.path)
            removed += 1
    return removed


class LinkFound(Exception):  # a signal between copy_tree and its caller, never shown
    """``copy_tree(links="refuse")`` met a symbolic link; ``path`` is relative to the copied folder."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def open_dir(path: Path) -> int:
    """A descriptor of the directory at the absolute ``path``, opened one component at a time without following
    a link: the folder reached is the one the path names now, not wherever a link swapped in since it was
    checked would lead. Raises :class:`CloneError` when a component is a link or not a directory."""
    fd = os.open("/", _DIR_FLAGS)
    try:
        for part in Path(path).absolute().parts[1:]:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError as error:
        os.close(fd)
        raise CloneError(
            "clone_failed", f"The folder changed while it was being read ({error.strerror}); try again."
        ) from None
    return fd


def copy_tree(
    source: int,
    dest: Path,
    bounds: Bounds,
    *,
    keep: Callable[[str], bool] = lambda relative: relative.rsplit("/", 1)[-1] != ".git",
    links: Literal["skip", "refuse"] = "skip",
    hardlink: bool = False,
) -> int:
    """Copy the regular files and folders under the directory ``source`` (a descriptor, see :func:`open_dir`)
    that ``keep`` accepts (by their path relative to it; default: all but ``.git``) into ``dest``.

    Nothing is ever followed: every folder is entered and every file opened relative to its parent's
    descriptor with ``O_NOFOLLOW``, so a link swapped in while the copy runs is refused, never read through.
    ``links``: symbolic links are left out (counted: the return value) or raise :class:`LinkFound`. Fifos,
    sockets and devices are left out. ``hardlink``: link files rather than copy them where the file system
    allows (the copy must then never be written to); linked bytes are not counted against ``bounds``."""
    dest.mkdir(exist_ok=True)
    totals = [0, 0, 0]  # skipped links, files copied, bytes copied
    _copy_dir(source, "", dest, bounds, keep, links, hardlink, totals)
    return totals[0]


def _copy_dir(
    fd: int,
    prefix: str,
    dest: Path,
    bounds: Bounds,
    keep: Callable[[str], bool],
    links: Literal["skip", "refuse"],
    hardlink: bool,
    totals: list[int],
) -> None:
    with os.scandir(fd) as listing:
        names = sorted(entry.name for entry in listing)
    for name in names:
        bounds.check_time()
        relative = f"{prefix}{name}"
        if not keep(relative):
            continue
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            if links == "refuse":
                raise LinkFound(relative)
            totals[0] += 1
        elif stat.S_ISDIR(mode):
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as error:
                if links == "refuse" and error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise LinkFound(relative) from None
                raise CloneError("clone_failed", f"Cannot read the folder {relative}: {error.strerror}.") from None
            try:
                (dest / name).mkdir()
                _copy_dir(child, f"{relative}/", dest / name, bounds, keep, links, hardlink, totals)
            finally:
                os.close(child)
        elif stat.S_ISREG(mode):
            if hardlink and _link_file(fd, name, dest / name):
                continue
            copied = _copy_file(fd, name, dest / name, bounds, totals[2])
            if copied is None:
                if links == "refuse":
                    raise LinkFound(relative)
                totals[0] += 1
                continue
            totals[1], totals[2] = totals[1] + 1, totals[2] + copied
            bounds.check_size(totals[1], totals[2])


def _link_file(fd: int, name: str, dest: Path) -> bool:
    """A hard link at ``dest`` to the regular file ``name`` (never to a link swapped in); False: copy it."""
    try:
        os.link(name, dest, src_dir_fd=fd, follow_symlinks=False)
    except OSError:  # another file system, or protected_hardlinks and a file of another user
        return False
    if stat.S_ISREG(os.lstat(dest).st_mode):
        return True
    dest.unlink()  # it became something else since it was listed: copy_file refuses or skips it
    return False


def _copy_file(fd: int, name: str, dest: Path, bounds: Bounds, copied_before: int) -> int | None:
    """Copy one regular file; ``None`` when it turned into a symlink or special file since it was listed."""
    try:
        source = os.open(name, _FILE_FLAGS, dir_fd=fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None
        raise CloneError("clone_failed", f"A file could not be read ({error.strerror}); try again.") from None
    with open(source, "rb") as reader:
        if not stat.S_ISREG(os.fstat(source).st_mode):
            return None
        copied = 0
        with open(dest, "xb") as writer:
            while chunk := reader.read(_CHUNK):
                writer.write(chunk)
                copied += len(chunk)
                bounds.check_size(0, copied_before + copied)
                bounds.check_time()
    return copied

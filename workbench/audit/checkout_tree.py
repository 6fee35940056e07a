"""A checkout's file tree within its bounds: the limits it runs under (time, size, file count, cancel), measuring
it and removing its symlinks without following any link, and copying a local folder that is not a repository
(``.git`` skipped, only regular files and folders)."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
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


def copy_tree(source: Path, dest: Path, bounds: Bounds) -> int:
    """Copy regular files and folders (``.git`` skipped, symlinks never followed); return the symlinks left out."""
    dest.mkdir(exist_ok=True)
    skipped = files = size = 0
    stack = [(source, dest)]
    while stack:
        source_dir, dest_dir = stack.pop()
        with os.scandir(source_dir) as entries:
            for entry in entries:
                bounds.check_time()
                if entry.name == ".git":
                    continue
                if entry.is_symlink():
                    skipped += 1
                elif entry.is_dir(follow_symlinks=False):
                    (dest_dir / entry.name).mkdir()
                    stack.append((Path(entry.path), dest_dir / entry.name))
                elif entry.is_file(follow_symlinks=False):  # fifos, sockets and devices are left out
                    copied = _copy_file(Path(entry.path), dest_dir / entry.name, bounds, size)
                    if copied is None:
                        skipped += 1
                        continue
                    files, size = files + 1, size + copied
                    bounds.check_size(files, size)
    return skipped


def _copy_file(source: Path, dest: Path, bounds: Bounds, copied_before: int) -> int | None:
    """Copy one regular file; ``None`` when it turned into a symlink or special file since it was listed."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(source, flags)
    except OSError as error:
        if os.path.islink(source):
            return None
        raise CloneError("clone_failed", f"Cannot read {source}: {error.strerror}.") from None
    with open(fd, "rb") as reader:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        copied = 0
        with open(dest, "xb") as writer:
            while chunk := reader.read(_CHUNK):
                writer.write(chunk)
                copied += len(chunk)
                bounds.check_size(0, copied_before + copied)
                bounds.check_time()
    return copied

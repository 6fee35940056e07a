"""The folder of the Qdrant Edge store: one process's at a time, and never written past what its disk can back.

The folder belongs to one process at a time: the store takes a lock on ``.lock`` when it opens, and a second
process is refused with a clear error (Edge itself refuses to open a shard whose write-ahead log another process
holds, and opening one without its log while another process writes corrupts it; measured, see
docs/benchmarks.md).

Disk space: Edge maps its files into memory, and they are sparse (a write-ahead log segment or a page file is 32 MB
long from its creation, backed by the disk only as it is written). A write into a hole when the disk is full kills
the process with SIGBUS, with no chance to report it, and a store that filled the disk would then crash every
process that opens it (its log is replayed on open). So before opening a shard or writing to it, the store checks
that the disk has room for every hole its files still hold plus ``min_free_bytes`` (``WORKBENCH_MIN_FREE_DISK_MB``)
for the files a write may add, and refuses with :class:`~workbench.errors.StorageUnavailable` otherwise: its files
stay intact, and once space is freed it opens and writes as before.
"""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path
from typing import TextIO

from workbench.errors import ConfigurationError, StorageUnavailable


class StoreInUse(ConfigurationError):
    """Another process holds the store's folder."""


def lock_folder(root: Path) -> TextIO:
    """The open ``.lock`` file of ``root``, locked for this process until it is closed; :class:`StoreInUse` when
    another process holds it."""
    lock_file = open(root / ".lock", "a+")  # noqa: SIM115 (held for the store's life)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise StoreInUse(
            f"the vector store in {root.name}/ is in use by another workbench process (one process at a time "
            "opens an embedded store): stop it, or set QDRANT_URL to share a Qdrant server"
        ) from None
    return lock_file


def check_room(root: Path, folder: Path, min_free_bytes: int, name: str, action: str) -> None:
    """Refuse (:class:`StorageUnavailable`) to ``action`` collection ``name`` (in ``folder``) unless the disk can
    back every hole of its files plus ``min_free_bytes`` (see the module docstring)."""
    needed = unbacked_bytes(folder) + min_free_bytes
    free = shutil.disk_usage(root).free
    if free < needed:
        raise StorageUnavailable(
            f"the vector store needs about {_mb(needed)} MB free on the disk holding WORKBENCH_HOME to {action} "
            f"collection {name!r} safely, and {_mb(free)} MB are free: free space on that disk (the index is "
            "intact and is used again once there is room)"
        )


def unbacked_bytes(folder: Path) -> int:
    """Bytes of ``folder``'s files that the disk does not back yet (the holes of sparse files)."""
    total = 0
    for path in folder.rglob("*") if folder.is_dir() else ():
        try:
            stat = path.lstat()
        except OSError:
            continue
        if path.is_file():
            total += max(0, stat.st_size - stat.st_blocks * 512)
    return total


def _mb(count: int) -> int:
    return -(-count // 2**20)

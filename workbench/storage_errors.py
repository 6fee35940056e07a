"""Which failure a store's error is: a full disk, a read-only home, a damaged file, or none of those.

Every store the server writes (the run log's DuckDB file and its SQLite journal, the session checkpoints and
leases) meets the same few failures, and an operator can act on each in one way: free space, make the home
writable, move the file aside or restore it. One classifier reads them all, so a full disk is called a full disk
whichever store met it, and a damaged file is moved aside or reported by the same rule everywhere. It reads only the
error (its text, ``errno`` and SQLite's error name), never the file: it is core, below every store.
"""

from __future__ import annotations

from typing import Literal

Fault = Literal["full", "read_only", "damaged", "unavailable"]
"""What a failed read or write met; ``unavailable`` is anything else (the server log has the details)."""

DAMAGED_SQLITE = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
"""SQLite's names for a file that is not a database or is corrupt."""


def fault_of(exc: BaseException) -> Fault:
    """The failure ``exc`` reports; a full disk or a read-only home wins over the damage it may cause."""
    text = str(exc).lower()
    if "full" in text or "no space" in text or getattr(exc, "errno", None) == 28:
        return "full"
    if "read-only" in text or "readonly" in text or "permission" in text:
        return "read_only"
    if getattr(exc, "sqlite_errorname", "") in DAMAGED_SQLITE or any(
        sign in text for sign in ("malformed", "not a database", "corrupt")
    ):
        return "damaged"
    return "unavailable"


def is_damaged(exc: BaseException) -> bool:
    """Whether ``exc`` says the file is not a database or is corrupt."""
    return fault_of(exc) == "damaged"


def storage_problem(exc: BaseException, store: str) -> str:
    """What an operator should read about a failed write to ``store`` (no path, no exception class)."""
    match fault_of(exc):
        case "full":
            return f"{store} cannot be written: the disk holding WORKBENCH_HOME is full; free space on it"
        case "read_only":
            return f"{store} cannot be written: WORKBENCH_HOME is read-only; make it writable"
        case "damaged":
            return f"{store} is damaged; move the file aside (the server rebuilds what it can) or restore a backup"
        case _:
            return f"{store} cannot be written; the server log has the details"

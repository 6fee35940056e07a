"""Errors a user can hit, each saying what to do about it.

Each class carries the protocol ``code`` a socket sends for it (``error`` events of ``/ws/chat``, ``/ws/assistant``
and ``/ws/tasks``), so one mapping serves every surface: a subclass names its code, and a client sees that code
with the error's message.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class for errors with a message meant for the user."""

    code: str = "model_unavailable"


class ConfigurationError(WorkbenchError):
    """A setting or model string is wrong or a provider is not available."""

    code: str = "invalid_config"


class ProviderUnavailable(WorkbenchError):
    """A provider was asked for but cannot run here (missing key, package or server)."""


class IngestError(WorkbenchError):
    """A file could not be read or indexed."""


class StorageUnavailable(WorkbenchError):
    """A store the server writes to (the run log, session checkpoints or leases, the vector store) cannot be
    written or read now: a full disk, a damaged file, a database that is down. The message names the store and what
    the operator should do; the turn's outcome was not recorded as the client saw it."""

    code: str = "storage_unavailable"

"""Errors a user can hit, each saying what to do about it."""


class WorkbenchError(Exception):
    """Base class for errors with a message meant for the user."""


class ConfigurationError(WorkbenchError):
    """A setting or model string is wrong or a provider is not available."""


class ProviderUnavailable(WorkbenchError):
    """A provider was asked for but cannot run here (missing key, package or server)."""


class IngestError(WorkbenchError):
    """A file could not be read or indexed."""

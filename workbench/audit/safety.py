"""Which repositories an audit may touch, decided before any git process starts.

:func:`check_target` turns what a user typed into a :class:`Target`: a normalized ``https://`` URL on one of
``settings.audit_allowed_hosts``, or a resolved directory under one of ``settings.audit_allowed_roots``. Everything
else is refused with a :class:`TargetError` whose ``code`` a client can act on and whose message says what is
allowed: other schemes (``http``, ``ssh``, ``git``, scp-like ``user@host:path``), git's ``<transport>::<address>``
syntax (``ext::``, ``fd::``), values that git could read as options (``-u``, ``--upload-pack=``), credentials,
ports, queries, control characters and percent-encoded versions of all these. :func:`check_task_id` keeps the
task id that names a checkout folder a UUID, so it cannot name a path.

The module is pure: no git process, no network; the only file-system access is resolving local paths.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

from workbench.audit.models import AGENTS
from workbench.errors import WorkbenchError
from workbench.settings import Settings

TargetCode = Literal[
    "invalid_target",
    "unsupported_scheme",
    "option_injection",
    "credentials_in_url",
    "host_not_allowed",
    "path_not_allowed",
    "not_found",
    "invalid_ref",
    "invalid_task_id",
]

ROOTS_ENV = "WORKBENCH_AUDIT_ALLOWED_ROOTS"
MAX_TARGET_CHARS = 2048
MAX_REF_CHARS = 200

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TRANSPORT = re.compile(r"^[A-Za-z0-9+.-]*::")  # git's "<transport>::<address>" remote-helper syntax
_SEGMENT = re.compile(r"^[A-Za-z0-9._~+-]+$")  # one path segment of a repository URL, once decoded
_TASK_ID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_REF_FORBIDDEN = re.compile(r"[\s~^:?*\[\\]|\.\.|@\{|//")


class TargetError(WorkbenchError):
    """A repository target or ref was refused; ``code`` is machine-readable, the message says what is allowed."""

    def __init__(self, code: TargetCode, message: str) -> None:
        super().__init__(message)
        self.code: TargetCode = code
        self.message = message


class InvalidRequest(WorkbenchError):
    """A task request that names unknown agents or bad limits."""

    code = "invalid_request"


def check_agents(agents: list[str] | None) -> list[str]:
    """The agents an audit runs: every one when ``agents`` is None, else the named ones, each known; an empty list
    or an unknown name raises :class:`InvalidRequest`. The one check of a request's agents (the task manager's,
    the CLI's and the graph's, whose input may come from any client of a graph server)."""
    if agents is None:
        return list(AGENTS)
    if not agents:
        raise InvalidRequest("choose at least one agent (or leave agents out for all of them)")
    unknown = sorted(set(agents) - set(AGENTS))
    if unknown:
        raise InvalidRequest(f"unknown agents {unknown}; choose from {list(AGENTS)}")
    return list(agents)


@dataclass(frozen=True)
class Target:
    """A repository the audit may clone: checked, normalized, safe to hand to git after ``--``."""

    kind: Literal["url", "path"]
    location: str
    """A normalized ``https://host/path`` URL, or a resolved absolute directory."""
    display: str
    """What to show users (never holds credentials)."""


def check_target(value: str, settings: Settings) -> Target:
    """Accept an ``https://`` URL on an allowed host or a directory under an allowed root; refuse anything else.

    Raises :class:`TargetError` before anything is fetched or run.
    """
    if not isinstance(value, str):
        raise TargetError("invalid_target", "The repository must be given as text: an https:// URL or a local path.")
    text = value.strip()
    _check_text(text, settings)
    decoded = unquote(text)
    if decoded != text:  # the same checks on the decoded form: %2d-, %0a, ext%3a%3a...
        _check_text(decoded, settings)

    scheme = _SCHEME.match(text)
    if scheme is None:
        head = text.split("/", 1)[0]
        if ":" in head:  # git reads "host:path" and "user@host:path" as ssh
            raise TargetError("unsupported_scheme", f"scp-like ssh addresses are not accepted. {_allowed(settings)}")
        return _check_path(text, settings)
    match scheme.group(1).lower():
        case "https":
            return _check_https(text, settings)
        case "file":
            return _check_file_url(text, settings)
        case other:
            raise TargetError("unsupported_scheme", f"{other}:// URLs are not accepted. {_allowed(settings)}")


def check_ref(ref: str | None) -> str | None:
    """A branch or tag name that git's check-ref-format accepts and git cannot read as an option; blank: ``None``."""
    if ref is None or not ref.strip():
        return None
    ref = ref.strip()
    problem = None
    if len(ref) > MAX_REF_CHARS:
        problem = f"it is longer than {MAX_REF_CHARS} characters"
    elif ref.startswith("-"):
        problem = "it starts with '-'"
    elif _has_control(ref) or _REF_FORBIDDEN.search(ref):
        problem = "it holds a space, a control character, '..', '@{', '//' or one of ~ ^ : ? * [ \\"
    elif ref == "@" or ref.startswith("/") or ref.endswith(("/", ".")):
        problem = "it is '@', starts or ends with '/', or ends with '.'"
    elif any(part.startswith(".") or part.endswith(".lock") for part in ref.split("/")):
        problem = "a part of it starts with '.' or ends with '.lock'"
    if problem:
        raise TargetError("invalid_ref", f"Invalid ref: {problem}. Give a branch or tag name such as 'main' or 'v1.2'.")
    return ref


def check_task_id(task_id: object) -> str:
    """A task id as a UUID, 32 hex digits or dashed, in its 32-hex form: it names the task's checkout folder."""
    if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
        raise TargetError(
            "invalid_task_id",
            "The task id must be a UUID (32 hex digits, dashes allowed); leave it out to get a new one.",
        )
    return uuid.UUID(task_id).hex


# --- checks shared by every form --------------------------------------------------------------------------------


def _check_text(text: str, settings: Settings) -> None:
    if not text:
        raise TargetError("invalid_target", f"No repository given. {_allowed(settings)}")
    if len(text) > MAX_TARGET_CHARS:
        raise TargetError("invalid_target", f"The repository is longer than {MAX_TARGET_CHARS} characters.")
    if _has_control(text):
        raise TargetError("invalid_target", "The repository holds control characters or line breaks.")
    if text.startswith("-"):
        raise TargetError(
            "option_injection", f"The repository starts with '-', which git reads as an option. {_allowed(settings)}"
        )
    if _TRANSPORT.match(text):
        raise TargetError(
            "unsupported_scheme", f"git transport syntax ('ext::', 'fd::', ...) is not accepted. {_allowed(settings)}"
        )


def _has_control(text: str) -> bool:
    """Control, format (bidi overrides, zero-width) and line/paragraph separator characters."""
    return any(unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} for char in text)


def _allowed(settings: Settings) -> str:
    hosts = ", ".join(settings.audit_allowed_hosts) or "none configured"
    roots = (
        f"or a directory under {', '.join(str(root) for root in settings.audit_allowed_roots)}"
        if settings.audit_allowed_roots
        else f"(local paths need {ROOTS_ENV})"
    )
    return f"Give an https:// URL on one of these hosts: {hosts}; {roots}."


# --- https URLs -------------------------------------------------------------------------------------------------


def _check_https(text: str, settings: Settings) -> Target:
    parts = _split(text)
    if "@" in parts.netloc:
        raise TargetError(
            "credentials_in_url",
            "Credentials in the URL are not accepted; only public repositories "
            "can be audited, by their plain https:// URL.",
        )
    if "?" in text or "#" in text:
        raise TargetError("invalid_target", "Queries and fragments ('?', '#') are not accepted in repository URLs.")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise TargetError("invalid_target", "The URL's port is not a number.") from None
    allowed = {name.strip().lower() for name in settings.audit_allowed_hosts}
    if not host:
        raise TargetError("invalid_target", f"The URL names no host. {_allowed(settings)}")
    if host not in allowed:
        raise TargetError("host_not_allowed", f"Host {host!r} is not allowed. {_allowed(settings)}")
    if port not in (None, 443):
        raise TargetError("host_not_allowed", f"Port {port} is not allowed; only the default https port (443).")
    segments = _url_segments(parts.path)
    location = f"https://{host}/{'/'.join(segments)}"
    return Target(kind="url", location=location, display=location)


def _split(text: str) -> SplitResult:
    try:
        return urlsplit(text)
    except ValueError as error:  # e.g. unbalanced brackets around an IPv6 host
        raise TargetError("invalid_target", f"Not a valid URL: {error}.") from None


def _url_segments(path: str) -> list[str]:
    """The repository path's segments, each decoded once and limited to the characters repository names use."""
    raw = path.strip("/").split("/") if path.strip("/") else []
    if not raw:
        raise TargetError("invalid_target", "The URL names no repository: give https://host/owner/name.")
    segments = []
    for segment in raw:
        decoded = unquote(segment)
        if decoded.startswith("-"):
            raise TargetError(
                "option_injection", "A URL path segment starts with '-', which git could read as an option."
            )
        if not decoded or decoded in {".", ".."} or not _SEGMENT.match(decoded):
            raise TargetError(
                "invalid_target",
                "The URL's path may only hold names made of letters, digits and "
                "'.', '_', '~', '+', '-', separated by single slashes.",
            )
        segments.append(decoded)
    return segments


# --- local paths ------------------------------------------------------------------------------------------------


def _check_file_url(text: str, settings: Settings) -> Target:
    parts = _split(text)
    if parts.netloc not in {"", "localhost"} or parts.query or parts.fragment or "?" in text or "#" in text:
        raise TargetError("invalid_target", "A file:// URL must name a local directory: file:///path/to/repository.")
    return _check_path(unquote(parts.path), settings)


def _check_path(text: str, settings: Settings) -> Target:
    """A directory inside an allowed root once every symlink and '..' is resolved."""
    if not settings.audit_allowed_roots:
        raise TargetError(
            "path_not_allowed",
            f"Local paths are not accepted: no folder is allowed for audits. Set "
            f"{ROOTS_ENV} to the folders (separated by ',' or '{os.pathsep}') whose repositories may "
            f"be audited, or give an https:// URL on one of: "
            f"{', '.join(settings.audit_allowed_hosts)}.",
        )
    try:
        resolved = Path(text).expanduser().resolve()
        roots = [Path(root).expanduser().resolve() for root in settings.audit_allowed_roots]
    except (OSError, RuntimeError) as error:  # symlink loops, unreadable components
        raise TargetError("invalid_target", f"The path cannot be resolved: {error.__class__.__name__}.") from None
    # Containment is decided on the resolved path before its existence, so nothing outside the roots is probed.
    if not any(resolved.is_relative_to(root) for root in roots):
        raise TargetError(
            "path_not_allowed",
            f"{text!r} is outside the folders allowed for audits "
            f"({', '.join(str(root) for root in roots)}; set by {ROOTS_ENV}).",
        )
    if not resolved.exists():
        raise TargetError("not_found", f"{text!r} does not exist.")
    if not resolved.is_dir():
        raise TargetError("invalid_target", f"{text!r} is not a directory; give the repository's folder.")
    return Target(kind="path", location=str(resolved), display=str(resolved))

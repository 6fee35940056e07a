"""The server's edges: who may call it (token, hosts, origins, frames, logins) and how much one client may send.

A group of :class:`~workbench.settings.Settings`' fields (never built alone: ``Settings`` gives them the
``WORKBENCH_`` environment prefix).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from workbench.settings.env_lists import split

ORIGIN = re.compile(r"https?://[^/\s;']+/?")
"""An origin: ``scheme://host[:port]``, nothing after it (no quote or semicolon either: origins go into the
Content-Security-Policy header)."""


def origins(value: object) -> object:
    """Origins given as ``a,b``, ``a b`` or JSON (an origin holds colons: only commas and spaces separate),
    checked, lowercased and kept without a trailing slash."""
    value = split(value, r"[,\s]+")
    if isinstance(value, list):
        for origin in value:
            if not isinstance(origin, str) or not ORIGIN.fullmatch(origin):
                raise ValueError(f"{str(origin)[:80]!r} is not an origin like https://app.example.com")
        return [origin.rstrip("/").lower() for origin in value]
    return value


class EdgeSettings(BaseModel):
    """Authentication, the DNS-rebinding and cross-origin guards, and the limits on bodies, messages and turns."""

    model_config = ConfigDict(defer_build=True)  # never built alone: Settings builds the whole

    api_token: SecretStr | None = Field(
        default=None,
        description="Token for /api, /ws and the UI (Authorization: Bearer, ?token= or the login cookie); "
        "optional on loopback, required to serve on any other address.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers to besides the loopback ones (DNS-rebinding guard); "
        "'*' turns the check off.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose pages may open sockets and send requests, besides the "
        "server's own.",
    )
    frame_ancestors: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose pages may show the server's pages in a frame; none: no "
        "page may (Content-Security-Policy frame-ancestors 'none' and X-Frame-Options: DENY).",
    )
    session_ttl_s: int = Field(
        default=12 * 3600, ge=1, description="How long a browser stays logged in after /login, in seconds."
    )
    auth_max_failures: int = Field(
        default=10,
        ge=1,
        description="Wrong API tokens (Bearer, ?token=, /login) one client address may send within auth_lockout_s; "
        "past that its attempts get 429 with Retry-After until the oldest of them is auth_lockout_s old.",
    )
    auth_lockout_s: float = Field(
        default=60.0, gt=0, description="The window, in seconds, in which auth_max_failures wrong tokens lock out."
    )

    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest HTTP request body on any route (REST, /login, the UI's own calls): a larger declared "
        "Content-Length gets 413 before anything is read, a streamed body 413 once it passes the limit. The UI's "
        "file upload takes max_upload_files × max_upload_bytes.",
    )
    max_message_bytes: int = Field(default=64 * 1024, ge=1024, description="Largest WebSocket text message accepted.")
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest file accepted by the UI upload (documents, audio)."
    )
    max_upload_files: int = Field(default=20, ge=1, le=1000, description="Most files one UI upload may index.")
    max_messages_per_s: float = Field(default=10.0, gt=0, description="Sustained messages per second per socket.")
    max_message_burst: int = Field(default=30, ge=1, description="Messages a socket may send at once above the rate.")
    max_turns_per_client: int = Field(
        default=4, ge=1, description="Turns one client address may run at once, over all its sockets."
    )
    eval_max_per_client: int = Field(
        default=2, ge=1, le=100, description="Eval runs one client address may have queued or running in the UI."
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        """Host names: ``a,b``, ``a b`` or JSON."""
        return split(value, r"[,\s]+")

    @field_validator("allowed_origins", "frame_ancestors", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return origins(value)

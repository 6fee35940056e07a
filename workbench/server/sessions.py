"""The login cookie: a random value per login, signed with a key derived from the API token and stamped with its
issue time (:mod:`itsdangerous`), accepted for ``WORKBENCH_SESSION_TTL_S`` seconds.

Nothing is kept on the server, so every gateway process that shares the token accepts the same cookie; changing the
token ends every session. The cookie never holds the token or anything derived from it alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, TimestampSigner
from starlette.responses import Response

COOKIE = "workbench_session"
_SALT = "agent-workbench ui session"


class Sessions:
    """Issues and checks login cookies for one API token."""

    def __init__(self, token: str, ttl_s: int) -> None:
        self.ttl_s = ttl_s
        self._token = token.encode()
        self._signer = TimestampSigner(token, salt=_SALT, digest_method=hashlib.sha256)

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is the one these sessions are for (compared in constant time)."""
        return hmac.compare_digest(token.strip().encode(), self._token)

    def issue(self) -> str:
        """A new session value: random, signed, stamped with the time it was issued."""
        return self._signer.sign(secrets.token_urlsafe(16)).decode()

    def valid(self, value: str | None) -> bool:
        """Whether ``value`` is a session this token issued less than ``ttl_s`` seconds ago."""
        if not value:
            return False
        try:
            self._signer.unsign(value, max_age=self.ttl_s)
        except BadSignature:  # forged, damaged, issued for another token, or expired
            return False
        return True

    def start(self, response: Response, *, secure: bool) -> None:
        """Log the browser in: a new session cookie on ``response`` (``Secure`` when served over https)."""
        response.set_cookie(
            COOKIE, self.issue(), max_age=self.ttl_s, httponly=True, samesite="strict", secure=secure, path="/"
        )

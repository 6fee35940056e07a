"""What stands between the network and the application: the Host allowlist (DNS rebinding), the Origin check
(cross-site pages), framing, the API token, request body limits, and CORS.

Every HTTP request and WebSocket handshake passes, outermost first:

1. :class:`FrameGuard`: every HTTP response says which pages may frame it (``Content-Security-Policy:
   frame-ancestors``): none, unless ``WORKBENCH_FRAME_ANCESTORS`` names some origins; with none, also
   ``X-Frame-Options: DENY`` for older browsers. No other site can load the UI in a frame and steer clicks.
2. :class:`~starlette.middleware.trustedhost.TrustedHostMiddleware`: the ``Host`` header must be a loopback name,
   the address the server was started on, or one of ``WORKBENCH_ALLOWED_HOSTS``; anything else is a 400, so a
   page on a rebound domain never reaches the app.
3. :class:`OriginGuard`: a request or handshake that carries an ``Origin`` must come from the server's own origin
   or one of ``WORKBENCH_ALLOWED_ORIGINS``; ``null`` and foreign origins get a 403 before any WebSocket is
   accepted. Browsers always send ``Origin`` on WebSocket handshakes and cross-site writes; clients that are no
   browser send none, and the token (4) is what holds them.
4. :class:`TokenGuard`: with ``WORKBENCH_API_TOKEN`` set, everything but ``/health`` and the login page needs the
   token (``Authorization: Bearer``, a ``token`` query parameter, or the login cookie of
   :mod:`workbench.server.sessions`), compared in constant time. Wrong tokens count against the client's address
   (:mod:`workbench.server.lockout`): past ``WORKBENCH_AUTH_MAX_FAILURES`` its attempts get 429. Without a token
   only connections that arrive on a loopback address are served, and so with a token shorter than
   :data:`MIN_TOKEN_LENGTH`.
5. :class:`~workbench.server.limits.BodyLimit`: request bodies over their limit get 413 before they are read.
6. Starlette's ``CORSMiddleware`` with only the allowed origins (Gradio then adds no CORS policy of its own).

The token never reaches the log (:mod:`workbench.server.log_redaction`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.server.limits import BodyLimit, body_limits
from workbench.server.lockout import Lockout, client_key
from workbench.server.log_redaction import redact_server_logs
from workbench.server.sessions import COOKIE, Sessions
from workbench.settings import Settings

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
LOGIN_PATH = "/login"
#: Reachable without the token: liveness, and the page that asks for it.
PUBLIC_PATHS = frozenset({"/health", LOGIN_PATH})
#: The shortest API token a server reachable beyond loopback accepts.
MIN_TOKEN_LENGTH = 16
ORIGIN_REFUSED = "requests from other sites are refused; add the page's origin to WORKBENCH_ALLOWED_ORIGINS"
TOKEN_REQUIRED = "this server has no API token: set WORKBENCH_API_TOKEN to serve beyond loopback"
TOKEN_TOO_SHORT = (
    f"this server's API token is too short to serve beyond loopback: set a WORKBENCH_API_TOKEN of at least "
    f"{MIN_TOKEN_LENGTH} characters"
)
UNAUTHORIZED = "send the API token as 'Authorization: Bearer <token>', a 'token' query parameter, or log in at /login"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _remote_address(host: str | None) -> bool:
    """Whether the connection arrived on a network address other than loopback (a Unix socket has none)."""
    try:
        return host is not None and not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings, bind_host: str | None = None) -> list[str]:
    """The Host names the server answers to: loopback, the address it listens on, the configured ones."""
    if "*" in settings.allowed_hosts:
        return ["*"]
    extra = [bind_host] if bind_host and bind_host not in ("0.0.0.0", "::", "") else []
    return list(dict.fromkeys([*LOOPBACK_HOSTS, *extra, *(h.lower() for h in settings.allowed_hosts)]))


def too_many_attempts(retry_after: int) -> str:
    return f"too many wrong tokens from this address; try again in {retry_after} s"


async def deny(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Refuse an HTTP request, or a WebSocket handshake before it is accepted (the client sees the status)."""
    response = JSONResponse({"detail": {"code": code, "message": message}}, status_code=status, headers=headers)
    await response(scope, receive, send)


class FrameGuard:
    """Adds the framing policy to every HTTP response: ``frame-ancestors`` the configured origins, else none."""

    def __init__(self, app: ASGIApp, ancestors: Iterable[str]) -> None:
        self.app = app
        allowed = " ".join(ancestors)
        self.headers = {"content-security-policy": "frame-ancestors " + (allowed or "'none'")}
        if not allowed:
            self.headers["x-frame-options"] = "DENY"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_policy)


class OriginGuard:
    """Refuses requests and handshakes whose ``Origin`` is neither the server's own nor an allowed one."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    def permits(self, origin: str, host: str) -> bool:
        origin = origin.strip().lower().rstrip("/")
        if origin in self.allowed:
            return True
        parts = urlsplit(origin)
        # same origin: the page was served by this host (the Host header is already on the allowlist)
        return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.netloc == host.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            # no Origin: not a browser, or a same-origin navigation; a browser that marks a write cross-site
            # without one is still refused
            cross_site = headers.get("sec-fetch-site") == "cross-site" and scope.get("method") not in ("GET", "HEAD")
            if not cross_site:
                await self.app(scope, receive, send)
                return
        elif self.permits(origin, headers.get("host", "")):
            await self.app(scope, receive, send)
            return
        await deny(scope, receive, send, 403, "origin_not_allowed", ORIGIN_REFUSED)


class TokenGuard:
    """With a token configured, lets through only requests that carry it; without one (or with one too short to
    serve beyond loopback), only loopback ones. Wrong tokens count against the client's address."""

    def __init__(self, app: ASGIApp, token: str | None, sessions: Sessions | None, lockout: Lockout) -> None:
        self.app = app
        self.token = token
        self.sessions = sessions
        self.lockout = lockout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        if self.token is None or len(self.token) < MIN_TOKEN_LENGTH:
            server = scope.get("server")
            if server is not None and _remote_address(server[0]):
                message = TOKEN_REQUIRED if self.token is None else TOKEN_TOO_SHORT
                await deny(scope, receive, send, 403, "token_required", message)
                return
            if self.token is None:
                await self.app(scope, receive, send)
                return
        assert self.token is not None and self.sessions is not None
        headers = Headers(scope=scope)
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        query = _query_token(scope)
        presented = [t for t in (bearer.strip() if scheme.lower() == "bearer" else None, query) if t is not None]
        if presented:
            client = client_key((scope.get("client") or ("", 0))[0])
            if (wait := self.lockout.retry_after(client)) is not None:
                message = too_many_attempts(wait)
                await deny(scope, receive, send, 429, "too_many_attempts", message, {"Retry-After": str(wait)})
                return
            if not all(self.sessions.accepts(t) for t in presented):
                self.lockout.failed(client)
                await _unauthorized(scope, receive, send)
                return
        elif not self.sessions.valid(_cookie(headers, COOKIE)):
            await _unauthorized(scope, receive, send)
            return
        if query is not None and scope["type"] == "http" and scope.get("method") == "GET" and _wants_html(scope):
            # a login URL (…/?token=…): keep the session in a cookie and take the token out of the address bar
            response = RedirectResponse(_next(scope), 303)
            self.sessions.start(response, secure=scope.get("scheme") == "https")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _unauthorized(scope: Scope, receive: Receive, send: Send) -> None:
    """A browser asking for a page goes to the login page; anything else gets 401."""
    if scope["type"] == "http" and scope.get("method") == "GET" and _wants_html(scope):
        await RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': _next(scope)})}", 303)(scope, receive, send)
        return
    await deny(scope, receive, send, 401, "unauthorized", UNAUTHORIZED)


def _query_token(scope: Scope) -> str | None:
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if key == "token":
            return value
    return None


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _wants_html(scope: Scope) -> bool:
    return "text/html" in Headers(scope=scope).get("accept", "")


def _next(scope: Scope) -> str:
    """The requested path and query, less any ``token`` parameter."""
    query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k != "token"]
    return scope["path"] + (f"?{urlencode(query)}" if query else "")


def install(app: FastAPI, settings: Settings, bind_host: str | None = None) -> None:
    """Add the guards to ``app`` (outermost last: framing, Host, Origin, the token, body limits, then CORS), and
    keep the token out of the server's log. ``app.state`` gets the login ``sessions`` and the ``lockout`` that
    ``/login`` shares with the token check."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    app.state.sessions = Sessions(token, settings.session_ttl_s) if token else None
    app.state.lockout = Lockout(settings.auth_max_failures, settings.auth_lockout_s)
    redact_server_logs()
    default, by_path = body_limits(settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.allowed_origins),
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(BodyLimit, default=default, by_path=by_path)
    app.add_middleware(TokenGuard, token=token, sessions=app.state.sessions, lockout=app.state.lockout)
    app.add_middleware(OriginGuard, allowed_origins=settings.allowed_origins)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings, bind_host))
    app.add_middleware(FrameGuard, ancestors=settings.frame_ancestors)

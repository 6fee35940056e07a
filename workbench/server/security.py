"""What stands between the network and the application: the Host allowlist (DNS rebinding), the Origin check
(cross-site pages), the API token, and CORS.

Every HTTP request and WebSocket handshake passes, outermost first:

1. :class:`~starlette.middleware.trustedhost.TrustedHostMiddleware`: the ``Host`` header must be a loopback name,
   the address the server was started on, or one of ``WORKBENCH_ALLOWED_HOSTS``; anything else is a 400, so a
   page on a rebound domain never reaches the app.
2. :class:`OriginGuard`: a request or handshake that carries an ``Origin`` must come from the server's own origin
   or one of ``WORKBENCH_ALLOWED_ORIGINS``; ``null`` and foreign origins get a 403 before any WebSocket is
   accepted. Browsers always send ``Origin`` on WebSocket handshakes and cross-site writes; clients that are no
   browser send none, and the token (3) is what holds them.
3. :class:`TokenGuard`: with ``WORKBENCH_API_TOKEN`` set, everything but ``/health`` and the login page needs the
   token (``Authorization: Bearer``, a ``token`` query parameter, or the login cookie), compared in constant time.
   Without a token only connections that arrive on a loopback address are served.
4. Starlette's ``CORSMiddleware`` with only the allowed origins (Gradio then adds no CORS policy of its own).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from workbench.settings import Settings

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
COOKIE = "workbench_session"
LOGIN_PATH = "/login"
#: Reachable without the token: liveness, and the page that asks for it.
PUBLIC_PATHS = frozenset({"/health", LOGIN_PATH})
ORIGIN_REFUSED = "requests from other sites are refused; add the page's origin to WORKBENCH_ALLOWED_ORIGINS"
TOKEN_REQUIRED = "this server has no API token: set WORKBENCH_API_TOKEN to serve beyond loopback"
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


def session_value(token: str) -> str:
    """What the login cookie holds: a keyed digest of the token, never the token itself."""
    return hmac.new(token.encode(), b"agent-workbench ui session", hashlib.sha256).hexdigest()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def deny(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    """Refuse an HTTP request, or a WebSocket handshake before it is accepted (the client sees the status)."""
    response = JSONResponse({"detail": {"code": code, "message": message}}, status_code=status)
    await response(scope, receive, send)


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
    """With a token configured, lets through only requests that carry it; without one, only loopback ones."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        self.cookie = session_value(token) if token else None

    def authorized(self, scope: Scope) -> bool:
        assert self.token is not None and self.cookie is not None
        headers = Headers(scope=scope)
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(credential.strip(), self.token):
            return True
        if _same(_query_token(scope), self.token):
            return True
        return _same(_cookie(headers, COOKIE), self.cookie)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        if self.token is None:
            server = scope.get("server")
            if server is None or not _remote_address(server[0]):
                await self.app(scope, receive, send)
                return
            await deny(scope, receive, send, 403, "token_required", TOKEN_REQUIRED)
            return
        if not self.authorized(scope):
            if scope["type"] == "http" and scope.get("method") == "GET" and _wants_html(scope):
                await RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': _next(scope)})}", 303)(scope, receive, send)
                return
            await deny(scope, receive, send, 401, "unauthorized", UNAUTHORIZED)
            return
        if scope["type"] == "http" and scope.get("method") == "GET" and _query_token(scope) and _wants_html(scope):
            # a login URL (…/?token=…): keep the session in a cookie and take the token out of the address bar
            response = RedirectResponse(_next(scope), 303)
            set_session_cookie(response, self.token, secure=scope.get("scheme") == "https")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict", secure=secure, path="/")


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


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this server only (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Agent Workbench: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:12vh auto;padding:0 1rem}}
input,button{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin:.3rem 0}}
.error{{color:#b00020}}</style></head>
<body><h1>Agent Workbench</h1>
<p>This server asks for its API token (<code>WORKBENCH_API_TOKEN</code>, or the one <code>workbench serve</code>
printed).</p>{error}
<form method="post" action="{action}">
<input type="hidden" name="next" value="{next}">
<label for="token">Token</label><input id="token" name="token" type="password" autocomplete="current-password"
autofocus required>
<button type="submit">Log in</button></form></body></html>
"""


def login_page(next_path: str, error: str | None = None) -> HTMLResponse:
    body = LOGIN_PAGE.format(
        action=LOGIN_PATH,
        next=html.escape(safe_next(next_path)),
        error=f'<p class="error">{html.escape(error)}</p>' if error else "",
    )
    return HTMLResponse(body, status_code=401 if error else 200, headers={"Cache-Control": "no-store"})


def install(app: FastAPI, settings: Settings, bind_host: str | None = None) -> None:
    """Add the guards to ``app`` (outermost last: Host, then Origin, then the token, then CORS)."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.allowed_origins),
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(TokenGuard, token=token)
    app.add_middleware(OriginGuard, allowed_origins=settings.allowed_origins)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings, bind_host))

"""``/login``: the page that asks a browser for the API token and starts a session (a signed cookie that expires,
:mod:`workbench.server.sessions`).

Only present in effect when ``WORKBENCH_API_TOKEN`` is set; without one it sends the browser on to the UI. Wrong
tokens count against the client's address like wrong ``Bearer`` tokens do: past the limit the form answers 429 and
says when to try again.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from workbench.server.lockout import Lockout, client_key
from workbench.server.security import LOGIN_PATH, too_many_attempts
from workbench.server.sessions import Sessions

router = APIRouter(include_in_schema=False)

WRONG_TOKEN = "That token is not this server's. Check WORKBENCH_API_TOKEN and try again."

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


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this server only (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def login_page(next_path: str, error: str | None = None, status: int = 401, retry_after: int | None = None) -> Response:
    body = LOGIN_PAGE.format(
        action=LOGIN_PATH,
        next=html.escape(safe_next(next_path)),
        error=f'<p class="error">{html.escape(error)}</p>' if error else "",
    )
    headers = {"Cache-Control": "no-store"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return HTMLResponse(body, status_code=status if error else 200, headers=headers)


def _sessions(request: Request) -> Sessions | None:
    """The login sessions of a server with a token (None: it has none), set by ``security.install``."""
    return request.app.state.sessions


@router.get(LOGIN_PATH)
async def show_login(request: Request, next: str = "/") -> Response:
    if _sessions(request) is None:
        return RedirectResponse(safe_next(next), 303)
    return login_page(next)


@router.post(LOGIN_PATH)
async def log_in(
    request: Request,
    token: Annotated[str, Form(max_length=512)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    sessions = _sessions(request)
    if sessions is None:
        return RedirectResponse(safe_next(next), 303)
    lockout: Lockout = request.app.state.lockout
    client = client_key(request.client.host if request.client else None)
    if (wait := lockout.retry_after(client)) is not None:
        return login_page(next, error=f"{too_many_attempts(wait).capitalize()}.", status=429, retry_after=wait)
    if not sessions.accepts(token):
        lockout.failed(client)
        return login_page(next, error=WRONG_TOKEN)
    response = RedirectResponse(safe_next(next), 303)
    sessions.start(response, secure=request.url.scheme == "https")
    return response

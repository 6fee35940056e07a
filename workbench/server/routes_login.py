"""``/login``: the page that asks a browser for the API token and keeps it as a session cookie.

Only present in effect when ``WORKBENCH_API_TOKEN`` is set; without one it sends the browser on to the UI.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from workbench.resources import Resources
from workbench.server.dependencies import get_resources_dep
from workbench.server.security import LOGIN_PATH, login_page, safe_next, set_session_cookie

router = APIRouter(include_in_schema=False)


def _token(resources: Resources) -> str | None:
    token = resources.settings.api_token
    return token.get_secret_value() if token else None


@router.get(LOGIN_PATH)
async def show_login(resources: Annotated[Resources, Depends(get_resources_dep)], next: str = "/") -> Response:
    if _token(resources) is None:
        return RedirectResponse(safe_next(next), 303)
    return login_page(next)


@router.post(LOGIN_PATH)
async def log_in(
    request: Request,
    resources: Annotated[Resources, Depends(get_resources_dep)],
    token: Annotated[str, Form(max_length=512)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    expected = _token(resources)
    if expected is None:
        return RedirectResponse(safe_next(next), 303)
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return login_page(next, error="That token is not this server's. Check WORKBENCH_API_TOKEN and try again.")
    response = RedirectResponse(safe_next(next), 303)
    set_session_cookie(response, expected, secure=request.url.scheme == "https")
    return response

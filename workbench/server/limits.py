"""Every HTTP request body is bounded, on every route, before the application reads it.

:class:`BodyLimit` picks the limit by path (``WORKBENCH_MAX_BODY_BYTES``, or a larger one where the UI uploads files)
and hands the request to Starlette's :class:`~starlette.middleware.body_limit.RequestBodyLimitMiddleware`, which
counts the bytes of the body as the application receives them and answers 413 once they pass the limit (a chunked
body included). A declared ``Content-Length`` over the limit is refused here at once, with what to do, before any of
the body is read.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from workbench.settings import Settings

#: Where the UI (Gradio, mounted at ``/``) receives files: ``gradio.route_utils.API_PREFIX + "/upload"``.
UI_UPLOAD_PATH = "/gradio_api/upload"
#: Room for the multipart headers and boundaries around the files of one upload.
MULTIPART_SLACK = 1024 * 1024


def body_limits(settings: Settings) -> tuple[int, dict[str, int]]:
    """The default body limit, and the larger ones by path: one UI upload may carry as many files of the largest
    size as one upload may index (documents), or one recording."""
    upload = settings.max_upload_files * settings.max_upload_bytes + MULTIPART_SLACK
    return settings.max_body_bytes, {UI_UPLOAD_PATH: max(upload, settings.max_body_bytes)}


class BodyLimit:
    """Refuses HTTP request bodies over their path's limit with 413."""

    def __init__(self, app: ASGIApp, default: int, by_path: Mapping[str, int]) -> None:
        self.app = app
        self.default = RequestBodyLimitMiddleware(app, default)
        self.by_path = {path: RequestBodyLimitMiddleware(app, limit) for path, limit in by_path.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limited = self.by_path.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limited.max_body_size:
            message = f"request bodies here are limited to {limited.max_body_size} bytes; send a smaller one"
            body = {"detail": {"code": "body_too_large", "message": message}}
            # the rest of the body is never read: the connection closes after the answer
            response = JSONResponse(body, status_code=413, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        await limited(scope, receive, send)

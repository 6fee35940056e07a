"""The SDK client the remote runtime talks to a LangGraph Server with: sized for many streams, never rejoining one.

The SDK follows a dropped stream's ``Location`` back to its run, and a restarted server runs a run it lost again
from its start: the client would hear the answer twice, or an answer it was told had failed. :class:`NoRejoin`
raises instead, and the runtime drops the run (see :mod:`workbench.runtime.remote`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx
import langgraph_sdk
from langgraph_sdk._async.http import HttpClient
from langgraph_sdk._async.runs import RunsClient
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import QueryParamTypes, StreamPart

MAX_STREAMS = 2_000
"""Connections open at once to the server (each running turn holds one streaming connection)."""


def connect(url: str, api_key: str | None, *, timeout_s: float, read_s: float) -> LangGraphClient:
    """An SDK client for the server at ``url`` whose runs never rejoin a broken stream."""
    headers = {"User-Agent": f"langgraph-sdk-py/{langgraph_sdk.__version__}"}
    if api_key:
        headers["x-api-key"] = api_key
    http = httpx.AsyncClient(
        base_url=url,
        # Each running turn holds one streaming connection: httpx's default pool (100) would make the 101st
        # wait; the gateway's own turn limits bound them instead.
        transport=httpx.AsyncHTTPTransport(retries=2, limits=httpx.Limits(max_connections=MAX_STREAMS)),
        timeout=httpx.Timeout(timeout_s, read=read_s),
        headers=headers,
    )
    client = LangGraphClient(http)
    client.runs = RunsClient(NoRejoin(http))
    return client


class NoRejoin(HttpClient):
    """The SDK's HTTP client without its reconnects: a stream (or a ``cancel(wait=True)``) that breaks raises
    instead of following the response's ``Location`` to the run, which a restarted server may be running again
    from its start."""

    def stream(
        self,
        path: str,
        method: str,
        *,
        json: dict[str, Any] | None = None,
        params: QueryParamTypes | None = None,
        headers: Mapping[str, str] | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> AsyncIterator[StreamPart]:
        def first_response(response: httpx.Response) -> None:
            response.headers.pop("location", None)  # nothing to rejoin
            if on_response is not None:
                on_response(response)

        return super().stream(path, method, json=json, params=params, headers=headers, on_response=first_response)

    async def request_reconnect(
        self,
        path: str,
        method: str,
        *,
        json: dict[str, Any] | None = None,
        params: QueryParamTypes | None = None,
        headers: Mapping[str, str] | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
        reconnect_limit: int = 5,
    ) -> Any:
        return await super().request_reconnect(
            path, method, json=json, params=params, headers=headers, on_response=on_response, reconnect_limit=0
        )


@contextlib.contextmanager
def ended_already() -> Iterator[None]:
    """Ignore the server's answer that a run is not there, or not running any more, to a cancel or a delete (its
    404 and 409 come as the SDK's typed errors, or as plain ``HTTPStatusError`` from ``cancel(wait=True)``)."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code not in (404, 409):
            raise

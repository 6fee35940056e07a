"""``/api/threads``: a graph's sessions, a session's checkpoints and the questions it waits on, and forks of a
session at one of its checkpoints, with edited state (the bodies are :mod:`workbench.server.protocol_threads`).

Only :class:`~workbench.runtime.GraphRuntime` methods are used, so the routes answer the same on every runtime. A
graph name and a session id are checked for their shape before anything reads them (they are only ever thread
keys, never paths); a graph must be a built-in one with sessions or an agent spec the catalog knows. Behind the
same guards as every other route (:mod:`workbench.server.security`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.requests import HTTPConnection

from workbench.agents import catalog
from workbench.agents.spec import NAME
from workbench.errors import ConfigurationError, ProviderUnavailable
from workbench.runtime import GraphRuntime, ThreadNotFound
from workbench.server.protocol import SessionId
from workbench.server.protocol_threads import Forked, ForkRequest, ThreadHistory, ThreadList
from workbench.server.routes_tasks import StorageRoute

WITH_SESSIONS = ("chat", "voice")
"""The built-in graphs that keep sessions (an audit keeps none)."""
SESSION_ID: TypeAdapter[str] = TypeAdapter(SessionId)


class RuntimeRoute(StorageRoute):
    """A route whose runtime cannot be reached (a LangGraph Server that is down) answers 503 with what to do, as
    one whose store cannot be read does."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ProviderUnavailable as exc:
                return JSONResponse({"detail": {"code": exc.code, "message": str(exc)}}, status_code=503)

        return handle


def get_runtime(connection: HTTPConnection) -> GraphRuntime:
    """The runtime the chat service runs on (every service of a process shares one)."""
    return connection.app.state.chat.runtime


async def bounded_body(request: Request) -> None:
    """Refuse a fork request larger than one chat message may be (``WORKBENCH_MAX_MESSAGE_BYTES``); the body is
    bounded by ``WORKBENCH_MAX_BODY_BYTES`` before it is read, and checked here before it is parsed."""
    limit = request.app.state.resources.settings.max_message_bytes
    if len(await request.body()) > limit:
        message = f"a fork request is limited to {limit} bytes; write fewer or shorter state fields"
        raise HTTPException(413, {"code": "body_too_large", "message": message})


router = APIRouter(prefix="/api/threads", tags=["threads"], route_class=RuntimeRoute)
Runtime = Annotated[GraphRuntime, Depends(get_runtime)]


async def known_graph(graph: str) -> str:
    """``graph`` when it has sessions here: ``chat``, ``voice``, or an agent spec that runs; 400 for a name of
    another shape, 404 for one that is not a graph."""
    if not re.fullmatch(NAME, graph):
        raise HTTPException(
            400, {"code": "invalid_graph", "message": "a graph is chat, voice or an agent's name (a-z, 0-9, _)"}
        )
    if graph not in WITH_SESSIONS:
        try:
            await asyncio.to_thread(catalog.require, graph)
        except ConfigurationError as exc:
            raise HTTPException(404, {"code": "unknown_graph", "message": f"{exc} (or chat, voice)"}) from None
    return graph


def checked_session(session: str) -> str:
    """``session`` when it has the shape of a session id (1 to 128 of ``A-Za-z0-9_.:-``); a 400 otherwise."""
    try:
        return SESSION_ID.validate_python(session)
    except ValidationError:
        raise HTTPException(
            400, {"code": "invalid_session_id", "message": "a session id is 1 to 128 letters, digits and '_.:-'"}
        ) from None


@contextmanager
def histories(not_found: str = "no such session or checkpoint") -> Iterator[None]:
    """The runtime's refusals as answers: an unknown session or checkpoint (404, ``not_found`` saying which and
    where to look) and a runtime that keeps no histories (501)."""
    try:
        yield
    except ThreadNotFound:
        raise HTTPException(404, {"code": "unknown_thread", "message": not_found}) from None
    except ConfigurationError as exc:
        raise HTTPException(501, {"code": "histories_unavailable", "message": str(exc)}) from None


Graph = Annotated[str, Depends(known_graph)]
Session = Annotated[str, Depends(checked_session)]


@router.get("", response_model=ThreadList)
async def list_threads(
    graph: Graph, runtime: Runtime, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, Any]:
    """The graph's sessions, most recently changed first (``?graph=`` is required)."""
    with histories():
        threads = await runtime.threads(graph, limit)
    return {"graph": graph, "threads": [t.as_dict() for t in threads]}


@router.get("/{graph}/{session}/history", response_model=ThreadHistory)
async def thread_history(
    graph: Graph, session: Session, runtime: Runtime, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> dict[str, Any]:
    """The session's checkpoints, newest first, and what it waits on; 404 for a session with none."""
    not_found = f"no session {session!r} of {graph}; the graph's sessions are at /api/threads?graph={graph}"
    with histories(not_found):
        checkpoints = await runtime.history(graph, session, limit)
        if not checkpoints:
            raise ThreadNotFound(session)
        waiting = await runtime.waiting(graph, session)
    return {
        "graph": graph,
        "session_id": session,
        "checkpoints": [c.as_dict() for c in checkpoints],
        "waiting": [w.as_dict() for w in waiting],
    }


@router.post("/{graph}/{session}/fork", status_code=201, response_model=Forked, dependencies=[Depends(bounded_body)])
async def fork_thread(graph: Graph, session: Session, body: ForkRequest, runtime: Runtime) -> dict[str, Any]:
    """A new session holding the state at ``checkpoint_id``, with ``values`` written over it; the original is left
    as it is. 404 for an unknown session or checkpoint, 400 for an edit the graph's state cannot take."""
    not_found = (
        f"session {session!r} of {graph} has no checkpoint {body.checkpoint_id!r}; its checkpoints are listed at "
        f"/api/threads/{graph}/{session}/history"
    )
    with histories(not_found):
        try:
            forked, head = await runtime.fork(graph, session, body.checkpoint_id, body.values)
        except ValueError as exc:
            raise HTTPException(400, {"code": "invalid_fork", "message": str(exc)}) from None
    return {
        "graph": graph,
        "session_id": forked,
        "forked_from": {"session_id": session, "checkpoint_id": body.checkpoint_id},
        "head": head.as_dict(),
    }

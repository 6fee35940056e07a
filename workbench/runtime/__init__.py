"""Where the graphs run, chosen by configuration: :func:`open_runtime`.

- ``WORKBENCH_GRAPH_SERVER`` unset (the default): in this process, with sessions in SQLite under the home folder,
  or in Postgres when ``WORKBENCH_CHECKPOINTER_URL`` is set (several gateway processes then share them);
- ``WORKBENCH_GRAPH_SERVER=http://host:port``: on that LangGraph Server, through the SDK
  (``WORKBENCH_GRAPH_SERVER_API_KEY`` is sent as its API key).

The services (chat, voice, audit tasks) use the :class:`GraphRuntime` they are given and cannot tell which runs.

Opening checks the stores: a home folder that cannot be written refuses with
:class:`~workbench.errors.StorageUnavailable` saying so; a damaged lease file is made again; a damaged checkpoint file
is kept (it holds the conversations) and every session turn fails with what to do, as health reports. The Postgres
pool checks each connection it hands out, gives a turn ``WORKBENCH_CHECKPOINTER_TIMEOUT_S`` to get one, and
retries a lost database within seconds of its return (:data:`RECONNECT_S`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from workbench.resources import Resources
from workbench.runtime.base import (
    GATEWAY_RUN_ID,
    GraphFailed,
    GraphName,
    GraphRun,
    GraphRuntime,
    GraphToken,
    RunPart,
    SessionBusy,
    ThreadNotFound,
)
from workbench.runtime.local import LocalRuntime

log = logging.getLogger(__name__)
__all__ = [
    "GATEWAY_RUN_ID",
    "GraphFailed",
    "GraphName",
    "GraphRun",
    "GraphRuntime",
    "GraphToken",
    "LocalRuntime",
    "RunPart",
    "SessionBusy",
    "ThreadNotFound",
    "open_runtime",
]


@asynccontextmanager
async def open_runtime(resources: Resources) -> AsyncIterator[GraphRuntime]:
    """The runtime the settings choose, open for the block; in-process runs get ``resources`` in their context."""
    settings = resources.settings
    if settings.graph_server:
        from workbench.runtime.remote import RemoteRuntime

        key = settings.graph_server_api_key.get_secret_value() if settings.graph_server_api_key else None
        remote = RemoteRuntime(
            settings.graph_server,
            key,
            timeout_s=settings.graph_server_timeout_s,
            read_s=settings.max_generation_s + 30,
        )
        try:
            yield remote
        finally:
            await remote.close()
    elif settings.checkpointer_url:
        async with _postgres(settings.checkpointer_url, settings.checkpointer_timeout_s, resources) as runtime:
            yield runtime
    else:
        async with _sqlite(resources) as runtime:
            yield runtime


RECONNECT_S = 10.0
"""How long the Postgres pool retries a lost connection (backing off 1, 2, 4 s...) before it gives up and lets the
next turn try at once: the first turn after the database returns finds it within a few seconds."""


@asynccontextmanager
async def _sqlite(resources: Resources) -> AsyncIterator[LocalRuntime]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from workbench.errors import StorageUnavailable
    from workbench.runtime.leases import SqliteLeases
    from workbench.runtime.storage import DAMAGED_CHECKPOINTS, home_problem, sqlite_problem

    settings = resources.settings
    problem = await asyncio.to_thread(home_problem, settings.home)
    if problem is not None:
        raise StorageUnavailable(problem)
    leases = SqliteLeases(settings.home / "sessions.sqlite")
    await asyncio.to_thread(leases.rebuild_if_damaged)
    damaged = await asyncio.to_thread(sqlite_problem, settings.checkpoints_path)
    if damaged is not None:
        log.warning(
            "the session checkpoint file %s is damaged (%s): every session turn fails with storage_unavailable until "
            "it is restored from a backup or moved aside (sessions then start empty); the file is left as it is",
            settings.checkpoints_path,
            damaged,
        )
    async with AsyncSqliteSaver.from_conn_string(str(settings.checkpoints_path)) as saver:
        runtime = LocalRuntime(
            saver, leases, name="sqlite", damaged=DAMAGED_CHECKPOINTS if damaged else None, resources=resources
        )
        try:
            yield runtime
        finally:
            await runtime.close()


@asynccontextmanager
async def _postgres(url: str, timeout_s: float, resources: Resources) -> AsyncIterator[LocalRuntime]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    from workbench.errors import StorageUnavailable
    from workbench.runtime.leases import PostgresLeases

    # The pool logs each failed reconnect attempt; the runtime says once that the checkpoints fail, and what to do.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

    def gave_up(pool: AsyncConnectionPool) -> None:
        log.debug("Postgres checkpointer: no connection for %.0f s; the next turn tries again", RECONNECT_S)

    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=20,
        open=False,
        name="checkpoints",
        timeout=timeout_s,  # a turn hears within seconds that the database is away
        check=AsyncConnectionPool.check_connection,  # a connection the database dropped is replaced, not handed out
        reconnect_timeout=RECONNECT_S,
        reconnect_failed=gave_up,
        max_lifetime=30 * 60.0,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "connect_timeout": max(2, round(timeout_s)),
        },
    )
    try:
        await pool.open(wait=True, timeout=max(timeout_s, 10))
    except Exception as exc:
        await pool.close()
        log.warning("Postgres checkpointer: %s", exc)
        raise StorageUnavailable(
            "the Postgres database of WORKBENCH_CHECKPOINTER_URL does not answer; start it, or unset the setting to "
            "keep sessions in SQLite"
        ) from None
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        leases = PostgresLeases(pool)
        await leases.setup()
        runtime = LocalRuntime(saver, leases, name="postgres", resources=resources)
        try:
            yield runtime
        finally:
            await runtime.close()
    finally:
        await pool.close()

"""Where the graphs run, chosen by configuration: :func:`open_runtime`.

- ``WORKBENCH_GRAPH_SERVER`` unset (the default): in this process, with sessions in SQLite under the home folder,
  or in Postgres when ``WORKBENCH_CHECKPOINTER_URL`` is set (several gateway processes then share them);
- ``WORKBENCH_GRAPH_SERVER=http://host:port``: on that LangGraph Server, through the SDK
  (``WORKBENCH_GRAPH_SERVER_API_KEY`` is sent as its API key).

The services (chat, voice, audit tasks) use the :class:`GraphRuntime` they are given and cannot tell which runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from workbench.runtime.base import (
    GATEWAY_RUN_ID,
    GraphFailed,
    GraphName,
    GraphRun,
    GraphRuntime,
    RunPart,
    SessionBusy,
    Token,
)
from workbench.runtime.local import LocalRuntime
from workbench.settings import Settings

log = logging.getLogger(__name__)
__all__ = [
    "GATEWAY_RUN_ID",
    "GraphFailed",
    "GraphName",
    "GraphRun",
    "GraphRuntime",
    "LocalRuntime",
    "RunPart",
    "SessionBusy",
    "Token",
    "open_runtime",
]


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[GraphRuntime]:
    """The runtime the settings choose, open for the block."""
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
        async with _postgres(settings.checkpointer_url) as runtime:
            yield runtime
    else:
        async with _sqlite(settings) as runtime:
            yield runtime


@asynccontextmanager
async def _sqlite(settings: Settings) -> AsyncIterator[LocalRuntime]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from workbench.runtime.leases import SqliteLeases

    async with AsyncSqliteSaver.from_conn_string(str(settings.checkpoints_path)) as saver:
        runtime = LocalRuntime(saver, SqliteLeases(settings.home / "sessions.sqlite"), name="sqlite")
        try:
            yield runtime
        finally:
            await runtime.close()


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[LocalRuntime]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    from workbench.errors import ProviderUnavailable
    from workbench.runtime.leases import PostgresLeases

    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=20,
        open=False,
        timeout=10,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    try:
        await pool.open(wait=True, timeout=10)
    except Exception as exc:
        await pool.close()
        log.warning("Postgres checkpointer: %s", exc)
        raise ProviderUnavailable(
            "the Postgres database of WORKBENCH_CHECKPOINTER_URL does not answer; start it, or unset the setting to "
            "keep sessions in SQLite"
        ) from None
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        leases = PostgresLeases(pool)
        await leases.setup()
        runtime = LocalRuntime(saver, leases, name="postgres")
        try:
            yield runtime
        finally:
            await runtime.close()
    finally:
        await pool.close()

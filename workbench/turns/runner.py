"""What every turn of a conversation does, whichever graph answers it: the base of the chat and voice services.

A turn's graph runs on the :class:`~workbench.runtime.GraphRuntime` the service was given (in this process, or on a
LangGraph Server: the session is the run's thread), under ``max_generation_s``, and is logged to DuckDB by the
:class:`~workbench.runlog.callback.RunLogCallback` whether it finishes, fails or is aborted. Its parts become the
typed events of :mod:`workbench.events`; ``done`` goes out once the run's row is crash-safe (a row that cannot be
saved ends the turn with ``storage_unavailable``, logged as that error). Cancelling the consumer of
:meth:`TurnService.turn` stops the run where it runs. A service says only what differs: its graph run, how a part
becomes events, and what the final state sends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from langchain_core.messages import BaseMessage

from workbench.events import Event
from workbench.resources import Resources
from workbench.runlog.callback import TEXT_LIMIT, RunLogCallback, unstarted_run
from workbench.runtime import GraphName, GraphRun, GraphRuntime

Parts = Callable[[str, Any], Iterable[Event]]
"""A streamed part of the run (``custom`` or ``token``, see :mod:`workbench.runtime.base`) as the turn's events."""
Ending = Callable[[dict[str, Any]], Iterable[Event]]
"""The run's final state as the turn's last events, ``done`` last."""


class TurnService:
    """Runs turns of a graph on ``runtime``, logged by ``callback``, with the clients of ``resources``."""

    def __init__(self, resources: Resources, runtime: GraphRuntime, callback: RunLogCallback | None = None):
        self.resources = resources
        self.settings = resources.settings
        self.runtime = runtime
        self.callback = callback or RunLogCallback()

    async def turn(
        self, run: GraphRun, parts: Parts, ending: Ending, stopped: Callable[[dict[str, Any]], None] | None = None
    ) -> AsyncIterator[Event]:
        """Run ``run`` and yield its events: ``parts`` of each streamed part, then ``ending`` of the final state.

        Raises :class:`~workbench.runtime.SessionBusy`, ``TimeoutError`` past ``max_generation_s`` (logged as an
        error), what the graph raised, and :class:`~workbench.errors.StorageUnavailable` when the finished run cannot
        be saved. A run that does not finish is logged as aborted; ``stopped`` then gets the state it had reached.
        """
        final: dict[str, Any] = {}
        finished = False
        try:
            async with asyncio.timeout(self.settings.max_generation_s):
                async for mode, chunk in self.runtime.stream(run):
                    if mode == "values":
                        final = chunk
                    else:
                        for event in parts(mode, chunk):
                            yield event
            finished = True
        except TimeoutError:
            # The time limit reaches the graph as a cancellation (logged "aborted"): it is an error.
            self.callback.abort(run.run_id, status="error", error="timed out")
            raise
        finally:
            if not finished:
                if stopped is not None:
                    stopped(final)
                with contextlib.suppress(Exception):
                    self.callback.abort(run.run_id)
        await self.callback.saved(run.run_id)  # the finished row survives a crash before the client hears done
        for event in ending(final):
            yield event

    async def messages(self, graph: GraphName, session_id: str) -> list[BaseMessage]:
        """The conversation so far in ``session_id`` of ``graph`` (each graph and agent has its own sessions)."""
        return await self.runtime.messages(graph, session_id)

    async def settle_turn(
        self,
        graph: GraphName,
        run_id: str,
        status: str,
        error: str | None,
        model: Callable[[], str | None],
        text: str,
        **fields: Any,
    ) -> None:
        """Make sure a turn that did not finish has its row, then wait until the row is crash-safe.

        A turn stopped before its graph started (aborted or disconnected at once) was never seen by the run-log
        callback: it is logged here with the model it would have run (``model()``, run in a thread), its input
        ``text`` and ``fields``. A run a server logged is that server's to log."""
        if self.runtime.logged_elsewhere(run_id):
            await self.callback.runlog.durable()
            return
        chosen = await asyncio.to_thread(model)
        row = unstarted_run(run_id, graph, status, error or status, model=chosen, input=text[:TEXT_LIMIT], **fields)
        self.callback.settle(row)
        await self.callback.runlog.durable()

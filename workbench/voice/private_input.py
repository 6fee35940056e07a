"""A graph whose input is never checkpointed: recordings stay in the process running the turn.

A ``StateGraph`` keeps a run's whole input in its ``__start__`` channel, and every checkpointer saves that
channel in the run's first (``source: "input"``) checkpoint, so anything sent as input would be written to the
thread's history. :class:`PrivateInputGraph` compiles to the same graph with ``__start__`` as an
:class:`~langgraph.channels.UntrackedValue`: the ``__start__`` task reads the input from memory, and neither
checkpoints nor the saved writes of any durability mode hold it. State fields that carry private input must be
untracked too (``Annotated[..., UntrackedValue]``); the cost is that a run interrupted before its first step
cannot be resumed from the saved input (it has to be sent again).
"""

from __future__ import annotations

from typing import Any

from langgraph.channels import UntrackedValue
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.typing import ContextT, InputT, OutputT, StateT


class PrivateInputGraph(StateGraph[StateT, ContextT, InputT, OutputT]):
    """A ``StateGraph`` whose runs' input is read from memory and never saved."""

    def compile(self, *args: Any, **kwargs: Any) -> CompiledStateGraph[StateT, ContextT, InputT, OutputT]:
        compiled = super().compile(*args, **kwargs)
        compiled.channels[START] = UntrackedValue(self.input_schema)
        return compiled

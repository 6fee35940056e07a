"""A run's context goes to a LangGraph Server as JSON without its ``resources``: the process's clients are neither
JSON nor the server's, and copying them (as ``dataclasses.asdict`` would) can fail or cost."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from workbench.runtime import GraphRun
from workbench.runtime.remote import RemoteRuntime
from workbench.runtime.remote_stream import context_json


class Clients:
    """Stands for the process's clients: it cannot be copied, pickled or written as JSON."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Clients:
        raise AssertionError("the clients were copied")

    def __reduce__(self) -> Any:
        raise AssertionError("the clients were pickled")


@dataclass(kw_only=True)
class Knobs:
    top_k: int = 3


@dataclass(kw_only=True)
class Context:
    model: str | None = None
    collection: str | None = "docs"
    knobs: Knobs = field(default_factory=Knobs)
    extra: dict[str, Any] = field(default_factory=dict)
    resources: Clients | None = None


def test_the_context_json_leaves_out_resources_and_unset_fields() -> None:
    clients = Clients()
    with pytest.raises(AssertionError):
        copy.deepcopy(clients)
    sent = context_json(Context(resources=clients, extra={"variant": "b"}))
    assert sent == {"collection": "docs", "knobs": {"top_k": 3}, "extra": {"variant": "b"}}
    assert json.loads(json.dumps(sent)) == sent
    assert context_json({"model": "m", "resources": clients}) == {"model": "m"}
    assert context_json(None) is None


class Runs:
    """A server's runs endpoint that records what each streamed run was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def stream(self, tid: str, graph: str, **options: Any) -> AsyncIterator[Any]:
        self.sent.append(json.loads(json.dumps(options["context"])))  # what the SDK would write on the wire
        return self._nothing()

    async def _nothing(self) -> AsyncIterator[Any]:
        for part in ():
            yield part


class Threads:
    async def create(self, **options: Any) -> dict[str, Any]:
        return {"thread_id": options["thread_id"]}


async def test_a_remote_run_sends_its_context_without_the_clients() -> None:
    runtime = RemoteRuntime("http://127.0.0.1:9", timeout_s=1)
    runs = Runs()
    runtime.client = type("Client", (), {"runs": runs, "threads": Threads()})()  # type: ignore[assignment]
    context = Context(model="fake/echo", resources=Clients())
    run = GraphRun("chat", {"messages": []}, str(uuid.uuid4()), thread="s1", context=context)
    assert [part async for part in runtime.stream(run)] == []
    assert runs.sent == [{"model": "fake/echo", "collection": "docs", "knobs": {"top_k": 3}, "extra": {}}]
    await runtime.close()

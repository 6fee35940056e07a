"""``/api/threads`` on the real application (its guards and lifespan included) over an in-process runtime on SQLite
in ``tmp_path``: chat turns with a scripted model, an agent turn that stops on a question, then the sessions listed,
their histories read as the runtime reports them, forks with edited state, and every refusal."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from workbench.errors import ProviderUnavailable, StorageUnavailable
from workbench.events import Event
from workbench.providers.llm import ModelRegistry
from workbench.providers.vectorstore import VectorStore
from workbench.resources import Resources
from workbench.runtime import GraphRun, GraphRuntime, RunPart
from workbench.server.app import create_app
from workbench.server.protocol_threads import json_schema
from workbench.server.routes_threads import get_runtime
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel
from workbench.turns.chat import TurnRequest

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "protocols" / "threads.schema.json").read_text())
TOKEN = "a-long-enough-threads-token-0123456789"
QUESTION = "Where is the home folder?"


def valid(body: Any, part: str) -> bool:
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{part}", "$defs": SCHEMA["$defs"]}).is_valid(body)


class FakeStore:
    """One passage for every search; an empty store otherwise (no corpus is indexed)."""

    def search(self, collection, query, k=5, filters=None, mode="hybrid"):
        return [{
            "chunk_id": "c1", "source": "/docs/home.md", "title": "Home", "section": None, "page": None,
            "text": "The default home is .workbench.", "score": 1.0, "dense_score": 0.8, "sparse_score": 2.0,
        }]  # fmt: skip

    def collections(self) -> list[str]:
        return []


class Server:
    """The application, its client, and a way to run a chat turn on its loop."""

    def __init__(self, client: TestClient) -> None:
        assert client.portal is not None, "the client runs the lifespan"
        self.client, self.portal = client, client.portal
        self.app: Any = client.app

    @property
    def runtime(self) -> GraphRuntime:
        return self.app.state.chat.runtime

    def turn(self, session: str, content: str = QUESTION, agent: str | None = None) -> list[Event]:
        async def run() -> list[Event]:
            request = TurnRequest(content=content, session_id=session, agent=agent)
            return [event async for event in self.app.state.chat.stream(request)]

        return self.portal.call(run)

    def call(self, method: str, *args: Any) -> Any:
        async def run() -> Any:
            return await getattr(self.runtime, method)(*args)

        return self.portal.call(run)

    def history(self, session: str, graph: str = "chat") -> dict[str, Any]:
        response = self.client.get(f"/api/threads/{graph}/{session}/history")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        home=tmp_path,
        llm="fake",
        corpus_dir=tmp_path / "no-corpus",  # nothing to index on start
        warm_speech=False,
        api_token=SecretStr(TOKEN),
    )


@pytest.fixture
def server(settings) -> Iterator[Server]:
    resources = Resources(
        settings, store=cast(VectorStore, FakeStore()), models=ModelRegistry(settings, {"fake": ScriptedChatModel()})
    )
    app = create_app(settings, resources, ui=False)
    headers = {"authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url="http://127.0.0.1", headers=headers) as client:
        yield Server(client)


def detail(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert valid(body, "error"), body
    return body["detail"]


def test_the_committed_schema_is_generated_from_the_models():
    assert json_schema() == SCHEMA, "run: python -m workbench.server.schemas"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_list_shows_each_session_with_its_first_question_newest_first(server):
    server.turn("s1")
    server.turn("s2", "How are sessions kept?")
    server.turn("s2", "And forks?")
    response = server.client.get("/api/threads", params={"graph": "chat"})
    assert response.status_code == 200 and valid(response.json(), "thread_list")
    body = response.json()
    assert body["graph"] == "chat"
    assert [(t["session_id"], t["first_question"], t["status"]) for t in body["threads"]] == [
        ("s2", "How are sessions kept?", "idle"),
        ("s1", QUESTION, "idle"),
    ]
    assert body["threads"][0]["forked_from"] is None and body["threads"][0]["checkpoint_id"]
    limited = server.client.get("/api/threads", params={"graph": "chat", "limit": 1}).json()
    assert [t["session_id"] for t in limited["threads"]] == ["s2"]
    assert server.client.get("/api/threads", params={"graph": "voice"}).json() == {"graph": "voice", "threads": []}


def test_the_history_is_the_runtimes_and_says_what_a_session_waits_on(server):
    server.turn("s1")
    body = server.history("s1")
    assert valid(body, "thread_history") and (body["graph"], body["session_id"]) == ("chat", "s1")
    assert body["checkpoints"] == [c.as_dict() for c in server.call("history", "chat", "s1")]
    assert [c["node"] for c in body["checkpoints"]] == ["generate", "retrieve", "__start__", "input"]
    assert body["waiting"] == []
    asked = server.turn("w1", "Please answer", agent="approval")
    assert type(asked[-1]).__name__ == "InterruptEvent"
    waiting = server.history("w1", "approval")
    assert [w["value"]["question"] for w in waiting["waiting"]] == ["Answer this question from the guide?"]
    assert waiting["waiting"] == [q.as_dict() for q in server.call("waiting", "approval", "w1")]
    (listed,) = server.client.get("/api/threads", params={"graph": "approval"}).json()["threads"]
    assert (listed["session_id"], listed["status"]) == ("w1", "waiting")


def test_a_fork_is_a_new_session_holding_the_edit_and_linked_to_its_origin(server):
    server.turn("s1")
    started = next(c for c in server.history("s1")["checkpoints"] if c["node"] == "__start__")
    (asked,) = started["values"]["messages"]
    edited = {"type": "human", "content": "How are sessions kept?", "id": asked["id"]}
    edit = {"checkpoint_id": started["checkpoint_id"], "values": {"messages": [edited]}}
    response = server.client.post("/api/threads/chat/s1/fork", json=edit)
    assert response.status_code == 201 and valid(response.json(), "forked"), response.text
    forked = response.json()
    session = forked["session_id"]
    assert session.startswith("s1.fork-") and forked["graph"] == "chat"
    assert forked["forked_from"] == {"session_id": "s1", "checkpoint_id": started["checkpoint_id"]}
    assert forked["head"]["values"]["messages"] == [edited] and forked["head"]["next"] == ["retrieve"]
    head = server.history(session)["checkpoints"][0]
    assert (head["checkpoint_id"], head["values"]) == (forked["head"]["checkpoint_id"], forked["head"]["values"])
    origin = server.history("s1")["checkpoints"][0]["values"]["messages"]
    assert [m["content"] for m in origin][0] == QUESTION and len(origin) == 2, "the origin is left as it was"
    listed = server.client.get("/api/threads", params={"graph": "chat"}).json()["threads"]
    (fork,) = [t for t in listed if t["session_id"] == session]
    assert fork["forked_from"] == forked["forked_from"]

    async def run_on() -> list[RunPart]:
        run = GraphRun("chat", None, str(uuid.uuid4()), thread=session, stream_mode=("values",))
        return [part async for part in server.runtime.stream(run)]

    server.portal.call(run_on)
    head = server.history(session)["checkpoints"][0]
    assert (head["node"], head["next"]) == ("generate", []), "the fork runs on from its edit"
    assert [m["content"] for m in head["values"]["messages"]][0] == "How are sessions kept?"
    assert head["values"]["query"] == "How are sessions kept?"


def test_bad_forks_are_refused_with_what_to_do(server):
    server.turn("s1")
    checkpoints = server.history("s1")["checkpoints"]
    fork = "/api/threads/chat/s1/fork"
    unknown_field = server.client.post(
        fork, json={"checkpoint_id": checkpoints[0]["checkpoint_id"], "values": {"x": 1}}
    )
    assert (
        detail(unknown_field, 400)["code"] == "invalid_fork"
        and "its fields:" in unknown_field.json()["detail"]["message"]
    )
    at_input = server.client.post(fork, json={"checkpoint_id": checkpoints[-1]["checkpoint_id"]})
    assert detail(at_input, 400)["code"] == "invalid_fork"
    missing = detail(server.client.post(fork, json={"checkpoint_id": str(uuid.uuid4())}), 404)
    assert missing["code"] == "unknown_thread" and "/api/threads/chat/s1/history" in missing["message"]
    nobody = server.client.post("/api/threads/chat/nobody/fork", json={"checkpoint_id": str(uuid.uuid4())})
    assert detail(nobody, 404)["code"] == "unknown_thread"
    good = checkpoints[0]["checkpoint_id"]
    body: dict[str, Any]
    for body in (
        {"checkpoint_id": "../../etc/passwd"},
        {"checkpoint_id": good, "extra": 1},
        {"checkpoint_id": good, "values": {f"k{i}": i for i in range(51)}},
        {"values": {}},
    ):
        assert server.client.post(fork, json=body).status_code == 422, body
    huge = {"checkpoint_id": good, "values": {"query": "x" * server.app.state.resources.settings.max_message_bytes}}
    assert detail(server.client.post(fork, json=huge), 413)["code"] == "body_too_large"
    assert [t["session_id"] for t in server.client.get("/api/threads?graph=chat").json()["threads"]] == ["s1"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/threads?graph=Chat", 400, "invalid_graph"),
        ("/api/threads?graph=nope", 404, "unknown_graph"),
        ("/api/threads?graph=repo_audit", 404, "unknown_graph"),
        ("/api/threads/chat%3B/s1/history", 400, "invalid_graph"),
        ("/api/threads/nope/s1/history", 404, "unknown_graph"),
        ("/api/threads/chat/a%20b/history", 400, "invalid_session_id"),
        (f"/api/threads/chat/{'a' * 129}/history", 400, "invalid_session_id"),
        ("/api/threads/chat/..%5C..%5Cx/history", 400, "invalid_session_id"),
        ("/api/threads/chat/nobody/history", 404, "unknown_thread"),
    ],
)
def test_names_of_the_wrong_shape_and_unknown_ones_are_refused(server, path, status, code):
    refused = detail(server.client.get(path), status)
    assert refused["code"] == code and "/" not in refused["message"].replace("/api/threads", "")
    if code == "unknown_graph":
        assert "approval" in refused["message"], "the message names the graphs there are"


def test_queries_out_of_bounds_are_refused(server):
    for query in ("", "?graph=chat&limit=0", "?graph=chat&limit=201"):
        assert server.client.get(f"/api/threads{query}").status_code == 422, query
    assert server.client.get("/api/threads/chat/s1/history?limit=0").status_code == 422


def test_the_guards_hold_the_threads_as_they_hold_the_rest(server):
    server.turn("s1")
    bare = TestClient(server.app, base_url="http://127.0.0.1")
    assert bare.get("/api/threads?graph=chat").status_code == 401
    assert bare.post("/api/threads/chat/s1/fork", json={"checkpoint_id": "1"}).status_code == 401
    wrong = {"authorization": "Bearer not-the-token-at-all-0000"}
    assert server.client.get("/api/threads/chat/s1/history", headers=wrong).status_code == 401
    foreign = server.client.get("/api/threads?graph=chat", headers={"origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert server.client.get("/api/threads?graph=chat", headers={"host": "evil.example"}).status_code == 400
    assert server.client.get("/api/threads?graph=chat").status_code == 200


class Unavailable(GraphRuntime):
    """A runtime whose stores or server fail, or that keeps no histories (the base class's answers)."""

    kind = "remote"

    def __init__(self, failure: Exception | None) -> None:
        self.failure = failure

    def stream(self, run: GraphRun) -> AsyncIterator[RunPart]:
        raise NotImplementedError

    async def state(self, graph: str, thread: str) -> dict[str, Any]:
        return {}

    async def threads(self, graph: str, limit: int = 50) -> list:
        if self.failure is None:
            return await super().threads(graph, limit)
        raise self.failure


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (StorageUnavailable("the session checkpoints cannot be read; free disk space"), 503, "storage_unavailable"),
        (ProviderUnavailable("the LangGraph Server does not answer; start it"), 503, "model_unavailable"),
        (None, 501, "histories_unavailable"),
    ],
)
def test_a_runtime_that_cannot_answer_says_why(server, failure, status, code):
    server.app.dependency_overrides[get_runtime] = lambda: Unavailable(failure)
    try:
        refused = detail(server.client.get("/api/threads?graph=chat"), status)
    finally:
        server.app.dependency_overrides.clear()
    assert refused["code"] == code
    assert refused["message"] == (str(failure) if failure else "the remote runtime keeps no thread histories")

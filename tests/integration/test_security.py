"""The server as an attacker meets it: a web page on another site, a rebound DNS name, a local process without the
token, a client that names server files or sends hostile frames. Real uvicorn servers on loopback, real clients."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests.integration.conftest import (
    ROOT,
    Server,
    running_server,
    validate_assistant_message,
    validate_chat_message,
)

pytestmark = pytest.mark.integration

EVIL = "https://evil.example"
SOCKETS = ("/ws/chat", "/ws/assistant", f"/ws/tasks/{uuid.uuid4().hex}")
TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """No token (loopback), the extractive model, no message-rate limit in the way of the frame tests."""
    env = {"WORKBENCH_LLM": "extractive", "WORKBENCH_MAX_MESSAGES_PER_S": "100000",
           "WORKBENCH_MAX_MESSAGE_BURST": "100000", "WORKBENCH_WARM_SPEECH": "false",
           "WORKBENCH_MAX_UPLOAD_BYTES": "65536", "WORKBENCH_TESTING": "false"}  # fmt: skip
    with running_server(tmp_path_factory.mktemp("home"), **env) as running:
        yield running


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> Iterator[Server]:
    """A token set, default limits."""
    env = {"WORKBENCH_LLM": "extractive", "WORKBENCH_API_TOKEN": TOKEN, "WORKBENCH_WARM_SPEECH": "false"}
    with running_server(tmp_path_factory.mktemp("guarded"), **env) as running:
        yield running


def handshake(port: int, path: str, **headers: str) -> int:
    """The HTTP status a WebSocket handshake gets (101 when accepted), with any Host and Origin."""
    fields = {
        "Host": f"127.0.0.1:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }
    request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request.encode())
        status_line = conn.recv(4096).split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1])


def receive(ws, validate=validate_chat_message) -> dict:
    message = json.loads(ws.recv(timeout=30))
    validate(message)
    return message


def chat_turn(ws, content: str, **extra) -> list[dict]:
    ws.send(json.dumps({"type": "user_message", "content": content, "session_id": uuid.uuid4().hex, **extra}))
    messages = [receive(ws)]
    while messages[-1].get("type") not in ("done", "error"):
        messages.append(receive(ws))
    return messages


# --- cross-site pages and DNS rebinding ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", SOCKETS)
@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1.evil.example"])
def test_cross_origin_handshakes_are_refused_on_every_socket(server, path, origin):
    assert handshake(server.port, path, Origin=origin) == 403


@pytest.mark.parametrize("path", SOCKETS[:2])
def test_same_origin_and_originless_handshakes_are_accepted(server, path):
    assert handshake(server.port, path, Origin=server.url) == 101
    assert handshake(server.port, path) == 101


def test_an_allowed_origin_passes(tmp_path):
    with running_server(tmp_path, WORKBENCH_ALLOWED_ORIGINS="https://app.example.com", WORKBENCH_LLM="extractive",
                        WORKBENCH_WARM_SPEECH="false") as allowed:  # fmt: skip
        assert handshake(allowed.port, "/ws/chat", Origin="https://app.example.com") == 101
        assert handshake(allowed.port, "/ws/chat", Origin=EVIL) == 403
        preflight = httpx.options(f"{allowed.url}/api/tasks/", headers={"Origin": "https://app.example.com",
                                  "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert preflight.headers.get("access-control-allow-origin") == "https://app.example.com"


@pytest.mark.parametrize("path", SOCKETS)
def test_a_rebound_host_is_refused_on_every_socket(server, path):
    assert handshake(server.port, path, Host="rebind.evil.example", Origin="http://rebind.evil.example") == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/tasks/"), ("GET", "/api/tasks/"), ("GET", "/"), ("GET", "/config"), ("GET", "/gradio_api/info"),
     ("POST", "/gradio_api/queue/join"), ("POST", "/gradio_api/upload")],
)  # fmt: skip
def test_a_rebound_host_is_refused_on_rest_and_the_ui_api(server, method, path):
    response = httpx.request(method, server.url + path, headers={"Host": "rebind.evil.example"}, json={})
    assert response.status_code == 400


def test_cross_site_writes_and_preflights_are_refused(server):
    tasks = f"{server.url}/api/tasks/"
    create = httpx.post(tasks, json={"repo": "https://github.com/psf/requests"}, headers={"Origin": EVIL})
    assert create.status_code == 403 and create.json()["detail"]["code"] == "origin_not_allowed"
    asking = {"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    preflight = httpx.options(tasks, headers={**asking, "Host": "rebind.evil.example"})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
    preflight = httpx.options(tasks, headers=asking)
    assert "access-control-allow-origin" not in preflight.headers
    upload = httpx.post(f"{server.url}/gradio_api/upload", files={"files": ("a.md", b"# hi")}, headers={"Origin": EVIL})
    assert upload.status_code == 403


def test_uploads_are_capped_in_size(server):
    upload = f"{server.url}/gradio_api/upload"
    small = httpx.post(upload, files={"files": ("a.md", b"# hi")}, headers={"Origin": server.url})
    assert small.status_code == 200
    big = httpx.post(upload, files={"files": ("b.md", b"x" * 200_000)})
    assert big.status_code == 413


# --- the token ---------------------------------------------------------------------------------------------------


def test_the_token_is_enforced_on_rest_sockets_and_the_ui(guarded):
    assert httpx.get(f"{guarded.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{guarded.url}/api/tasks/").status_code == 401
    assert httpx.get(f"{guarded.url}/api/tasks/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{guarded.url}/api/tasks/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert httpx.get(f"{guarded.url}/config").status_code == 401
    assert httpx.post(f"{guarded.url}/gradio_api/upload", files={"files": ("a.md", b"# hi")}).status_code == 401
    for path in SOCKETS:
        assert handshake(guarded.port, path) == 401
        assert handshake(guarded.port, f"{path}?token=wrong") == 401
    assert handshake(guarded.port, f"/ws/chat?token={TOKEN}") == 101
    assert handshake(guarded.port, "/ws/chat", Authorization=f"Bearer {TOKEN}") == 101
    with connect(f"{guarded.ws_url}/ws/chat?token={TOKEN}") as ws:
        assert chat_turn(ws, "Which port does the server listen on?")[-1]["status"] == "ok"


def test_a_browser_logs_in_with_the_form_or_the_login_url(guarded):
    page = httpx.get(f"{guarded.url}/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    form = httpx.get(f"{guarded.url}/login", headers={"Accept": "text/html"})
    assert form.status_code == 200 and TOKEN not in form.text and 'name="token"' in form.text
    refused = httpx.post(f"{guarded.url}/login", data={"token": "wrong", "next": "/"})
    assert refused.status_code == 401 and "workbench_session" not in refused.headers.get("set-cookie", "")
    with httpx.Client(base_url=guarded.url) as browser:
        login = browser.post("/login", data={"token": TOKEN, "next": "https://evil.example/"})
        assert login.status_code == 303 and login.headers["location"] == "/"  # never sent to another site
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        assert browser.get("/config").status_code == 200
    with httpx.Client(base_url=guarded.url) as browser:
        landing = browser.get(f"/?token={TOKEN}", headers={"Accept": "text/html"})
        assert landing.status_code == 303 and landing.headers["location"] == "/"  # the token leaves the address bar
        assert browser.get("/", headers={"Accept": "text/html"}).status_code == 200


def test_a_cross_site_login_is_refused(guarded):
    forged = httpx.post(f"{guarded.url}/login", data={"token": TOKEN}, headers={"Origin": EVIL})
    assert forged.status_code == 403


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_serve_refuses_a_non_loopback_address_without_a_token(tmp_path, host):
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_API_TOKEN"} | {"WORKBENCH_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "serve", "--host", host, "--port", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert "WORKBENCH_API_TOKEN" in done.stderr and "Agent Workbench on" not in done.stdout


# --- the UI's API names no server file -----------------------------------------------------------------------------


def gradio_call(server: Server, api_name: str, data: list, **headers: str) -> dict:
    """Call a UI event the way a hostile client would: straight through Gradio's queue, with crafted data."""
    config = httpx.get(f"{server.url}/config", headers=headers).json()
    dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
    session = uuid.uuid4().hex
    body = {"data": data, "fn_index": dependency["id"], "trigger_id": dependency["targets"][0][0],
            "session_hash": session, "event_data": None}  # fmt: skip
    joined = httpx.post(f"{server.url}/gradio_api/queue/join", json=body, headers=headers)
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", f"{server.url}/gradio_api/queue/data", params={"session_hash": session},
                      headers=headers, timeout=120) as stream:  # fmt: skip
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event never completed")


def test_a_server_file_cannot_be_read_through_the_ui_api(server, tmp_path):
    canary = f"CANARY-{uuid.uuid4().hex}"
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text(f"# Secret\n\nThe launch code is {canary}.\n")
    file_data = {"path": str(secret), "orig_name": "secret.md", "meta": {"_type": "gradio.FileData"}}
    result = gradio_call(server, "index_files", [[file_data], "stolen"])
    assert canary not in json.dumps(result)
    with connect(f"{server.ws_url}/ws/chat") as ws:
        messages = chat_turn(ws, "What is the launch code?", collection="stolen")
    assert canary not in json.dumps(messages), "the file's text came back through the chat"


def test_the_ui_serves_no_server_file(server):
    for target in ("/etc/passwd", str(server.home / "runs.duckdb")):
        assert httpx.get(f"{server.url}/gradio_api/file={target}").status_code in (403, 404)


# --- client fields are checked against what exists -----------------------------------------------------------------


def test_fields_that_name_models_prompts_collections_or_filters_get_schema_listed_errors(server):
    cases = [
        ({"model": "fake/slow"}, "invalid_config"),  # the test fakes are off on this server
        ({"model": "openai/gpt-4o-mini"}, "model_unavailable"),  # no key configured
        ({"model": "piper//etc/passwd"}, "invalid_config"),
        ({"prompt_version": "v9"}, "invalid_config"),
        ({"collection": "a\u0000b"}, "invalid_message"),
        ({"collection": "../../etc"}, "invalid_message"),
        ({"metadata": {"source": []}}, "invalid_message"),
        ({"metadata": {"bad key": "x"}}, "invalid_message"),
        ({"top_k": 10_000}, "invalid_message"),
    ]
    with connect(f"{server.ws_url}/ws/chat") as ws:
        for extra, code in cases:
            error = chat_turn(ws, "hello", **extra)[-1]
            assert (error["type"], error["code"]) == ("error", code), extra
            assert str(ROOT) not in error["message"] and str(server.home) not in error["message"]
            assert "Error" not in error["message"]
        assert chat_turn(ws, "Which port does the server listen on?")[-1]["status"] == "ok"


def test_retrieved_sources_and_health_say_nothing_of_the_server(server):
    with connect(f"{server.ws_url}/ws/chat") as ws:
        retrieval = chat_turn(ws, "Which port does the server listen on?")[0]
    assert retrieval["type"] == "retrieval" and retrieval["documents"]
    assert all(not d["source"].startswith("/") and str(ROOT) not in d["source"] for d in retrieval["documents"])
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}


def test_the_voice_path_oracle_gives_one_answer_for_existing_and_missing_files(server):
    answers = []
    with connect(f"{server.ws_url}/ws/assistant") as ws:
        for voice in ("piper//etc/passwd", f"piper//nonexistent-{uuid.uuid4().hex}.onnx", "piper/../../etc/hostname"):
            ws.send(json.dumps({"type": "text", "content": "hello", "voice": voice}))
            message = receive(ws, validate_assistant_message)
            while message.get("type") not in ("error", "done"):
                message = receive(ws, validate_assistant_message)
            answers.append((message["type"], message.get("code"), message.get("message")))
    assert answers[0][:2] == ("error", "invalid_config")
    assert answers[0] == answers[1] == answers[2]
    assert "passwd" not in answers[0][2] and "/etc" not in answers[0][2]


# --- hostile frames --------------------------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
hostile_values = json_values | st.sampled_from(
    ["", "\u0000", "../../etc/passwd", "/etc/passwd", "piper//etc/passwd", "fake/slow", "x" * 5000, -1, 0, 10**30]
)
message_fields = ("content", "session_id", "metadata", "model", "collection", "top_k", "search_mode", "prompt_version")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def hostile_chat_frames(draw) -> str:
    """Text frames that must each be answered with an error: broken JSON, bombs, wrong shapes, bad fields."""
    kind = draw(st.sampled_from(["text", "bomb", "value", "unknown", "field", "extra", "abort"]))
    if kind == "text":
        return draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200)
                    .filter(lambda t: not t.strip().startswith(("{", "["))))  # fmt: skip
    if kind == "bomb":
        return draw(st.sampled_from([_nested(1000), _nested(20_000), "1" * 5000, "-" + "9" * 4301, "[1e999999]",
                                     '{"type": "abort", "x": ' + _nested(20) + "}", "NaN", '{"a": Infinity}',
                                     '{"type": ' * 3000]))  # fmt: skip
    if kind == "value":
        return json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict))))
    if kind == "unknown":
        return json.dumps({"type": draw(text.filter(lambda t: t not in ("user_message", "abort")))})
    base = {"type": "user_message", "content": "hello", "session_id": "fuzz"}
    if kind == "field":
        field = draw(st.sampled_from(message_fields))
        value = draw(hostile_values.filter(lambda v: not _starts_a_turn(field, v)))
        return json.dumps({**base, field: value})
    if kind == "extra":
        key = draw(text.filter(lambda k: k not in (*message_fields, "type")))
        return json.dumps({**base, key: draw(json_values)})
    return json.dumps({"type": "abort", **draw(st.dictionaries(st.sampled_from(["x", "y", "run"]), json_values,
                                                               max_size=2))})  # fmt: skip


def _starts_a_turn(field: str, value: object) -> bool:
    """Whether a user message with ``field`` set to ``value`` is one the server runs (not one it refuses)."""
    from pydantic import ValidationError

    from workbench.server.protocol import ClientMessage

    try:
        ClientMessage.validate_python({"type": "user_message", "content": "hello", "session_id": "fuzz", field: value})
    except ValidationError:
        return False
    if field == "model":  # blank means the server's default
        return value is None or str(value).strip() in ("", "auto", "extractive", "local/smollm2-135m")
    if field == "prompt_version":
        return value in ("v1", "v2")
    return True


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          phases=[Phase.generate], report_multiple_bugs=False)  # fmt: skip
@given(frame=hostile_chat_frames())
def test_a_thousand_hostile_frames_each_get_a_schema_valid_error_on_a_usable_socket(server, frame):
    ws = _fuzz_socket(server)
    ws.send(frame)
    reply = receive(ws)
    assert reply.get("type") == "error", f"{frame[:200]!r} started a turn: {reply}"
    assert not reply.get("run_id"), f"{frame[:200]!r} was refused only after its turn had started: {reply}"
    assert reply["code"] in ("invalid_json", "invalid_message", "unknown_type", "invalid_config", "model_unavailable",
                             "nothing_to_abort")  # fmt: skip
    assert "Error:" not in reply["message"] and "Traceback" not in reply["message"]


_sockets: dict[tuple[int, str], object] = {}


def _fuzz_socket(server: Server, path: str = "/ws/chat"):
    """One socket per server and path for all of a property test's examples (it must stay usable throughout)."""
    if (server.port, path) not in _sockets:
        _sockets[server.port, path] = connect(f"{server.ws_url}{path}", max_size=None)
    return _sockets[server.port, path]


def test_after_the_hostile_frames_the_socket_and_the_server_are_healthy(server):
    ws = _fuzz_socket(server)
    assert chat_turn(ws, "Which port does the server listen on?")[-1]["status"] == "ok"
    assert httpx.get(f"{server.url}/health").status_code == 200
    log = "".join(path.read_text() for path in Path(server.home).glob("server-*.log"))
    # Gradio logs its own refusal of the crafted file input above; no socket handler of the workbench may fail
    assert "RecursionError" not in log and "Exceeds the limit" not in log
    assert "workbench/server/" not in log, "a protocol handler raised"


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          phases=[Phase.generate], report_multiple_bugs=False)  # fmt: skip
@given(frame=hostile_chat_frames())
def test_hostile_frames_on_the_voice_socket_get_schema_valid_errors(server, frame):
    if '"user_message"' in frame:  # the voice socket does not know that type: turn it into one of its own
        frame = frame.replace('"user_message"', '"text"')
    if frame.startswith('{"type": "text"') and json.loads(frame).keys() <= {"type", "content", "session_id"}:
        return  # a valid typed turn
    ws = _fuzz_socket(server, "/ws/assistant")
    ws.send(frame)
    reply = receive(ws, validate_assistant_message)
    assert reply["type"] == "error", frame[:200]
    if reply.get("run_id"):  # refused once the turn had started (a model the server cannot reach): its done follows
        assert receive(ws, validate_assistant_message)["type"] == "done"


# --- limits ----------------------------------------------------------------------------------------------------------


def test_a_socket_that_floods_is_rate_limited_and_stays_usable(guarded):
    with connect(f"{guarded.ws_url}/ws/chat?token={TOKEN}") as ws:
        for _ in range(60):
            ws.send(json.dumps({"type": "abort"}))
        codes = [receive(ws)["code"] for _ in range(60)]
        assert "rate_limited" in codes and codes.count("nothing_to_abort") >= 30
        time.sleep(1.5)  # the bucket refills
        assert chat_turn(ws, "Which port does the server listen on?")[-1]["status"] == "ok"

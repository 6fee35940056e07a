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
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from graphs.chat_prompts import ANSWER_PROMPTS
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
    return gradio_messages(server, api_name, data, **headers)[-1]


def gradio_messages(server: Server, api_name: str, data: list, **headers: str) -> list[dict]:
    """What the queue sends for one crafted event, up to its ``process_completed`` (a generator's updates too)."""
    config = httpx.get(f"{server.url}/config", headers=headers).json()
    dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
    session = uuid.uuid4().hex
    body = {"data": data, "fn_index": dependency["id"], "trigger_id": dependency["targets"][0][0],
            "session_hash": session, "event_data": None}  # fmt: skip
    joined = httpx.post(f"{server.url}/gradio_api/queue/join", json=body, headers=headers)
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", f"{server.url}/gradio_api/queue/data", params={"session_hash": session},
                      headers=headers, timeout=120) as stream:  # fmt: skip
        messages = []
        for line in stream.iter_lines():
            if line.startswith("data:"):
                messages.append(json.loads(line[5:]))
                if messages[-1].get("msg") == "process_completed":
                    return messages
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
        return value in ANSWER_PROMPTS
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


# --- request bodies ------------------------------------------------------------------------------------------------


def raw_request(port: int, head: str, body_parts: Iterable[bytes] = (), timeout: float = 30) -> tuple[int, str]:
    """Send a request head and then body parts (stopping early once the server answers); the status and the
    answer's text. A server that waited for the whole body would time this out."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head.encode())
        conn.setblocking(False)
        answer = b""
        for part in body_parts:
            try:
                answer += conn.recv(65536)
                break  # answered before the body ended
            except BlockingIOError:
                pass
            try:
                conn.sendall(part)
            except BlockingIOError:  # the server stopped reading: its answer is on the way
                break
        conn.settimeout(timeout)
        while not _complete(answer):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.decode("latin-1").partition("\r\n")
    return int(status_line.split()[1]), rest


def _complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response head and the body its Content-Length announces."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    lengths = [line.split(b":", 1)[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    return not lengths or len(body) >= int(lengths[0])


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(server):
    head = (f"POST /api/tasks/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {48 * 1024 * 1024 * 1024}\r\n\r\n")  # fmt: skip
    started = time.monotonic()
    status, answer = raw_request(server.port, head, [b'{"repo": "x"'])
    assert status == 413 and "limited to 1048576 bytes" in answer
    assert time.monotonic() - started < 10, "the server waited for a body it was never going to read"


def test_a_chunked_body_is_cut_off_at_the_limit(server):
    head = (f"POST /api/tasks/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
    # 3 MiB of chunks and never the last one: only a server that stops at 1 MiB answers at all
    status, _ = raw_request(server.port, head, [chunk] * 48)
    assert status == 413
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_the_ui_upload_takes_more_than_a_rest_body(server):
    files = [("files", (f"doc{i}.md", b"# doc\n" + b"x" * 60_000)) for i in range(20)]  # 1.2 MB, 20 files
    upload = httpx.post(f"{server.url}/gradio_api/upload", files=files, timeout=60)
    assert upload.status_code == 200 and len(upload.json()) == 20
    rest = httpx.post(
        f"{server.url}/api/tasks/", content=b" " * 1_200_000, headers={"Content-Type": "application/json"}
    )
    assert rest.status_code == 413 and rest.json()["detail"]["code"] == "body_too_large"


# --- framing -------------------------------------------------------------------------------------------------------


def test_no_site_may_frame_the_ui_or_the_login_page(server, guarded):
    for response in (httpx.get(f"{server.url}/", headers={"Accept": "text/html"}),
                     httpx.get(f"{guarded.url}/login", headers={"Accept": "text/html"})):  # fmt: skip
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert response.headers["x-frame-options"] == "DENY"


PORTAL = "https://portal.example.com"


@pytest.fixture(scope="module")
def edges(tmp_path_factory) -> Iterator[Server]:
    """A token, a framing portal, and short lockout and session windows."""
    env = {"WORKBENCH_LLM": "extractive", "WORKBENCH_API_TOKEN": TOKEN, "WORKBENCH_WARM_SPEECH": "false",
           "WORKBENCH_FRAME_ANCESTORS": PORTAL, "WORKBENCH_AUTH_MAX_FAILURES": "5", "WORKBENCH_AUTH_LOCKOUT_S": "3",
           "WORKBENCH_SESSION_TTL_S": "2"}  # fmt: skip
    with running_server(tmp_path_factory.mktemp("edges"), **env) as running:
        yield running


def test_configured_origins_may_frame_the_ui(edges):
    login = httpx.get(f"{edges.url}/login", headers={"Accept": "text/html"})
    assert login.headers["content-security-policy"] == f"frame-ancestors {PORTAL}"
    assert "x-frame-options" not in login.headers


# --- wrong tokens, sessions, the token in the log ------------------------------------------------------------------


def wait_until_unlocked(server: Server, window_s: float = 3) -> None:
    """Let the failures of an earlier test leave the lockout window."""
    time.sleep(window_s + 0.5)


def test_wrong_tokens_are_locked_out_per_address_and_good_ones_work_after_the_window(edges):
    wait_until_unlocked(edges)
    tasks = f"{edges.url}/api/tasks/"
    statuses = [httpx.get(tasks, headers={"Authorization": f"Bearer wrong-{i}"}).status_code for i in range(5)]
    assert statuses == [401] * 5
    for refused in (httpx.get(tasks, headers={"Authorization": f"Bearer {TOKEN}"}),  # even the right one, for now
                    httpx.post(f"{edges.url}/login", data={"token": TOKEN, "next": "/"})):  # fmt: skip
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 3
    assert "try again in" in httpx.get(f"{tasks}?token=wrong").json()["detail"]["message"]
    assert handshake(edges.port, "/ws/chat?token=wrong") == 429
    time.sleep(3.5)
    assert httpx.get(tasks, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert handshake(edges.port, f"/ws/chat?token={TOKEN}") == 101


def test_wrong_logins_are_locked_out_and_a_good_one_works_after_the_window(edges):
    wait_until_unlocked(edges)
    statuses = [httpx.post(f"{edges.url}/login", data={"token": f"wrong-{i}"}).status_code for i in range(5)]
    assert statuses == [401] * 5
    locked = httpx.post(f"{edges.url}/login", data={"token": "wrong"})
    assert locked.status_code == 429 and "retry-after" in locked.headers and "try again in" in locked.text
    time.sleep(3.5)
    assert httpx.post(f"{edges.url}/login", data={"token": TOKEN}).status_code == 303


def test_each_login_gets_its_own_cookie_which_expires(edges):
    wait_until_unlocked(edges)
    cookies = []
    for _ in range(2):
        login = httpx.post(f"{edges.url}/login", data={"token": TOKEN, "next": "/"})
        assert login.status_code == 303
        header = login.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=strict" in header and "Max-Age=2" in header
        assert TOKEN not in header
        cookies.append(login.cookies["workbench_session"])
    assert cookies[0] != cookies[1]
    for value in cookies:
        assert httpx.get(f"{edges.url}/config", headers={"Cookie": f"workbench_session={value}"}).status_code == 200
    time.sleep(3.5)  # the session lives 2 s (whole seconds)
    for value in cookies:
        expired = httpx.get(f"{edges.url}/config", headers={"Cookie": f"workbench_session={value}"})
        assert expired.status_code == 401
        page = httpx.get(f"{edges.url}/", headers={"Cookie": f"workbench_session={value}", "Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith("/login")


class FactoryServer(Server):
    """The app started as `uvicorn workbench.server:create_app --factory` (uvicorn's own logging)."""

    def command(self) -> list[str]:
        run = "import sys, uvicorn; uvicorn.main(['workbench.server:create_app', '--factory', '--port', sys.argv[-1]])"
        return [sys.executable, "-c", run]


@pytest.mark.parametrize("kind", [Server, FactoryServer])
def test_the_token_never_reaches_the_server_log(tmp_path, kind):
    env = {"WORKBENCH_LLM": "extractive", "WORKBENCH_API_TOKEN": TOKEN, "WORKBENCH_WARM_SPEECH": "false"}
    served = kind(tmp_path, env).start()
    try:
        with connect(f"{served.ws_url}/ws/chat?token={TOKEN}") as ws:
            assert chat_turn(ws, "Which port does the server listen on?")[-1]["status"] == "ok"
        assert handshake(served.port, f"/ws/assistant?token={TOKEN}") == 101
        assert httpx.get(f"{served.url}/api/tasks/?token={TOKEN}").status_code == 200
        assert httpx.get(f"{served.url}/?%74oken={TOKEN}&x=1", headers={"Accept": "text/html"}).status_code == 303
        assert httpx.get(f"{served.url}/api/tasks/?token={TOKEN[:-1]}").status_code == 401
    finally:
        served.stop()
    log = (tmp_path / f"server-{served.port}.log").read_text()
    assert "/ws/chat?token=[redacted]" in log and "/api/tasks/?token=[redacted]" in log, log[-2000:]
    assert TOKEN not in log and TOKEN[:-1] not in log


def test_serve_refuses_a_short_token_beyond_loopback(tmp_path):
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "WORKBENCH_API_TOKEN": "short-token"}
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "16+ characters" in done.stderr and "short-token" not in done.stderr
    assert "Agent Workbench on" not in done.stdout


def test_the_voice_tab_reads_answers_about_and_deletes_only_its_own_uploads(server):
    """A hostile client names Gradio's upload folder, and a file of it that no upload saved: one answer that names
    no path, and nothing deleted."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder())
    stranger = folder / uuid.uuid4().hex / "reply.wav"  # as Gradio caches an output it served someone
    stranger.parent.mkdir(parents=True)
    stranger.write_bytes(b"RIFF not yours")
    answers = []
    for path in (folder, stranger.parent, stranger):
        file_data = {"path": str(path), "orig_name": "audio.wav", "meta": {"_type": "gradio.FileData"}}
        answer = json.dumps(gradio_messages(server, "turn", [file_data, "", None, None, "piper/joe-us", "default", []]))
        assert "that file cannot be used" in answer, answer[-2000:]
        answers.append(answer)
    assert stranger.read_bytes() == b"RIFF not yours" and folder.is_dir()
    for answer in answers:
        assert str(folder) not in answer and "Errno" not in answer
    stranger.unlink()

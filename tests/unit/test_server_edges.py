"""The server's edges in isolation: the failed-login lockout, login sessions, log redaction, body limits by path.
tests/integration/test_security.py checks each on a real server."""

from __future__ import annotations

import logging

import pytest

from workbench.server.limits import UI_UPLOAD_PATH, body_limits
from workbench.server.lockout import Lockout, client_key
from workbench.server.log_redaction import RedactTokens, redact_query
from workbench.server.sessions import Sessions
from workbench.settings import Settings

TOKEN = "a-long-enough-test-token-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_locked_out_after_the_failures_until_the_oldest_leaves_the_window():
    clock = Clock()
    lockout = Lockout(3, 60.0, clock=clock)
    for _ in range(2):
        lockout.failed("10.0.0.1")
        clock.now += 1
    assert lockout.retry_after("10.0.0.1") is None
    lockout.failed("10.0.0.1")
    assert lockout.retry_after("10.0.0.1") == 58  # the first failure, at 1000, leaves the window at 1060
    assert lockout.retry_after("10.0.0.2") is None  # another address is not held
    clock.now = 1059.5
    assert lockout.retry_after("10.0.0.1") == 1
    clock.now = 1060.0
    assert lockout.retry_after("10.0.0.1") is None


def test_the_lockout_table_is_bounded_and_forgets_the_least_recent_address_first():
    lockout = Lockout(1, 60.0, max_clients=2, clock=Clock())
    for address in ("a", "b", "a", "c"):
        lockout.failed(address)
    assert lockout.retry_after("a") is not None and lockout.retry_after("c") is not None
    assert lockout.retry_after("b") is None


def test_ipv6_clients_count_by_their_network_and_mapped_ipv4_as_ipv4():
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:2") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"
    assert client_key(None) == ""


def test_each_login_gets_its_own_session_that_only_this_token_accepts(monkeypatch):
    sessions = Sessions(TOKEN, ttl_s=60)
    first, second = sessions.issue(), sessions.issue()
    assert first != second and TOKEN not in first
    assert sessions.valid(first) and sessions.valid(second)
    assert not Sessions(TOKEN + "x", ttl_s=60).valid(first)  # a new token ends every session
    assert not sessions.valid(first[:-2] + "AA") and not sessions.valid("") and not sessions.valid(None)
    assert sessions.accepts(TOKEN) and not sessions.accepts(TOKEN[:-1])


def test_a_session_expires_after_its_ttl(monkeypatch):
    import itsdangerous.timed

    now = 1_700_000_000.0
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: now)
    sessions = Sessions(TOKEN, ttl_s=60)
    value = sessions.issue()
    now += 60
    assert sessions.valid(value)
    now += 2
    assert not sessions.valid(value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /ws/chat?token=s3cret HTTP/1.1", "GET /ws/chat?token=[redacted] HTTP/1.1"),
        ("/?next=%2F&token=s3cret&x=1", "/?next=%2F&token=[redacted]&x=1"),
        ("/?%74oken=s3cret", "/?%74oken=[redacted]"),
        ("/?TOKEN=s3cret#x", "/?TOKEN=[redacted]#x"),
        ("/?mytoken=keep&tokens=keep", "/?mytoken=keep&tokens=keep"),
        ("no query here", "no query here"),
    ],
)
def test_token_query_parameters_are_redacted(line, expected):
    assert redact_query(line) == expected


def test_the_filter_redacts_uvicorns_access_record_and_keeps_its_shape():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws/chat?token=s3cret", "1.1", 101), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /ws/chat?token=[redacted] HTTP/1.1" 101'


def test_the_ui_upload_route_gets_the_larger_limit_the_documents_upload_needs():
    from gradio.route_utils import API_PREFIX

    assert f"{API_PREFIX}/upload" == UI_UPLOAD_PATH  # the UI is mounted at /
    settings = Settings(max_body_bytes=4096, max_upload_bytes=10_000, max_upload_files=3)
    default, by_path = body_limits(settings)
    assert default == 4096 and by_path[UI_UPLOAD_PATH] >= 3 * 10_000


def test_frame_ancestors_are_origins():
    assert Settings(frame_ancestors="https://portal.example.com/, http://a:8080").frame_ancestors == [
        "https://portal.example.com",
        "http://a:8080",
    ]
    with pytest.raises(ValueError, match="not an origin"):
        Settings(frame_ancestors="https://a.example.com 'unsafe-inline'")


async def _guarded_status(token: str | None, server_host: str) -> int:
    """The status TokenGuard gives a GET /api/tasks/ carrying ``token``, arriving on ``server_host``."""
    from workbench.server.security import TokenGuard

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {"type": "http", "method": "GET", "path": "/api/tasks/", "query_string": b"", "headers": headers,
             "server": (server_host, 8000), "client": ("198.51.100.7", 5000)}  # fmt: skip
    sessions = Sessions(token, 60) if token else None
    await TokenGuard(app, token, sessions, Lockout(10, 60.0))(scope, receive, send)
    return sent[0]["status"]


@pytest.mark.parametrize(
    ("token", "server_host", "status"),
    [("short-token", "192.0.2.10", 403), (None, "192.0.2.10", 403), (TOKEN, "192.0.2.10", 200),
     ("short-token", "127.0.0.1", 200), (None, "127.0.0.1", 200)],
)  # fmt: skip
async def test_beyond_loopback_a_short_token_serves_nothing(token, server_host, status):
    """`uvicorn … --factory` on another address: the app cannot refuse to start, so it refuses every request."""
    assert await _guarded_status(token, server_host) == status

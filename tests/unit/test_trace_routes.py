"""``/api/runs/{id}/trace`` and ``/runs/{id}/trace`` on the real application (its guards included), over a run log
in ``tmp_path`` filled with span rows; the lifespan is not run (nothing here needs its services)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from workbench.resources import Resources
from workbench.runlog import RunLog, RunRecord, set_runlog
from workbench.runlog.schema import SpanRecord
from workbench.server.app import create_app
from workbench.settings import Settings

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TRACE = "ab" * 16
ROOT, NODE, LLM, TOOL, SEARCH = "1" * 16, "2" * 16, "3" * 16, "4" * 16, "5" * 16
TOKEN = "a-long-enough-trace-token-0123456789"


def span(span_id: str, parent: str | None, name: str, kind: str, start_ms: float, end_ms: float, **attributes):
    return SpanRecord(
        "run-1", span_id, TRACE, parent, name, kind, T0 + timedelta(milliseconds=start_ms),
        T0 + timedelta(milliseconds=end_ms), end_ms - start_ms, "ok", None, attributes or None,
    )  # fmt: skip


@pytest.fixture
def settings(tmp_path) -> Iterator[Settings]:
    """Settings on ``tmp_path`` whose run log holds ``run-1``: a node running a tool, then an LLM call while a
    retrieval runs beside it."""
    settings = Settings(home=tmp_path)
    runlog = RunLog(settings.runlog_path, journal=False)
    runlog.log_run(RunRecord("run-1", "chat", status="ok", started_at=T0, ended_at=T0 + timedelta(seconds=1)))
    runlog.log_records([
        span(ROOT, None, "chat", "run", 0, 1000),
        span(NODE, ROOT, "generate", "node", 10, 990),
        span(TOOL, NODE, "search", "tool", 20, 100, **{"gen_ai.tool.name": "search"}),
        span(LLM, NODE, "chat qwen", "llm", 120, 980, **{
            "gen_ai.input.messages": '[{"role": "user", "content": "<b>hi</b>"}]',
            "gen_ai.output.messages": '[{"role": "assistant", "content": "hello"}]',
            "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3,
        }),
        span(SEARCH, NODE, "retrieve", "retrieval", 130, 500),
    ])  # fmt: skip
    runlog.flush()
    set_runlog(runlog)  # the route flushes the process's run log before it reads
    yield settings
    set_runlog(None)
    runlog.close()


def client(settings: Settings, **headers: str) -> TestClient:
    app = create_app(settings, ui=False)
    app.state.resources = Resources(settings)
    return TestClient(app, base_url="http://127.0.0.1", headers=headers)


def test_the_trace_is_the_run_its_spans_the_critical_path_and_the_rollup(settings):
    response = client(settings).get("/api/runs/run-1/trace")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"run", "spans", "critical_path", "rollup"}
    assert body["run"]["run_id"] == "run-1" and "owner" not in body["run"]
    assert datetime.fromisoformat(body["run"]["started_at"]) == T0
    assert [s["span_id"] for s in body["spans"]] == [ROOT, NODE, TOOL, LLM, SEARCH]  # by start
    llm = body["spans"][3]
    assert llm["kind"] == "llm" and llm["attributes"]["gen_ai.usage.input_tokens"] == 12
    assert datetime.fromisoformat(llm["started_at"]) == T0 + timedelta(milliseconds=120)
    assert body["critical_path"] == [ROOT, NODE, TOOL, LLM]  # the retrieval ran while the LLM call did
    rollup = body["rollup"]
    assert (rollup["llm_ms"], rollup["tool_ms"], rollup["retrieval_ms"]) == pytest.approx((860, 80, 370))
    assert (rollup["tokens_in"], rollup["tokens_out"], rollup["spans"]) == (12, 3, 5)


def test_an_unknown_run_is_a_404_that_says_so(settings):
    response = client(settings).get("/api/runs/no-such-run/trace")
    assert response.status_code == 404
    assert (
        response.json()["detail"]["code"] == "run_not_found" and "no-such-run" in response.json()["detail"]["message"]
    )


@pytest.mark.parametrize("bad", ["a" * 129, "run 1", "run;1", "run'1", "%C3%A9t%C3%A9"])
def test_a_run_id_of_another_shape_is_refused_before_any_read(settings, bad):
    for path in (f"/api/runs/{bad}/trace", f"/runs/{bad}/trace"):
        response = client(settings).get(path)
        assert response.status_code == 400, path
        assert response.json()["detail"]["code"] == "invalid_run_id"


def test_the_page_and_its_files_are_served_with_a_policy_that_runs_only_them(settings):
    page = client(settings).get("/runs/run-1/trace")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="trace-tree"' in page.text and 'id="span-detail"' in page.text
    policies = page.headers.get_list("content-security-policy")
    assert any("script-src 'self'" in p and "default-src 'none'" in p for p in policies)
    assert any("frame-ancestors" in p for p in policies)  # the guards' framing policy still applies
    script = client(settings).get("/trace-static/trace.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text.replace("never innerHTML", "")
    for name in ("trace.html", "..%2Fapp.py", "nope.js"):
        assert client(settings).get(f"/trace-static/{name}").status_code == 404


def test_the_guards_hold_the_trace_as_they_hold_the_rest(settings):
    guarded = Settings(home=settings.home, api_token=SecretStr(TOKEN))
    assert client(guarded).get("/api/runs/run-1/trace").status_code == 401
    page = client(guarded, accept="text/html").get("/runs/run-1/trace", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client(guarded, authorization=f"Bearer {TOKEN}").get("/api/runs/run-1/trace").status_code == 200
    foreign = client(settings, origin="http://evil.example").get("/api/runs/run-1/trace")
    assert foreign.status_code == 403
    rebound = client(settings).get("/api/runs/run-1/trace", headers={"host": "evil.example"})
    assert rebound.status_code == 400

"""The audit's JSON, Markdown and SARIF outputs, and the escaping of untrusted text in Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.unit.audit_factories import finding
from workbench.audit.findings import count_by_severity, merge_findings, rank, summarize
from workbench.audit.models import AgentResult, AuditReport, Finding
from workbench.audit.report import (
    display_repo,
    md_block,
    md_fence,
    md_text,
    sarif_level,
    to_json,
    to_markdown,
    to_sarif,
)

SCHEMA_PATH = Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json"
HOSTILE = "</table><script>alert(1)</script> | [link](javascript:alert(1)) ```"


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def build_report(status: str = "completed", findings: list[Finding] | None = None, **extra: Any) -> AuditReport:
    raw = findings if findings is not None else sample_findings()
    merged = rank(merge_findings(raw))
    tools = {"bandit": {"version": "1.8.0", "duration_s": 0.42, "files": 12, "status": "ok"}}
    agents = {
        "explorer": AgentResult(agent="explorer", duration_s=1.5, summary="A Python service.", repo_map=REPO_MAP),
        "bug_hunter": AgentResult(agent="bug_hunter", duration_s=2.0, summary="Two bugs."),
        "security": AgentResult(agent="security", duration_s=3.25, tools=tools, summary="One injection."),
    }
    if status == "partial":
        agents["security"] = AgentResult(agent="security", status="timeout", error="exceeded 120 s", tools=tools)
    fields: dict[str, Any] = {
        "task_id": "task-42",
        "repo": "https://github.com/example/service.git",
        "ref": "main",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "status": status,
        "started_at": "2025-01-01T10:00:00Z",
        "finished_at": "2025-01-01T10:02:00Z",
        "agents": agents,
        "findings": merged,
        "counts": count_by_severity(merged),
        "summary": summarize(merged, agents, REPO_MAP),
        "repo_map": REPO_MAP,
    }
    return AuditReport(**(fields | extra))


REPO_MAP = {
    "files": 40,
    "lines": 5200,
    "languages": [
        {"language": "Python", "lines": 5000, "share": 0.96},
        {"language": "TOML", "lines": 200, "share": 0.04},
    ],
    "entry_points": [{"kind": "console_script", "name": "service", "path": "pyproject.toml", "target": "app:main"}],
}


def sample_findings() -> list[Finding]:
    return [
        finding(),
        finding(rule="patterns/shell-true", severity="critical", tool="patterns", agent="bug_hunter", line=13),
        finding(rule="ruff/B006", category="mutable-default", cwe=None, severity="medium", tool="ruff", line=40),
        finding(rule="secrets/aws-key", category="hardcoded-secret", cwe=798, file="conf/settings.py", line=None),
        finding(rule="lizard/ccn", category="complexity", cwe=None, severity="info", tool="lizard", line=80),
        finding(rule="ruff/E722", category="bare-except", cwe=None, severity="low", tool="ruff", line=60),
    ]


# SARIF


@pytest.mark.parametrize(
    "report",
    [
        pytest.param(build_report(findings=[]), id="empty"),
        pytest.param(build_report(), id="full"),
        pytest.param(build_report("partial"), id="partial"),
        pytest.param(build_report(findings=[finding(line=None, end_line=None)]), id="no-line"),
        pytest.param(build_report(repo="/home/me/src/service", commit=None), id="local-path"),
    ],
)
def test_sarif_validates_against_the_2_1_0_schema(report: AuditReport, sarif_validator: jsonschema.Draft4Validator):
    sarif = to_sarif(report)

    errors = sorted(sarif_validator.iter_errors(sarif), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    assert sarif["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert sarif["version"] == "2.1.0"
    json.dumps(sarif)  # plain JSON all the way down


def test_sarif_rules_are_distinct_and_result_indexes_point_at_them():
    sarif = to_sarif(build_report())
    [run] = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]

    assert run["tool"]["driver"]["name"] == "agent-workbench"
    assert run["tool"]["driver"]["version"]
    assert len({r["id"] for r in rules}) == len(rules)
    assert len(run["results"]) == 5  # bandit and patterns merged
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    shell = next(r for r in rules if r["id"] == "patterns/shell-true")
    assert "external/cwe/cwe-78" in shell["properties"]["tags"]
    assert shell["helpUri"] == "https://cwe.mitre.org/data/definitions/78.html"
    assert shell["defaultConfiguration"]["level"] == "error"


def test_sarif_results_carry_levels_locations_and_merged_properties():
    [run] = to_sarif(build_report())["runs"]
    by_rule = {r["ruleId"]: r for r in run["results"]}

    assert {rule: r["level"] for rule, r in by_rule.items()} == {
        "patterns/shell-true": "error",
        "secrets/aws-key": "error",
        "ruff/B006": "warning",
        "ruff/E722": "note",
        "lizard/ccn": "note",
    }
    shell = by_rule["patterns/shell-true"]
    location = shell["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/app.py", "uriBaseId": "SRCROOT"}
    assert location["region"]["startLine"] == 13
    assert shell["properties"]["tools"] == ["bandit", "patterns"]
    assert shell["properties"]["agreement"] == 2
    assert shell["properties"]["related_rules"] == ["bandit/B602"]
    assert "region" not in by_rule["secrets/aws-key"]["locations"][0]["physicalLocation"]
    assert "SRCROOT" in run["originalUriBaseIds"]
    assert run["automationDetails"]["id"] == "task-42"


def test_sarif_fingerprints_are_stable_and_ignore_line_moves():
    moved = build_report(findings=[finding(line=30)])
    original = build_report(findings=[finding()])

    def fingerprint(report: AuditReport) -> str:
        return to_sarif(report)["runs"][0]["results"][0]["partialFingerprints"]["primaryLocationLineHash"]

    assert fingerprint(original) == fingerprint(original) == fingerprint(moved)
    assert fingerprint(build_report(findings=[finding(file="other.py")])) != fingerprint(original)
    twins = to_sarif(build_report(findings=[finding(line=1), finding(line=50)]))["runs"][0]["results"]
    assert len({r["partialFingerprints"]["primaryLocationLineHash"] for r in twins}) == 2


def test_sarif_marks_a_partial_run_unsuccessful_and_names_the_failed_agent():
    [run] = to_sarif(build_report("partial"))["runs"]
    [invocation] = run["invocations"]

    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert any("security" in t and "timeout" in t and "exceeded 120 s" in t for t in texts)
    assert to_sarif(build_report())["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_sarif_provenance_uses_the_url_without_credentials():
    report = build_report(repo="https://user:s3cret@github.com/example/service.git")

    [run] = to_sarif(report)["runs"]

    assert run["versionControlProvenance"] == [
        {"repositoryUri": "https://github.com/example/service.git", "revisionId": report.commit}
    ]
    assert "s3cret" not in json.dumps(to_sarif(report)) and "s3cret" not in to_markdown(report)
    assert "versionControlProvenance" not in to_sarif(build_report(repo="/srv/checkout"))["runs"][0]


def test_sarif_level_mapping():
    assert [sarif_level(s) for s in ("critical", "high", "medium", "low", "info")] == [
        "error",
        "error",
        "warning",
        "note",
        "note",
    ]


def test_display_repo_strips_only_credentials():
    assert display_repo("https://tok@github.com:8443/a/b?x=1#frag") == "https://github.com:8443/a/b?x=1"
    assert display_repo("./local/path") == "./local/path"


# JSON


def test_json_round_trips_through_the_model():
    report = build_report("partial")

    data = to_json(report)

    assert json.loads(json.dumps(data)) == data
    assert AuditReport.model_validate(data) == report
    assert to_json(AuditReport.model_validate(data)) == data


# Markdown


def test_markdown_has_header_summary_counts_findings_agents_and_map():
    text = to_markdown(build_report())

    assert text.startswith("# Repository audit: https://github.com/example/service.git\n")
    assert "**Commit:** 0123456789abcdef0123456789abcdef01234567" in text
    assert "Partial report" not in text
    assert "## Summary" in text and "**Verdict:**" in text
    assert "| Severity | Count |" in text
    assert "| critical | 1 |" in text and "| high | 1 |" in text and "| **total** | 5 |" in text
    assert "[CWE-78](https://cwe.mitre.org/data/definitions/78.html)" in text
    assert "### Critical (1)" in text and "### Info (1)" in text
    assert "| 2 (bandit, patterns) |" in text
    assert "Also reported as: bandit/B602" in text
    assert "## Agents" in text and "### security: ok (3.2 s)" in text
    assert "| bandit | 1.8.0 | ok | 0.42 s | 12 |  |" in text
    assert "## Repository map" in text and "| Python | 5000 | 96% |" in text
    assert "**Entry points:** service (console\\_script)" in text


def test_markdown_partial_banner_names_the_failed_agent():
    text = to_markdown(build_report("partial"))

    banner = text.split("\n\n")[2]
    assert banner.startswith("> **Partial report:** 1 agent(s) did not finish")
    assert "> - **security**: timeout: exceeded 120 s" in banner


def test_markdown_neutralizes_hostile_repository_and_llm_text():
    hostile = finding(
        file="src/<b>x|y</b>.py",
        message=HOSTILE + "\nsecond line",
        evidence="payload = '''\n```\n</table><script>alert(1)</script>\n````\n'''",
        suggested_fix="[fix](javascript:alert(1))",
        llm_verdict="confirmed",
        llm_note="</table><script>alert(2)</script>\n# heading\n| a | b |",
    )
    report = build_report(findings=[hostile])
    report.agents["bug_hunter"].summary = "<iframe src=x>\n- item | x"

    text = to_markdown(report)

    outside_fences = _strip_fences(text)
    assert "<script>" not in outside_fences and "</table>" not in outside_fences and "<iframe" not in outside_fences
    assert "<b>" not in text
    assert not re.search(r"(?<!\\)\]\(javascript:", text)  # only as escaped, inert text
    row = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 9  # eight cells, not split by the pipes in the message
    assert "second line" in row
    assert "> &lt;/table&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "> \\# heading" in text
    fence = "`" * 5  # longer than the evidence's ```` run
    assert f"{fence}text\npayload = '''\n```\n</table><script>alert(1)</script>\n````\n'''\n{fence}" in text


def test_rendered_markdown_has_no_foreign_html_and_intact_tables():
    markdown_it = pytest.importorskip("markdown_it")
    hostile = finding(file="a|b.py", message=HOSTILE, evidence="```\n<script>x</script>", llm_note=HOSTILE + "\n# h")
    report = build_report("partial", findings=[hostile, *sample_findings()])

    html = markdown_it.MarkdownIt("commonmark").enable("table").render(to_markdown(report))

    allowed = {"a", "blockquote", "code", "h1", "h2", "h3", "li", "ol", "p", "pre", "strong", "ul", "em"}
    allowed |= {"table", "thead", "tbody", "tr", "th", "td"}
    assert set(re.findall(r"</?([a-z0-9]+)", html)) <= allowed
    assert not re.search(r'href="(?!https://cwe\.mitre\.org/data/definitions/\d+\.html")', html)
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        assert len({len(re.findall(r"<t[dh]", row)) for row in re.findall(r"<tr>.*?</tr>", table, flags=re.S)}) == 1
    assert "&lt;script&gt;x&lt;/script&gt;" in html  # the evidence, shown verbatim as code


def _strip_fences(text: str) -> str:
    return re.sub(r"^(`{3,})text\n.*?\n\1$", "", text, flags=re.S | re.M)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("</table><script>", "&lt;/table&gt;&lt;script&gt;"),
        ("a | b", "a \\| b"),
        ("```", "\\`\\`\\`"),
        ("[link](javascript:alert(1))", "\\[link\\](javascript:alert(1))"),
        ("line\r\nbreak\ncell", "line break cell"),
        ("*bold* _it_ ~~s~~ \\", "\\*bold\\* \\_it\\_ \\~\\~s\\~\\~ \\\\"),
        ("&lt;already", "&amp;lt;already"),
        ("rtl\u202eevil\x00", "rtlevil"),
    ],
)
def test_md_text_escapes_hostile_strings(raw: str, escaped: str):
    assert md_text(raw) == escaped


def test_md_block_keeps_paragraphs_but_opens_no_blocks():
    text = md_block("# title\n- item\n1. first\n> quote\n    code\n\n\n===\nplain")

    assert text == "\\# title\n\\- item\n1\\. first\n&gt; quote\ncode\n\n\\===\nplain"


@pytest.mark.parametrize(("body", "fence"), [("x = 1", "```"), ("```", "````"), ("a ````` b", "``````")])
def test_md_fence_is_longer_than_any_backtick_run(body: str, fence: str):
    assert md_fence(body) == f"{fence}text\n{body}\n{fence}"

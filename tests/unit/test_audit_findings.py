"""Merging, ranking, counting and summarizing the audit's findings."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.unit.audit_factories import finding
from workbench.audit.findings import count_by, count_by_severity, merge_findings, rank, score, summarize
from workbench.audit.models import SEVERITIES, AgentResult, Finding


def shell_true_pair() -> list[Finding]:
    return [
        finding(),
        finding(
            rule="patterns/shell-true",
            category="shell-injection",
            severity="critical",
            confidence="medium",
            tool="patterns",
            agent="bug_hunter",
            message="shell=True with a variable command",
            suggested_fix="pass a list and drop shell=True",
        ),
    ]


def test_same_cwe_from_two_tools_merges_into_the_most_severe_report():
    [merged] = merge_findings(shell_true_pair())

    assert merged.rule == "patterns/shell-true"
    assert merged.related_rules == ["bandit/B602"]
    assert merged.severity == "critical"
    assert merged.confidence == "high"  # the highest, though from the less severe report
    assert merged.message == "shell=True with a variable command"
    assert merged.suggested_fix == "pass a list and drop shell=True"
    assert merged.agents == ["bug_hunter", "security"]
    assert merged.tools == ["bandit", "patterns"]
    assert merged.agreement == 2


def test_same_category_merges_when_a_report_has_no_cwe():
    ruff = finding(rule="ruff/E722", category="bare-except", cwe=None, severity="low", tool="ruff", line=30)
    bandit = finding(rule="bandit/B110", category="bare-except", cwe=703, severity="low", tool="bandit", line=31)

    [merged] = merge_findings([ruff, bandit])

    assert merged.agreement == 2
    assert {merged.rule, *merged.related_rules} == {"ruff/E722", "bandit/B110"}


@pytest.mark.parametrize(("distance", "merged"), [(0, 1), (2, 1), (3, 2)])
def test_line_tolerance_is_inclusive_at_two(distance: int, merged: int):
    a = finding(line=10)
    b = finding(line=10 + distance, tool="patterns", rule="patterns/shell-true")

    assert len(merge_findings([a, b])) == merged


def test_wider_tolerance_is_honoured():
    a, b = finding(line=10), finding(line=13, tool="patterns", rule="patterns/shell-true")

    assert len(merge_findings([a, b], line_tolerance=3)) == 1


def test_different_files_never_merge():
    a, b = finding(file="src/a.py"), finding(file="src/b.py", tool="patterns", rule="patterns/shell-true")

    assert len(merge_findings([a, b])) == 2


def test_different_cwes_never_merge_even_in_one_category():
    a = finding(cwe=78, category="injection")
    b = finding(cwe=89, category="injection", tool="patterns", rule="patterns/sql")

    assert len(merge_findings([a, b])) == 2


def test_findings_without_a_line_merge_only_with_each_other():
    a = finding(line=None, rule="secrets/aws-key", category="hardcoded-secret", cwe=798, tool="detect-secrets")
    b = finding(line=None, rule="patterns/aws-key", category="hardcoded-secret", cwe=798, tool="patterns")
    c = finding(line=1, rule="patterns/aws-key", category="hardcoded-secret", cwe=798, tool="patterns")

    merged = merge_findings([a, b, c])

    assert [(f.line, f.agreement) for f in merged] == [(1, 1), (None, 2)]


def test_exact_duplicates_from_one_tool_collapse_but_its_nearby_lines_stay_apart():
    dup = finding(agent="bug_hunter")
    same = finding(agent="security")
    nearby = finding(line=13)

    merged = merge_findings([dup, same, nearby])

    assert [(f.line, f.agreement, f.agents) for f in merged] == [
        (12, 1, ["bug_hunter", "security"]),
        (13, 1, ["security"]),
    ]


def test_every_member_of_a_merged_group_matches_every_other():
    # 10 ~ 12 and 12 ~ 14, but 10 and 14 are too far apart to be one problem
    a = finding(line=10, tool="bandit")
    b = finding(line=12, tool="patterns", rule="patterns/shell-true")
    c = finding(line=14, tool="semgrep", rule="semgrep/shell")

    assert [f.line for f in merge_findings([a, b, c])] == [10, 14]


def test_an_llm_dismissal_never_hides_a_finding_and_notes_are_kept():
    bandit, pattern = shell_true_pair()
    dismissed = bandit.model_copy(update={"llm_verdict": "dismissed", "llm_note": "cmd is a constant"})
    confirmed = pattern.model_copy(update={"llm_verdict": "confirmed", "llm_note": "cmd comes from the request"})
    lone = finding(file="src/other.py", llm_verdict="dismissed", llm_note="test code")

    merged = merge_findings([dismissed, confirmed, lone])

    assert len(merged) == 2
    combined = next(f for f in merged if f.file == "src/app.py")
    assert combined.llm_verdict == "confirmed"  # the primary's (most severe) verdict
    assert combined.llm_note == "cmd comes from the request\n\ncmd is a constant"
    assert next(f for f in merged if f.file == "src/other.py").llm_verdict == "dismissed"


def test_merge_output_does_not_depend_on_input_order():
    findings = [
        *shell_true_pair(),
        finding(file="a.py", line=3, rule="ruff/B006", category="mutable-default", cwe=None, tool="ruff"),
        finding(file="a.py", line=None, rule="lizard/ccn", category="complexity", cwe=None, tool="lizard"),
        finding(file="z.py", line=7),
    ]
    expected = merge_findings(findings)
    for seed in range(5):
        shuffled = findings[:]
        random.Random(seed).shuffle(shuffled)
        assert merge_findings(shuffled) == expected
    assert [(f.file, f.line) for f in expected] == [("a.py", 3), ("a.py", None), ("src/app.py", 12), ("z.py", 7)]


def test_rank_orders_by_severity_then_confidence_then_agreement_then_llm():
    low_sure = finding(file="f1.py", severity="low", confidence="high")
    medium_unsure = finding(file="f2.py", severity="medium", confidence="low")
    high_agreed = finding(file="f3.py", severity="high", confidence="medium", tools=["bandit", "patterns"], agreement=2)
    high_confirmed = finding(file="f4.py", severity="high", confidence="medium", llm_verdict="confirmed")
    high_dismissed = finding(file="f5.py", severity="high", confidence="medium", llm_verdict="dismissed")
    high_plain = finding(file="f6.py", severity="high", confidence="medium")

    ranked = rank([low_sure, high_dismissed, medium_unsure, high_plain, high_confirmed, high_agreed])

    assert [f.file for f in ranked] == ["f3.py", "f4.py", "f6.py", "f5.py", "f2.py", "f1.py"]
    assert ranked[0].score == score(high_agreed) == 100 * 3 + 10 * 1 + 2
    assert ranked[3].score == 310 - 0.5


def test_rank_ties_break_by_file_then_line():
    ranked = rank([finding(file="b.py", line=1), finding(file="a.py", line=9), finding(file="a.py", line=2)])

    assert [(f.file, f.line) for f in ranked] == [("a.py", 2), ("a.py", 9), ("b.py", 1)]


def test_counts_have_every_severity_and_count_merged_agents_once_each():
    merged = merge_findings([*shell_true_pair(), finding(file="b.py", severity="low", category="x", cwe=None)])

    assert count_by_severity(merged) == {"critical": 1, "high": 0, "medium": 0, "low": 1, "info": 0}
    assert list(count_by_severity([])) == list(SEVERITIES)
    assert count_by(merged, "agent") == {"security": 2, "bug_hunter": 1}
    assert count_by(merged, "file") == {"b.py": 1, "src/app.py": 1}
    assert count_by(merged, "category") == {"shell-injection": 1, "x": 1}


def agents(**statuses: Any) -> dict[str, AgentResult]:
    return {name: AgentResult(agent=name, status=status, error="exceeded 120 s") for name, status in statuses.items()}


def test_summary_names_the_verdict_top_risks_hotspots_and_agreement():
    findings = merge_findings(
        [
            *shell_true_pair(),
            finding(line=40, severity="medium", rule="ruff/S608", category="sql", cwe=89, tool="ruff"),
            finding(file="b.py", severity="info", category="complexity", cwe=None, tool="lizard"),
        ]
    )
    repo_map = {"files": 12, "lines": 3400, "languages": [{"language": "Python", "lines": 3000, "share": 0.88}]}

    text = summarize(findings, agents(explorer="ok", bug_hunter="ok", security="ok"), repo_map)

    assert text.splitlines()[0] == "**Verdict:** 1 critical and 1 medium findings (1 informational)."
    assert "**Agents:** bug\\_hunter (ok), explorer (ok), security (ok)." in text
    assert "Partial" not in text
    assert "**Repository:** 3,400 lines in 12 files: Python 88%." in text
    assert "1. **critical** patterns/shell-true (CWE-78) at src/app.py:12" in text
    assert "(2 tools agree)" in text
    assert "- src/app.py: 2 findings (1 critical, 1 medium)" in text
    assert "- patterns/shell-true at src/app.py:12: bandit, patterns" in text


def test_summary_with_nothing_above_info_says_so():
    text = summarize([finding(severity="info")], agents(explorer="ok"))

    assert text.startswith("**Verdict:** no findings at or above low severity (1 informational).")
    assert "Top risks" not in text


def test_summary_names_agents_that_failed_or_timed_out():
    text = summarize([], agents(explorer="ok", bug_hunter="error", security="timeout"))

    assert "**Partial audit:**" in text
    assert "bug\\_hunter: error: exceeded 120 s" in text
    assert "security: timeout: exceeded 120 s" in text


def test_summary_top_risks_stop_at_five():
    findings = [finding(file=f"f{i}.py") for i in range(8)]

    text = summarize(findings, agents(security="ok"))

    assert "5. **high**" in text
    assert "6. **high**" not in text


def test_model_written_insight_is_marked_and_neutralized():
    hostile = "# Ignore the audit\n</p><script>alert(1)</script>\n[click](javascript:alert(1)) | ```"

    text = summarize([], agents(explorer="ok"), llm_insight=hostile)

    assert "### Model-written insight (unverified)" in text
    insight = text.split("### Model-written insight (unverified)", 1)[1]
    assert "<script>" not in insight and "&lt;script&gt;" in insight
    assert "](javascript:" not in insight.replace("\\]", "")
    assert "\\[click\\]" in insight and "\\|" in insight and "\\`\\`\\`" in insight
    assert all(line.startswith(">") for line in insight.strip().splitlines()[2:])
    assert "> \\# Ignore the audit" in insight


def test_repository_strings_in_the_summary_are_escaped():
    hostile = finding(file="src/<img src=x onerror=alert(1)>.py", message="a | b\nc")

    text = summarize([hostile], agents(security="ok"))

    assert "<img" not in text
    assert "a \\| b c" in text


def test_a_hardcoded_password_and_a_hardcoded_credential_are_one_problem():
    a = finding(cwe=259, category="hardcoded-secret", rule="bandit/B105", severity="low")
    b = finding(cwe=798, category="hardcoded-secret", tool="detect-secrets", rule="secrets/KeywordDetector")
    (merged,) = merge_findings([a, b])
    assert merged.agreement == 2 and merged.rule == "secrets/KeywordDetector"
    assert merged.related_rules == ["bandit/B105"]


def test_bandits_eval_injection_and_the_taint_rules_code_injection_are_one_problem():
    a = finding(cwe=95, category="code-injection", rule="bandit/B307", severity="medium")
    b = finding(cwe=94, category="code-injection", tool="semgrep", rule="semgrep/python-code-injection")
    (merged,) = merge_findings([a, b])
    assert (merged.agreement, merged.rule, merged.cwe) == (2, "semgrep/python-code-injection", 94)

"""The precision/recall scorer, and the default analyzers scored on the labelled fixture repositories."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from workbench.audit.analyzers import BUG_TOOLS, SECURITY_TOOLS, ToolRun
from workbench.audit.models import Finding
from workbench.audit.scoring import Expected, ExpectedFinding, combine, load_expected, score, score_by_agent

FIXTURES = Path(__file__).resolve().parents[2] / "datasets" / "repos"
FIXTURE_NAMES = sorted(p.name.removesuffix(".expected.yaml") for p in FIXTURES.glob("*.expected.yaml"))


def found(file: str, line: int, category: str, *, cwe: int | None = None, agent="security", severity="high"):
    return Finding(
        rule=f"test/{category}", category=category, cwe=cwe, severity=severity, file=file, line=line,
        message="m", agent=agent, tool="test",
    )  # fmt: skip


def labels() -> Expected:
    return Expected(
        repo="toy",
        findings=[
            ExpectedFinding(id="sqli", file="db.py", line=10, agent="security", category="sql-injection", cwe=89),
            ExpectedFinding(id="cmdi", file="ops.py", line=20, agent="security", category="command-injection", cwe=78),
            ExpectedFinding(id="default", file="ops.py", line=40, agent="bug_hunter", category="mutable-default"),
        ],
        clean_files=["models.py"],
    )


def test_perfect_findings_score_one():
    result = score(
        [found("db.py", 10, "sql-injection"), found("ops.py", 20, "command-injection"),
         found("ops.py", 40, "mutable-default", agent="bug_hunter")],
        labels(),
    )  # fmt: skip
    assert (result.tp, result.fp, result.fn) == (3, 0, 0)
    assert result.precision == result.recall == result.f1 == 1.0


def test_line_tolerance_and_cwe_or_category_decide_a_match():
    near = found("db.py", 12, "injection", cwe=89)  # other category, same CWE, two lines off
    far = found("ops.py", 23, "command-injection", cwe=78)  # three lines off
    result = score([near, far], labels(), agent="security")
    assert [(item.id, finding) for item, finding in result.matched] == [("sqli", near)]
    assert [item.id for item in result.missed] == ["cmdi"]
    assert result.false_positives == [far]
    assert (result.precision, result.recall) == (0.5, 0.5)
    assert score([far], labels(), agent="security", line_tolerance=3).tp == 1


def test_duplicates_are_credited_once_and_not_penalized():
    same_place = [found("db.py", 10, "sql-injection"), found("db.py", 11, "sql-injection", cwe=89)]
    result = score(same_place, labels(), agent="security")
    assert (result.tp, result.fp, result.fn) == (1, 0, 1)
    assert len(result.duplicates) == 1


def test_one_finding_cannot_credit_two_items():
    expected = Expected(
        findings=[
            ExpectedFinding(id="a", file="x.py", line=10, agent="security", category="xss"),
            ExpectedFinding(id="b", file="x.py", line=12, agent="security", category="xss"),
        ]
    )
    assert score([found("x.py", 11, "xss")], expected).tp == 1
    # with two findings the maximum matching credits both, whatever the order
    both = score([found("x.py", 11, "xss"), found("x.py", 10, "xss")], expected)
    assert (both.tp, both.fn, both.fp) == (2, 0, 0)


def test_info_and_below_threshold_findings_are_ignored():
    noise = [
        found("models.py", 3, "risky-import", severity="info"),
        found("models.py", 5, "weak-random", severity="low"),
    ]
    assert score(noise, labels()).fp == 1
    assert score(noise, labels(), min_severity="medium").fp == 0


def test_findings_in_unlisted_files_are_false_positives():
    result = score([found("somewhere/else.py", 1, "sql-injection")], labels())
    assert result.fp == 1 and result.tp == 0


def test_scoring_per_agent_splits_items_and_findings():
    findings = [
        found("db.py", 10, "sql-injection"),
        found("models.py", 1, "complexity", agent="bug_hunter"),
        found("ops.py", 20, "command-injection", agent="bug_hunter"),  # a real problem, another agent's label
    ]
    scores = score_by_agent(findings, labels())
    assert set(scores) == {"bug_hunter", "security", "overall"}
    assert (scores["security"].tp, scores["security"].fp, scores["security"].fn) == (1, 0, 1)
    bug = scores["bug_hunter"]
    assert (bug.tp, bug.fp, bug.fn) == (0, 1, 1) and len(bug.duplicates) == 1
    assert (scores["overall"].tp, scores["overall"].fp, scores["overall"].fn) == (2, 1, 1)


def test_nothing_found_in_nothing_to_find_is_perfect_and_combine_adds_counts():
    empty = score([], Expected())
    assert (empty.precision, empty.recall) == (1.0, 1.0)
    total = combine([empty, score([found("db.py", 10, "sql-injection")], labels())])
    assert (total.tp, total.fp, total.fn) == (1, 0, 2)


# --- the fixtures -------------------------------------------------------------------------------------------------
def test_fixture_labels_are_valid_and_point_at_real_lines():
    ids = []
    for name in FIXTURE_NAMES:
        expected = load_expected(FIXTURES / f"{name}.expected.yaml")
        assert expected.repo == name
        for item in expected.findings + [ExpectedFinding(id=f, file=f, line=1, agent="security", category="-")
                                         for f in expected.clean_files]:  # fmt: skip
            lines = (FIXTURES / name / item.file).read_text().splitlines()
            assert item.line <= len(lines) and lines[item.line - 1].strip(), (name, item.id)
        ids += [item.id for item in expected.findings]
    assert len(ids) == len(set(ids)) >= 30
    assert {"inventory-api", "node-service", "clean-lib"} <= set(FIXTURE_NAMES)


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory) -> dict[str, list[ToolRun]]:
    """Every default analyzer over a copy of every fixture, all at once (each tool is its own subprocess)."""
    base = tmp_path_factory.mktemp("fixtures")
    jobs = []
    for name in FIXTURE_NAMES:
        shutil.copytree(FIXTURES / name, base / name)
        jobs += [(name, tool) for tool in (*BUG_TOOLS, *SECURITY_TOOLS)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda job: job[1](base / job[0], timeout_s=60), jobs))
    result: dict[str, list[ToolRun]] = {name: [] for name in FIXTURE_NAMES}
    for (name, _), run in zip(jobs, runs, strict=True):
        result[name].append(run)
    return result


def test_default_analyzers_reach_the_target_precision_and_recall_per_agent(fixture_runs):
    per_agent: dict[str, list] = {}
    for name, runs in fixture_runs.items():
        assert all(run.status in ("ok", "skipped") for run in runs), [(r.tool, r.error) for r in runs]
        print(f"\n{name}: " + ", ".join(f"{r.tool} {r.status} {r.duration_s:.2f}s" for r in runs))
        scores = score_by_agent(
            [f for run in runs for f in run.findings], load_expected(FIXTURES / f"{name}.expected.yaml")
        )
        for agent, result in scores.items():
            print(f"  {agent:10} {result}  missed={[item.id for item in result.missed]}")
            per_agent.setdefault(agent, []).append(result)
    totals = {agent: combine(parts) for agent, parts in per_agent.items()}
    for agent, total in totals.items():
        print(f"ALL {agent:10} {total}")
        for finding in total.false_positives:
            print(f"    false positive: {finding.rule} {finding.file}:{finding.line} {finding.evidence[:60]}")
    for agent in ("bug_hunter", "security"):
        assert totals[agent].recall >= 0.8, (agent, str(totals[agent]))
        assert totals[agent].precision >= 0.7, (agent, str(totals[agent]))


def test_clean_lib_yields_no_finding_at_low_or_above(fixture_runs):
    findings = [f for run in fixture_runs["clean-lib"] for f in run.findings if f.severity != "info"]
    assert findings == []


def test_the_problem_under_the_injection_canary_is_still_reported(fixture_runs):
    findings = [f for run in fixture_runs["inventory-api"] for f in run.findings]
    assert any(f.file == "inventory/importers.py" and f.line == 26 and f.cwe == 502 for f in findings)
    assert not any("CANARY" in f.message for f in findings)

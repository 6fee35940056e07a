"""Upstream's scoring of OWASP's Benchmark for Python (workbench/audit/benchmark.py), on a small made-up layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.audit.benchmark import hits, load_cases, locate, score
from workbench.errors import ConfigurationError

CSV = """# test name, category, real vulnerability, cwe
BenchmarkTest00001,sqli,true,89
BenchmarkTest00002,sqli,false,89
BenchmarkTest00003,sqli,true,89
BenchmarkTest00004,xxe,false,611
"""


def checkout(root: Path, layout: str) -> Path:
    tree = root / "repo" if layout == "shared" else root
    (tree / "testcode").mkdir(parents=True)
    (root / ("expected.csv" if layout == "shared" else "expectedresults-0.1.csv")).write_text(CSV)
    return root


@pytest.mark.parametrize("layout", ["shared", "upstream"])
def test_both_layouts_are_found(tmp_path, layout):
    tree, expected = locate(checkout(tmp_path, layout))
    assert (tree / "testcode").is_dir()
    assert [c.name for c in load_cases(expected)][:2] == ["BenchmarkTest00001", "BenchmarkTest00002"]


def test_a_folder_that_is_not_a_benchmark_says_what_it_expects(tmp_path):
    with pytest.raises(ConfigurationError, match=r"expectedresults-\*\.csv beside testcode/"):
        locate(tmp_path)


def test_a_case_is_flagged_only_by_a_finding_with_its_cwe_in_its_file(tmp_path):
    cases = load_cases(locate(checkout(tmp_path, "shared"))[1])
    flagged = hits(
        [
            ("testcode/BenchmarkTest00001.py", 89),  # real, flagged
            ("testcode/BenchmarkTest00002.py", 89),  # false alarm, flagged
            ("testcode/BenchmarkTest00003.py", 78),  # real, but another CWE: not flagged
            ("helpers/db.py", 89),  # not a test case
            ("testcode/BenchmarkTest00004.py", None),
        ]
    )
    result = score(cases, flagged)
    sqli, xxe = result.categories
    assert (sqli.tp, sqli.fn, sqli.fp, sqli.tn) == (1, 1, 1, 0)
    assert (sqli.tpr, sqli.fpr, sqli.score) == (0.5, 1.0, -0.5)
    assert (xxe.tpr, xxe.fpr, xxe.score) == (0.0, 0.0, 0.0)  # no real case: TPR 0
    assert result.score == pytest.approx(-0.25)  # the mean over categories
    assert (result.tpr, result.fpr, result.precision) == (0.5, 0.5, 0.5)
    assert result.positive_categories == 0
    assert result.as_dict()["categories"]["sqli"]["score"] == -0.5

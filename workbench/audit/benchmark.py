"""Scoring an audit on OWASP's Benchmark for Python the way upstream scores tools.

A test case (``testcode/BenchmarkTestNNNNN.py``) is *flagged* when a finding with the case's CWE (strictly) is in
its file. Per category: TPR = flagged real vulnerabilities / real ones, FPR = flagged false alarms / false ones;
the benchmark score is the mean over categories of TPR − FPR (a category without real cases has TPR 0).

The data is external (GPL-3.0): it is read where it lies, a BenchmarkPython checkout (``expectedresults-*.csv``
beside ``testcode/``) or the subset in the form the project's shared data keeps it (``expected.csv`` and
``repo/``), and never copied into the project.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.audit.models import Finding
from workbench.errors import ConfigurationError


@dataclass(frozen=True)
class BenchmarkCase:
    name: str
    """BenchmarkTestNNNNN, the file stem under testcode/."""
    category: str
    real: bool
    cwe: int


def locate(path: Path) -> tuple[Path, Path]:
    """(the tree to audit, the expected-results CSV) of a benchmark folder in either layout."""
    path = path.resolve()
    if (path / "expected.csv").is_file() and (path / "repo" / "testcode").is_dir():
        return path / "repo", path / "expected.csv"
    found = sorted(path.glob("expectedresults-*.csv"))
    if found and (path / "testcode").is_dir():
        return path, found[-1]
    raise ConfigurationError(
        f"{path.name or path} is not a BenchmarkPython folder: expected expectedresults-*.csv beside testcode/, "
        "or expected.csv beside repo/testcode/"
    )


def load_cases(expected: Path) -> list[BenchmarkCase]:
    """The labelled cases of an expected-results CSV (`# test name, category, real vulnerability, cwe`)."""
    cases = []
    with expected.open(newline="") as handle:
        for row in csv.reader(handle):
            if not row or row[0].lstrip().startswith("#"):
                continue
            name, category, real, cwe = (cell.strip() for cell in row[:4])
            cases.append(BenchmarkCase(name, category, real.lower() == "true", int(cwe)))
    return cases


def reported(findings: Iterable[Finding]) -> set[tuple[str, int]]:
    """The hits of the findings an audit report stands behind: severity low and up, confidence medium and up
    (informational hints and low-confidence findings are listed for review, not claimed)."""
    return hits((f.file, f.cwe) for f in findings if f.severity != "info" and f.confidence != "low")


def hits(findings: Iterable[tuple[str, int | None]]) -> set[tuple[str, int]]:
    """(case name, CWE) for every (file, cwe) of a finding in a test case's file."""
    flagged = set()
    for file, cwe in findings:
        stem = Path(file).name.removesuffix(".py")
        if cwe is not None and stem.startswith("BenchmarkTest"):
            flagged.add((stem, int(cwe)))
    return flagged


@dataclass
class CategoryScore:
    category: str
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0

    @property
    def tpr(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def score(self) -> float:
        return self.tpr - self.fpr


@dataclass
class BenchmarkScore:
    categories: list[CategoryScore] = field(default_factory=list)

    def _sum(self, key: str) -> int:
        return sum(getattr(c, key) for c in self.categories)

    @property
    def tpr(self) -> float:
        real = self._sum("tp") + self._sum("fn")
        return self._sum("tp") / real if real else 0.0

    @property
    def fpr(self) -> float:
        false = self._sum("fp") + self._sum("tn")
        return self._sum("fp") / false if false else 0.0

    @property
    def precision(self) -> float:
        flagged = self._sum("tp") + self._sum("fp")
        return self._sum("tp") / flagged if flagged else 0.0

    @property
    def score(self) -> float:
        """Mean per-category TPR − FPR: upstream's benchmark score."""
        return sum(c.score for c in self.categories) / len(self.categories) if self.categories else 0.0

    @property
    def positive_categories(self) -> int:
        return sum(c.score > 0 for c in self.categories)

    def as_dict(self) -> dict[str, object]:
        return {
            "score": round(self.score, 4),
            "tpr": round(self.tpr, 4),
            "fpr": round(self.fpr, 4),
            "precision": round(self.precision, 4),
            "positive_categories": self.positive_categories,
            "categories": {
                c.category: {"tp": c.tp, "fn": c.fn, "fp": c.fp, "tn": c.tn, "tpr": round(c.tpr, 4),
                             "fpr": round(c.fpr, 4), "score": round(c.score, 4)}
                for c in self.categories
            },
        }  # fmt: skip


def score(cases: Iterable[BenchmarkCase], flagged: set[tuple[str, int]]) -> BenchmarkScore:
    """Upstream's scoring of one tool's flags over the cases (strict CWE match)."""
    by_category: dict[str, CategoryScore] = {}
    for case in cases:
        cell = by_category.setdefault(case.category, CategoryScore(case.category))
        hit = (case.name, case.cwe) in flagged
        if case.real:
            cell.tp += hit
            cell.fn += not hit
        else:
            cell.fp += hit
            cell.tn += not hit
    return BenchmarkScore([by_category[name] for name in sorted(by_category)])

"""``audit``: the repo-audit graph on the labelled fixture repositories (plus promoted cases), scored per agent.

Cases: one per fixture of ``datasets/repos`` (its ``<name>.expected.yaml`` holds the labels), then the cases
promoted from logged audit runs (``workbench promote``): their repository, and the earlier run's findings as the
expected ones when the promotion kept them. A promoted case without expected findings reports counts only.

Per case, one whole audit through :func:`workbench.tasks.manager.run_audit` (``entry_point="eval"``, logged in the
DuckDB run log under the case's ``run_id``): a fixture is copied to a temporary root that the case's settings
allow (a promoted target must be allowed by the process settings, as it was when it ran). The findings are scored
with :func:`workbench.audit.scoring.score_by_agent` (matching rules in that module): ``tp``, ``fp``, ``fn``,
``precision``, ``recall`` and ``f1`` for ``bug_hunter``, ``security`` and ``overall`` (as ``<agent>_<metric>``),
plus ``duration_s`` and ``findings`` (every merged finding, ``info`` included).

With ``WORKBENCH_AUDIT_BENCHMARK`` set to a BenchmarkPython folder (a checkout, or the subset kept beside the
project), one more case audits a copy of it and scores it upstream's way (:mod:`workbench.audit.benchmark`):
``benchmark_score`` (mean per-category TPR − FPR), ``_tpr``, ``_fpr``, ``_precision``, ``_positive_categories``
and ``benchmark_<category>_score``; it passes when the score reaches ``min_benchmark_score``.

A case passes when its overall F1 reaches ``min_f1``; a repository with nothing planted passes when it has no false
positive; one without expected findings when the audit completed. The run's precision, recall and F1 are
micro-averaged: the counts of every case add up, then the ratios are computed.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from graphs.repo_audit import builder
from graphs.repo_audit_state import AuditContext, AuditInput
from workbench.audit.benchmark import BenchmarkCase, load_cases, locate, reported
from workbench.audit.benchmark import score as benchmark_score
from workbench.audit.models import AGENTS, AuditReport
from workbench.audit.prompts import PROMPT_VERSION, SUMMARY_SYSTEM, TRIAGE_SYSTEM
from workbench.audit.scoring import SCORED_AGENTS, Expected, ExpectedFinding, Score, load_expected, score_by_agent
from workbench.errors import ConfigurationError
from workbench.evals.cases import load_promoted
from workbench.evals.suite import Case, CaseResult, Variant, percentile
from workbench.evals.tracking import register_prompt
from workbench.resources import Resources
from workbench.runlog import RunLogCallback, get_runlog
from workbench.runtime import LocalRuntime
from workbench.settings import Settings
from workbench.tasks.runner import run_audit

REPOS = Path(__file__).resolve().parents[1] / "datasets" / "repos"
BENCHMARK_CASE = "owasp-benchmark-python"
SCORES = (*SCORED_AGENTS, "overall")
_AGENT_SEPARATORS = re.compile(r"[+,\s]+")
PROMPTS = {"audit-triage": TRIAGE_SYSTEM, "audit-summary": SUMMARY_SYSTEM}


def graph_version() -> str:
    """Short hash of the repo-audit graph's mermaid drawing: it changes when the graph's shape does."""
    drawing = builder.compile().get_graph().draw_mermaid()
    return hashlib.sha256(drawing.encode()).hexdigest()[:12]


def expected_of(case: Case) -> Expected | None:
    """The case's labels, or None when it has none (a promoted case that kept no findings). Items without a line
    can never be matched and are left out."""
    items = case.expected.get("findings")
    if items is None:
        return None
    findings = [
        ExpectedFinding.model_validate({"id": f"{case.id}-{n}", **item})
        for n, item in enumerate(items)
        if item.get("line")
    ]
    return Expected(repo=case.id, findings=findings)


def ratios(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall and F1 as :class:`~workbench.audit.scoring.Score` computes them (1.0 on nothing)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score_metrics(scores: dict[str, Score]) -> dict[str, float]:
    out: dict[str, float] = {}
    for agent, score in scores.items():
        out |= {f"{agent}_tp": float(score.tp), f"{agent}_fp": float(score.fp), f"{agent}_fn": float(score.fn)}
        out |= {f"{agent}_precision": score.precision, f"{agent}_recall": score.recall, f"{agent}_f1": score.f1}
    return out


class AuditSuite:
    name = "audit"
    description = "Repo audit on the labelled fixture repositories: precision, recall and F1 per agent and overall"
    defaults: dict[str, Any] = {
        "model": "none",
        "agents": "+".join(AGENTS),
        "min_f1": 0.8,
        "llm_reviews": None,
        "min_benchmark_score": 0.25,
    }
    """``model`` ``none`` audits without LLM triage; ``agents`` joined by ``+`` (on the command line a comma separates
    variants: ``--set agents=security,bug_hunter+security`` is two); ``llm_reviews`` ``None``: the
    ``audit_llm_reviews`` setting."""

    def knobs(self, variant: Variant, settings: Settings) -> dict[str, Any]:
        knobs = {**self.defaults, **variant.params}
        agents = [a for a in _AGENT_SEPARATORS.split(str(knobs["agents"])) if a]
        unknown = sorted(set(agents) - set(AGENTS))
        if unknown or not agents:
            raise ConfigurationError(f"agents: {unknown or 'none given'}; choose from {', '.join(AGENTS)}")
        knobs["agents"] = agents
        reviews = knobs["llm_reviews"]
        knobs["llm_reviews"] = settings.audit_llm_reviews if reviews in (None, "") else int(reviews)
        return knobs

    def cases(self, settings: Settings) -> list[Case]:
        """Every fixture with labels, then the promoted audit cases."""
        bundled = []
        for labels in sorted(REPOS.glob("*.expected.yaml")):
            name = labels.name.removesuffix(".expected.yaml")
            expected = load_expected(labels)
            findings = [item.model_dump(exclude={"note"}) for item in expected.findings]
            bundled.append(Case(name, {"fixture": name}, {"findings": findings}))
        if settings.audit_benchmark is not None:
            bundled.append(Case(BENCHMARK_CASE, {"benchmark": str(settings.audit_benchmark)}, {}))
        return bundled + load_promoted(settings, self.name)

    async def setup(self, resources: Resources, variant: Variant) -> dict[str, Any]:
        """Check the knobs, resolve the model, register the audit prompts (linked when a model uses them)."""
        settings = resources.settings
        knobs = self.knobs(variant, settings)
        model = str(knobs["model"] or "none").strip()
        resolved = await asyncio.to_thread(resources.models.resolve, model, "triage") or "none"
        if resolved != "none":
            await asyncio.to_thread(resources.models.choose, model, "triage")  # loads it now, not in the first case
        uris = [
            await asyncio.to_thread(register_prompt, settings, name, text, PROMPT_VERSION)
            for name, text in PROMPTS.items()
        ]
        return {
            "prompt_uris": uris if resolved != "none" else [],
            "agents": "+".join(knobs["agents"]),
            "llm_reviews": knobs["llm_reviews"],
            "model_resolved": resolved,
            "prompt_version": PROMPT_VERSION,
            "graph_version": graph_version(),
            "dataset_version": _dataset_version(),
        }

    async def run_case(self, case: Case, variant: Variant, resources: Resources) -> CaseResult:
        """One audit of the case's repository, scored against its labels."""
        settings = resources.settings
        knobs = self.knobs(variant, settings)
        run_id = str(uuid.uuid4())
        context = AuditContext(model=knobs["model"], llm_reviews=knobs["llm_reviews"])
        case_settings, repo, root = settings, str(case.input.get("repo") or ""), None
        cases: list[BenchmarkCase] | None = None
        if case.input.get("fixture") or case.input.get("benchmark"):
            if case.input.get("benchmark"):
                tree, labels = locate(Path(str(case.input["benchmark"])))
                cases = load_cases(labels)
                root, repo = await asyncio.to_thread(_copy_tree, tree, "benchmark")
            else:
                root, repo = await asyncio.to_thread(_copy_fixture, str(case.input["fixture"]))
            case_settings = settings.model_copy(update={"audit_allowed_roots": [*settings.audit_allowed_roots, root]})
        request: AuditInput = {"repo": repo, "agents": knobs["agents"], "task_id": uuid.UUID(run_id).hex}
        # The graph reads its settings from its context's resources: this case's, for this run only.
        context.resources = resources.with_settings(case_settings)
        started = time.perf_counter()
        try:
            report = await run_audit(
                request, _ignore, runtime=LocalRuntime(None), settings=case_settings, context=context,
                callback=RunLogCallback(get_runlog()), run_id=run_id, entry_point="eval", record_in=get_runlog(),
            )  # fmt: skip
        except Exception as exc:  # the run is logged (error) under run_id
            return CaseResult(case.id, "error", run_id=run_id, error=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            if root is not None:
                await asyncio.to_thread(shutil.rmtree, root, True)
        if cases is not None:
            return self.score_benchmark(case, knobs, report, run_id, time.perf_counter() - started, cases)
        return self.score(case, knobs, report, run_id, time.perf_counter() - started)

    def score_benchmark(
        self,
        case: Case,
        knobs: dict[str, Any],
        report: AuditReport,
        run_id: str,
        seconds: float,
        cases: list[BenchmarkCase],
    ) -> CaseResult:
        """The OWASP Benchmark case: upstream's score over the findings the report stands behind (severity low
        and up, confidence medium and up; see bench/audit_benchmark.py)."""
        result = benchmark_score(cases, reported(report.findings))
        metrics = {"duration_s": seconds, "findings": float(len(report.findings))}
        metrics |= {f"benchmark_{key}": round(getattr(result, key), 4) for key in ("score", "tpr", "fpr", "precision")}
        metrics["benchmark_positive_categories"] = float(result.positive_categories)
        metrics |= {f"benchmark_{c.category}_score": round(c.score, 4) for c in result.categories}
        passed = result.score >= float(knobs["min_benchmark_score"])
        lines = [f"{report.status}: score {result.score:.3f} (TPR {result.tpr:.3f}, FPR {result.fpr:.3f})"]
        lines += [f"{c.category}: TPR {c.tpr:.2f} FPR {c.fpr:.2f}" for c in result.categories]
        detail = {"status": report.status, "benchmark": result.as_dict()}
        return CaseResult(case.id, "pass" if passed else "fail", metrics, "\n".join(lines), run_id, detail)

    def score(self, case: Case, knobs: dict[str, Any], report: AuditReport, run_id: str, seconds: float) -> CaseResult:
        """The case's result from its report: scores against its labels, or counts only."""
        metrics: dict[str, float] = {"duration_s": seconds, "findings": float(len(report.findings))}
        detail: dict[str, Any] = {
            "status": report.status,
            "agents": {name: result.status for name, result in report.agents.items()},
            "counts": report.counts,
        }
        expected = expected_of(case)
        if expected is None:
            passed = report.status == "completed"
            output = f"{report.status}: {len(report.findings)} findings, " + ", ".join(
                f"{n} {s}" for s, n in report.counts.items() if n
            )
            return CaseResult(case.id, "pass" if passed else "fail", metrics, output, run_id, detail)
        scores = score_by_agent(report.findings, expected)
        metrics |= score_metrics(scores)
        overall = scores["overall"]
        missed = [f"{item.id} ({item.file}:{item.line} {item.category})" for item in overall.missed]
        false_positives = [f"{f.file}:{f.line} {f.rule} ({f.category}, {f.severity})" for f in overall.false_positives]
        detail |= {"missed": missed, "false_positives": false_positives}
        passed = overall.fp == 0 if not expected.findings else overall.f1 >= float(knobs["min_f1"])
        lines = [f"{report.status}: overall {overall}", *(f"missed {m}" for m in missed)]
        lines += [f"false positive {f}" for f in false_positives]
        return CaseResult(case.id, "pass" if passed else "fail", metrics, "\n".join(lines), run_id, detail)

    def aggregate(self, results: list[CaseResult]) -> dict[str, float]:
        out: dict[str, float] = {}
        for agent in SCORES:
            scored = [r.metrics for r in results if f"{agent}_tp" in r.metrics]
            if not scored:
                continue
            tp, fp, fn = (float(sum(m[f"{agent}_{count}"] for m in scored)) for count in ("tp", "fp", "fn"))
            precision, recall, f1 = ratios(tp, fp, fn)
            out |= {f"{agent}_tp": tp, f"{agent}_fp": fp, f"{agent}_fn": fn}
            out |= {f"{agent}_precision": round(precision, 4), f"{agent}_recall": round(recall, 4)}
            out[f"{agent}_f1"] = round(f1, 4)
        duration = percentile([r.metrics["duration_s"] for r in results if "duration_s" in r.metrics], 50)
        if duration is not None:
            out["duration_p50_s"] = round(duration, 3)
        out["findings_total"] = float(sum(r.metrics.get("findings", 0.0) for r in results))
        for r in results:  # the benchmark case's figures as they are (one case: nothing to average)
            out |= {key: value for key, value in r.metrics.items() if key.startswith("benchmark_")}
        return out


def _ignore(event: dict[str, Any]) -> None:
    """The audit's ``task.*`` events: the report says all the eval needs."""


def _copy_fixture(name: str) -> tuple[Path, str]:
    """A copy of fixture ``name`` in a new temporary folder: ``(folder, path of the copy)``."""
    return _copy_tree(REPOS / name, name)


def _copy_tree(tree: Path, name: str) -> tuple[Path, str]:
    """A copy of ``tree`` as ``name`` in a new temporary folder: ``(folder, path of the copy)``."""
    root = Path(tempfile.mkdtemp(prefix="wb-eval-audit-")).resolve()
    return root, str(shutil.copytree(tree, root / name, ignore=shutil.ignore_patterns(".git")))


def _dataset_version() -> str:
    digest = hashlib.sha256()
    for labels in sorted(REPOS.glob("*.expected.yaml")):
        digest.update(labels.name.encode() + labels.read_bytes())
    return digest.hexdigest()[:12]


suite = AuditSuite()

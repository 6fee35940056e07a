"""Taint analysis for the security agent: Semgrep's OSS engine on the rules in `workbench/audit/semgrep/`.

The engine (`semgrep-core`, shipped in the `semgrep` wheel) runs from its own venv (:mod:`.toolchain`), offline:
no registry rules, no metrics, no login. It is called directly rather than through the `semgrep` command, which
since 2025 hides the source → sink trace of a taint finding from users who are not logged in; the engine's own
JSON output carries it, and every finding keeps it as its `trace`. Suppression comments (`# nosemgrep`) are not
honoured (:mod:`.evidence` keeps the finding at low confidence). The engine's parsers recover from syntax errors
(it analyzes what it could parse); files it reports an error on, such as rules timing out, are reported as not
analyzed, with the engine's reason.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from pathlib import Path
from typing import Any, cast

import yaml

from workbench.audit.analyzers.evidence import build_finding
from workbench.audit.analyzers.process import Analyzer, Session, ToolRun
from workbench.audit.analyzers.sources import PYTHON_SUFFIXES, SourceFiles, source_files
from workbench.audit.analyzers.toolchain import tool_env
from workbench.audit.models import Confidence, Severity, TraceStep
from workbench.audit.rules import Rule

RULES_DIR = Path(__file__).resolve().parents[1] / "semgrep"
RULE_FILES = ("python.yaml", "javascript.yaml")
ANALYZERS: dict[str, str] = {
    **dict.fromkeys(PYTHON_SUFFIXES, "python"),
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs"), "javascript"),
    **dict.fromkeys((".ts", ".tsx"), "typescript"),
}
"""The engine's language for each file suffix the rules cover."""
SEMGREP_SUFFIXES = frozenset(ANALYZERS)
SEVERITY: dict[str, Severity] = {"ERROR": "high", "WARNING": "medium", "INFO": "low"}
RULE_TIMEOUT_S = 10
"""Per rule and file; a file on which three rules time out is given up and reported as not analyzed."""
TRACE_STEPS = 8


@functools.cache
def rules() -> dict[str, Any]:
    """Every rule file's rules as the engine reads them: YAML anchors resolved, the `x-` helper keys dropped."""
    return {"rules": [rule for name in RULE_FILES for rule in yaml.safe_load((RULES_DIR / name).read_text())["rules"]]}


def rule_mapping(rule: dict[str, Any]) -> Rule:
    """A rule's category, CWE, severity and confidence, from its `metadata` and `severity`."""
    meta = rule.get("metadata") or {}
    return Rule(
        category=str(meta["category"]),
        severity=SEVERITY.get(str(rule.get("severity")), "medium"),
        cwe=int(meta["cwe"]) if meta.get("cwe") is not None else None,
        confidence=cast(Confidence, meta.get("confidence", "medium")),
    )


def semgrep_core() -> tuple[Path, str] | None:
    """The engine binary and its version: `WORKBENCH_SEMGREP_CORE` (a path), else the semgrep tool venv's."""
    override = os.environ.get("WORKBENCH_SEMGREP_CORE")
    if override:
        return (Path(override), "custom") if Path(override).is_file() else None
    env = tool_env("semgrep")
    core = env.package_file("semgrep", "bin", "semgrep-core") if env else None
    return (core, env.version) if core and env else None


def _step(session: Session, role: str, location: Any, code: Any) -> TraceStep | None:
    """One trace step from the engine's {path, start: {line}} and printed code; None outside the checkout."""
    file = session.relative(str(location.get("path", "")), session.root)
    line = (location.get("start") or {}).get("line")
    if file is None or not isinstance(line, int) or line < 1:
        return None
    return TraceStep.model_validate({"role": role, "file": file, "line": line, "code": str(code)[:160]})


def _trace(session: Session, extra: dict[str, Any]) -> list[TraceStep]:
    """The source → steps → sink path of a taint finding (locations are ["CliLoc", [{path, start, end}, code]])."""
    flow = extra.get("dataflow_trace") or {}
    steps: list[TraceStep | None] = []
    for role, key in (("source", "taint_source"), ("sink", "taint_sink")):
        item = flow.get(key)
        if isinstance(item, list) and len(item) == 2 and item[0] == "CliLoc":
            location, code = item[1]
            steps.append(_step(session, role, location, code))
        if role == "source":
            for var in (flow.get("intermediate_vars") or [])[:TRACE_STEPS]:
                steps.append(_step(session, "step", var.get("location") or {}, var.get("content", "")))
    return [step for step in steps if step is not None]


def run_semgrep(root: Path, *, timeout_s: float, cancel: threading.Event | None = None) -> ToolRun:
    """Request data reaching a dangerous sink, and insecure API settings, in Python, JavaScript and TypeScript
    (agent security)."""
    root = root.resolve()
    files = [f for f in source_files(root) if Path(f).suffix in ANALYZERS]
    session = Session("semgrep", root, files, timeout_s, cancel)
    if not files:
        return session.done("skipped", "no files in a language the taint rules cover")
    engine = semgrep_core()
    if engine is None:
        return session.done(
            "error", "semgrep is not installed here; run scripts/setup.sh (it installs it beside the workbench)"
        )
    core, session.version = engine
    ruleset = rules()
    by_id = {rule["id"]: rule_mapping(rule) for rule in ruleset["rules"]}
    rules_json = json.dumps(ruleset)
    sources = SourceFiles(root)

    def command(batch: list[str], work: Path) -> list[str]:
        (work / "rules.json").write_text(rules_json)
        targets = [
            ["CodeTarget", {"path": {"fpath": path, "ppath": "/" + Path(path).relative_to(root).as_posix()},
                            "analyzer": ANALYZERS[Path(path).suffix], "products": ["sast"]}]
            for path in batch
        ]  # fmt: skip
        (work / "targets.json").write_text(json.dumps(["Targets", targets]))
        return [
            str(core), "-json", "-rules", str(work / "rules.json"), "-targets", str(work / "targets.json"),
            "-timeout", str(RULE_TIMEOUT_S), "-timeout_threshold", "3", "-max_memory", "2000", "-j", "1", "-fast",
        ]  # fmt: skip

    def parse(stdout: bytes, work: Path) -> None:
        output = json.loads(stdout[stdout.find(b"{") :])  # the engine prints a progress dot first
        for error in output.get("errors", []):  # core_error: {error_type, message, location: {path, start}}
            location = error.get("location") or {}
            if not location.get("path"):
                continue
            kind = error.get("error_type")
            kind = kind[0] if isinstance(kind, list) and kind else kind
            line = (location.get("start") or {}).get("line")
            where = f" at line {line}" if isinstance(line, int) else ""
            session.skip_file(session.relative(str(location["path"]), work), f"semgrep: {str(kind).lower()}{where}")
        for item in output.get("results", []):
            file = session.relative(item["path"], work)
            rule_id = item["check_id"].rsplit(".", 1)[-1]
            rule = by_id.get(rule_id)
            if file is None or rule is None:
                continue
            line, end = item["start"]["line"], item["end"]["line"]
            finding = build_finding(
                sources,
                rule,
                rule_id=f"semgrep/{rule_id}",
                file=file,
                line=line,
                end_line=end,
                message=item["extra"].get("message", ""),
                agent="security",
                tool="semgrep",
                severity=rule.severity or "medium",
                confidence=rule.confidence or "medium",
                cwe=rule.cwe,
            )
            finding.trace = _trace(session, item["extra"])
            session.findings.append(finding)

    return session.run(command, parse)


SEMGREP_TOOLS: tuple[Analyzer, ...] = (run_semgrep,)

"""What the Runs tab shows of the run log, as tables and Markdown: the runs listed, one run's header and metadata,
its node timeline, the documents it retrieved and an audit's findings.

Everything that comes from a run (questions, answers, file names, messages) goes into table cells as text, or into
Markdown through :func:`~workbench.audit.markdown.md_text`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from workbench.audit.markdown import md_text
from workbench.ui.trace_links import trace_link
from workbench.ui.voice_tab import latency_markdown

RUN_COLUMNS = [
    "started (UTC)", "run id", "graph", "entry point", "status", "duration (s)", "LLM (ms)", "retrieval (ms)",
    "speech (ms)", "tokens in/out", "spans", "model", "input",
]  # fmt: skip
ROLLUP_MS = ("llm_ms", "retrieval_ms", "speech_ms")
"""The roll-ups the runs table shows as columns (a run without spans has none: blank cells)."""
TIMELINE_COLUMNS = ["seq", "node", "kind", "status", "duration (ms)", "offset (ms)", "detail"]
DOC_COLUMNS = ["source", "chunk", "score", "dense", "sparse"]
FINDING_COLUMNS = ["severity", "rule", "CWE", "file", "line", "message", "agents"]
ENGINES = (("persona", "persona"), ("LLM", "model"), ("speech to text", "stt_model"), ("voice", "tts_voice"))


def _seconds(start: datetime | None, end: datetime | None) -> str:
    return "" if start is None or end is None else f"{(end - start).total_seconds():.2f}"


def excerpt(text: object, size: int = 80) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= size else line[: size - 1] + "…"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _tokens(run: dict[str, Any]) -> str:
    if run.get("tokens_in") is None and run.get("tokens_out") is None:
        return ""
    return f"{run.get('tokens_in') or 0} / {run.get('tokens_out') or 0}"


def run_rows(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """The runs table in the order given, with each run's time in LLM calls, retrieval and speech, its tokens and
    how many spans its trace has."""
    rows = [
        [
            run["started_at"].strftime("%Y-%m-%d %H:%M:%S") if run.get("started_at") else "",
            run["run_id"][:8],
            run.get("graph") or "",
            run.get("entry_point") or "",
            run.get("status") or "",
            _seconds(run.get("started_at"), run.get("ended_at")),
            *(_ms(run.get(name)) for name in ROLLUP_MS),
            _tokens(run),
            "" if run.get("spans") is None else str(run["spans"]),
            run.get("model") or "",
            excerpt(run.get("input")),
        ]
        for run in runs
    ]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def timeline_rows(run: dict[str, Any]) -> pd.DataFrame:
    """The run's events in order, with each one's offset from the run's start."""
    start: datetime | None = run.get("started_at")
    rows = []
    for event in run.get("events") or []:
        began, duration = event.get("started_at"), event.get("duration_ms")
        offset = "" if start is None or began is None else f"{(began - start).total_seconds() * 1000:.0f}"
        detail = event.get("detail")
        rows.append([
            str(event.get("seq", "")), event.get("node") or "", event.get("kind") or "", event.get("status") or "",
            "" if duration is None else f"{duration:.1f}", offset,
            excerpt(json.dumps(detail, default=str, ensure_ascii=False) if detail else "", 120),
        ])  # fmt: skip
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def doc_rows(run: dict[str, Any]) -> pd.DataFrame:
    def fmt(value: Any) -> str:
        return "" if value is None else f"{float(value):.3f}"

    rows = [
        [
            doc.get("source") or "",
            str(doc.get("chunk_id") or ""),
            fmt(doc.get("score")),
            fmt(doc.get("dense_score")),
            fmt(doc.get("sparse_score")),
        ]  # fmt: skip
        for doc in run.get("retrieved") or []
    ]
    return pd.DataFrame(rows, columns=DOC_COLUMNS)


def finding_rows(report: dict[str, Any] | None) -> pd.DataFrame:
    rows = [
        [
            f.get("severity") or "",
            f.get("rule") or "",
            f"CWE-{f['cwe']}" if f.get("cwe") else "",
            f.get("file") or "",
            "" if f.get("line") is None else str(f["line"]),
            excerpt(f.get("message"), 200),
            ", ".join(f.get("agents") or [f.get("agent") or ""]),
        ]  # fmt: skip
        for f in (report or {}).get("findings") or []
    ]
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def detail_markdown(run: dict[str, Any], report: dict[str, Any] | None = None) -> str:
    """The run's header (what ran, how it ended, how long) and what its graph adds: voice timings and engines,
    an audit's counts; other metadata as a key/value table."""
    fields = [
        ("run", run["run_id"]), ("graph", run.get("graph")), ("entry point", run.get("entry_point")),
        ("status", run.get("status")), ("model", run.get("model")), ("prompt", run.get("prompt_version")),
        ("session", run.get("session_id")),
        ("started (UTC)", run["started_at"].strftime("%Y-%m-%d %H:%M:%S") if run.get("started_at") else None),
        ("duration (s)", _seconds(run.get("started_at"), run.get("ended_at")) or None),
        ("first token (ms)", None if run.get("ttft_ms") is None else f"{run['ttft_ms']:.0f}"),
        ("tokens in/out", None if run.get("tokens_in") is None else f"{run['tokens_in']} / {run.get('tokens_out')}"),
    ]  # fmt: skip
    parts = [" · ".join(f"**{name}** {md_text(value)}" for name, value in fields if value not in (None, ""))]
    if link := trace_link(run["run_id"], "Open trace ↗"):
        parts.append(f"{link} (spans, prompts and completions, the critical path)")
    if run.get("error"):
        parts.append(f"⚠️ **error** {md_text(run['error'])}")
    metadata = dict(run.get("metadata") or {})
    if run.get("graph") == "voice":
        engines = " · ".join(f"**{n}** {md_text(metadata[k])}" for n, k in ENGINES if metadata.get(k))
        parts += [
            "_The audio itself is not kept, neither the recording nor the spoken reply: the log holds the transcript,"
            " the reply and the timings (a recording that was not transcribed appears as its size and SHA-256 only)._",
            f"**Transcript** {md_text(metadata.get('transcript') or run.get('input') or '–')}",
            engines or "_No engines recorded._",
            latency_markdown({k: v for k, v in metadata.items() if isinstance(v, int | float)}),
        ]
        shown = {"transcript", *(key for _, key in ENGINES)}
        metadata = {k: v for k, v in metadata.items() if not k.endswith("_s") and k not in shown}
    if report is not None:
        counts = report.get("counts") or {}
        parts.append("**Findings** " + (" · ".join(f"{md_text(k)} {md_text(v)}" for k, v in counts.items()) or "0"))
    if metadata:
        rows = ["| metadata | value |", "|---|---|"]
        rows += [f"| {md_text(k)} | {md_text(excerpt(v, 200))} |" for k, v in sorted(metadata.items())]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def promoted_line(suite: str, case_id: str, count: int) -> str:
    return f"✅ Added case {case_id} to suite {suite} ({count} promoted cases)"

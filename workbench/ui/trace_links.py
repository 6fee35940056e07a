"""Where a run's trace is shown: the trace page's address for a run id, and the link to it that the tabs put beside
an answer, a run, an eval case or an audit. Kept free of Gradio, so the server's trace routes check run ids against
the same shape without loading the UI."""

from __future__ import annotations

import html
import re

RUN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""What a run id may look like where it reaches a URL: 1 to 128 letters, digits and ``._:-``."""


def trace_url(run_id: object) -> str | None:
    """The trace page of ``run_id``; None for an id of another shape (or only dots, which a browser would fold)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or not run_id.strip("."):
        return None
    return f"/runs/{run_id}/trace"


def trace_link(run_id: object, label: str = "trace") -> str:
    """An HTML link (for a ``gr.Markdown``) that opens the run's trace in a new tab; empty for an id that has none."""
    url = trace_url(run_id)
    if url is None:
        return ""
    return f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{html.escape(label)}</a>'

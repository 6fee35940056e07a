"""Files the browser hands to a tab: only Gradio's own uploads, never a path a client made up.

A Gradio event's file input arrives as a path; a hostile client can send any server path instead of an upload.
Every tab that reads a file goes through :func:`uploaded_file` first.
"""

from __future__ import annotations

from pathlib import Path

from gradio.utils import get_upload_folder


class NotAnUpload(ValueError):
    """The path is not a file that was uploaded to this server."""


def uploaded_file(path: str | Path) -> Path:
    """``path`` resolved, if it is a file inside Gradio's upload folder (links resolved first); else
    :class:`NotAnUpload`, whose message names no path."""
    folder = Path(get_upload_folder()).resolve()
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(folder) or resolved == folder or not resolved.is_file():
        raise NotAnUpload("only files uploaded in this page can be used; upload the file again")
    return resolved

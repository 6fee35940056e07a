"""Files the browser hands to a tab: only what Gradio's upload route saved, never a path a client made up.

A Gradio event's file input arrives as a path, and Gradio lets any path inside its upload folder through: the
folder itself, a file it cached for an output, another component's file. Every tab that reads a file goes through
:func:`uploaded_file` with the paths Gradio's upload route saved (``demo.upload_file_set``): the file must be one
of them, inside the upload folder, and a regular file (no folder, no link). A refusal names no path and says the
same whether or not the path exists.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path

from gradio.utils import get_upload_folder


class NotAnUpload(ValueError):
    """The path is not a file that was uploaded to this server."""


def uploaded_file(path: str | Path, uploads: Collection[str]) -> Path:
    """``path`` as an absolute path, if it is one of ``uploads`` (the files Gradio's upload route saved), lies in
    Gradio's upload folder and is a regular file, not a link; else :class:`NotAnUpload`, whose message names no
    path."""
    refused = NotAnUpload("only files uploaded in this page can be used; upload the file again")
    given = os.path.abspath(path)
    if given not in uploads:
        raise refused
    folder = Path(get_upload_folder()).resolve()
    if not Path(given).parent.resolve().is_relative_to(folder):
        raise refused
    try:
        mode = os.lstat(given).st_mode
    except OSError:
        raise refused from None
    if not stat.S_ISREG(mode):
        raise refused
    return Path(given)

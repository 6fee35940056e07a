"""The API token never reaches the server's log.

Browsers open WebSockets with the token in the query string (``/ws/chat?token=…``) and a login URL carries one too;
uvicorn writes the path and query of every request (``uvicorn.access``) and every WebSocket handshake
(``uvicorn.error``). :class:`RedactTokens` replaces the value of any ``token`` query parameter in a record's message
and arguments with ``[redacted]``. :func:`redact_server_logs` puts it on uvicorn's loggers; a filter on a logger
stays through uvicorn's (and a ``--log-config``'s) logging setup, so ``workbench serve`` and
``uvicorn workbench.server:create_app --factory`` are both covered.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

REDACTED = "[redacted]"
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_PARAMETER = re.compile(r"([?&;])([^=&;#\s\"']+)=([^&;#\s\"']*)")


def redact_query(text: str) -> str:
    """``text`` with the value of each ``token=`` query parameter (however its name is percent-encoded) replaced."""

    def replace(match: re.Match[str]) -> str:
        if unquote_plus(match[2]).strip().lower() != "token":
            return match[0]
        return f"{match[1]}{match[2]}={REDACTED}"

    return _PARAMETER.sub(replace, text) if "=" in text else text


class RedactTokens(logging.Filter):
    """Takes ``token`` query parameters out of a log record (it keeps the record's shape for its formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_query(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def redact_server_logs() -> None:
    """Add :class:`RedactTokens` to uvicorn's loggers, once."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())

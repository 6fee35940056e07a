"""What serving on an address asks for before the server starts: beyond loopback every client logs in with a long
enough API token, and the home folder must hold the server's data. The ``workbench serve`` command refuses to start
with these reasons; a bare ``uvicorn --factory`` start is guarded per request instead (:mod:`.security`)."""

from __future__ import annotations

from workbench.runtime.storage import home_problem
from workbench.server.security import MIN_TOKEN_LENGTH, is_loopback
from workbench.server.ws_assistant import text_frame_limit
from workbench.settings import Settings

MAKE_A_TOKEN = "export WORKBENCH_API_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"


def refusal(host: str, settings: Settings) -> str | None:
    """Why the server must not start on ``host`` with ``settings`` (None when it may), saying what to do."""
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    if not is_loopback(host) and len(token) < MIN_TOKEN_LENGTH:
        problem = "every client must log in" if not token else f"the API token needs {MIN_TOKEN_LENGTH}+ characters"
        return (
            f"refusing to serve on {host}: beyond loopback {problem}; set a token first ({MAKE_A_TOKEN}) and list "
            "the names clients use for this machine in WORKBENCH_ALLOWED_HOSTS"
        )
    if (unusable := home_problem(settings.home)) is not None:
        return f"{unusable} ({settings.home.resolve()})"
    return None


def websocket_max_size(settings: Settings) -> int:
    """The largest WebSocket message the server reads: four chat messages, or one voice turn's audio sent as
    base64 text, with room for its JSON."""
    return max(4 * settings.max_message_bytes, text_frame_limit(settings.max_audio_bytes) + (1 << 16))

"""The built-in graphs as ``langgraph dev`` and LangGraph Server load them (``langgraph.json`` names these).

Each is compiled here, at import, with this process's clients in its context (:func:`graphs.serving.served`); the
workbench's own runtime compiles the builders itself and never imports this module.
"""

from graphs import chat as _chat
from graphs import repo_audit as _repo_audit
from graphs import voice as _voice
from graphs.serving import served

chat = served(_chat.builder.compile(name="chat"))
voice = served(_voice.builder.compile(name="voice"))
repo_audit = served(_repo_audit.builder.compile(name="repo_audit"))

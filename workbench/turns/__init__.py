"""Conversation turns (the application layer): chat and agent turns (:mod:`workbench.turns.chat`) and voice turns
(:mod:`workbench.turns.voice`), each a service over one turn runner (:mod:`workbench.turns.runner`), shared by the
WebSocket protocols, the UI, the CLI and the evals."""

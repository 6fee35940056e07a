"""Chat turns over the chat graph, shared by the WebSocket protocol, the UI and the CLI."""

from workbench.chat.service import ChatService, TurnRequest

__all__ = ["ChatService", "TurnRequest"]

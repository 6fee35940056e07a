"""Typed access to the clients the lifespan created, for route functions."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from workbench.tasks.manager import TaskManager
from workbench.turns.chat import ChatService
from workbench.turns.voice import VoiceService


def get_chat_service(connection: HTTPConnection) -> ChatService:
    return connection.app.state.chat


def get_voice_service(connection: HTTPConnection) -> VoiceService:
    return connection.app.state.voice


def get_task_manager(connection: HTTPConnection) -> TaskManager:
    return connection.app.state.tasks

"""The FastAPI server: ``create_app`` is the factory uvicorn and ``workbench serve`` use."""

from workbench.server.app import create_app

__all__ = ["create_app"]

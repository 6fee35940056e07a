"""Shared test setup: quiet offline environment and an isolated WORKBENCH_HOME per test session."""

from __future__ import annotations

import os

for key, value in {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",
    "OPENAI_API_KEY": "",
    "GROQ_API_KEY": "",
    # the scripted fake/ models are offered only where this is on
    "WORKBENCH_TESTING": "true",
}.items():
    os.environ[key] = value

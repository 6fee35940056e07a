.PHONY: setup serve test lint typecheck unit integration bench

export GRADIO_ANALYTICS_ENABLED=False
export LANGGRAPH_CLI_NO_ANALYTICS=1
export LANGGRAPH_NO_VERSION_CHECK=1
export MLFLOW_DISABLE_TELEMETRY=true
export HF_HUB_OFFLINE=1

setup:
	bash scripts/setup.sh

serve: setup
	.venv/bin/workbench serve

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

typecheck:
	.venv/bin/mypy

test: setup lint typecheck
	.venv/bin/pytest

unit:
	.venv/bin/pytest tests/unit tests/contract -m "not integration"

bench:
	.venv/bin/python bench/retrieval.py
	.venv/bin/python bench/ws_latency.py
	.venv/bin/python bench/runtimes.py
	.venv/bin/python bench/runlog_writes.py
	.venv/bin/python bench/voice.py
	.venv/bin/python bench/audit.py
	.venv/bin/python bench/audit_benchmark.py
	.venv/bin/python bench/local_models.py

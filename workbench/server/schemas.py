"""The protocols' JSON Schemas in ``protocols/``, written from the message models
(``python -m workbench.server.schemas``): one module above every protocol module, so none imports another back."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.agents import spec
from workbench.server import protocol, protocol_assistant, protocol_tasks, protocol_threads


def main() -> None:
    """Write every protocol's schema into ``protocols/``."""
    folder = Path(__file__).resolve().parents[2] / "protocols"
    schemas = {
        "chat": protocol.json_schema(),
        "assistant": protocol_assistant.json_schema(),
        "tasks": protocol_tasks.json_schema(),
        "threads": protocol_threads.json_schema(),
        "agent-spec": spec.json_schema(),
    }
    for name, schema in schemas.items():
        target = folder / f"{name}.schema.json"
        target.write_text(json.dumps(schema, indent=2) + "\n")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()

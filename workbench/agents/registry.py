"""What agent specs refer to by name: models by logical id, prompts by ``name@version``, tools, and other specs.

- Models: ``workbench/agents/models.yaml`` maps logical ids (``fast``, ``smart``, ...) to ``provider/model``
  strings, or ``default`` (the server's configured model, ``WORKBENCH_LLM``); the setting ``agent_models``
  (``WORKBENCH_MODEL_<ID>``, ``WORKBENCH_MODEL_SMART=openai/gpt-4o-mini``) overrides one.
- Prompts: the chat graph's versioned prompts (``chat-answer@v1`` to ``@v4``, ``chat-rewrite@v1``) and
  those of ``workbench/agents/prompts.yaml`` (``agent-plan@v1``, ``agent-critique@v1``, ``agent-answer@v1``,
  ``agent-calculator@v1``).
- Tools: the chat graph's tools (``calculator``, ``search_documents``); ``WORKBENCH_AGENT_TOOLS`` adds yours
  (``package.module:attribute`` of a LangChain tool: a function decorated with ``@tool``, whose name and docstring
  the model sees), as :func:`register_tool` does in code.
- Agents: the specs of the agents folder (``agents/*.yaml`` and ``*.json``), by their ``name``.
"""

from __future__ import annotations

import importlib
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path

import yaml
from langchain_core.tools import BaseTool

from graphs.chat_prompts import ANSWER_PROMPTS, REWRITE_PROMPT, Prompt
from graphs.chat_tools import TOOLS
from workbench.agents.validate import Known
from workbench.errors import ConfigurationError
from workbench.settings import Settings, environment_model_ids

MODELS_FILE = Path(__file__).with_name("models.yaml")
PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")
AGENTS_DIR = Path(__file__).resolve().parents[2] / "agents"
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_TOOLS_ENV = "WORKBENCH_AGENT_TOOLS"
_tools: dict[str, BaseTool] = {t.name: t for t in TOOLS}


def models(settings: Settings | None = None) -> dict[str, str]:
    """Logical model id -> ``provider/model``: models.yaml, with the settings' ``agent_models``
    (``WORKBENCH_MODEL_<ID>``) over it; without settings, those of the environment as it is now."""
    table = {str(k): str(v) for k, v in (yaml.safe_load(MODELS_FILE.read_text()) or {}).items()}
    return table | (settings or Settings()).agent_models


def prompts() -> dict[str, Prompt]:
    """``name@version`` -> prompt: the chat graph's and those of ``workbench/agents/prompts.yaml``."""
    table = {p.id: p for p in [*ANSWER_PROMPTS.values(), REWRITE_PROMPT]}
    for key, template in (yaml.safe_load(PROMPTS_FILE.read_text()) or {}).items():
        name, _, version = str(key).partition("@")
        table[str(key)] = Prompt(name, version, str(template).strip())
    return table


def placeholders(template: str) -> frozenset[str]:
    """The ``{name}`` fields a prompt template renders."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def tools(environ: Mapping[str, str] | None = None) -> dict[str, BaseTool]:
    """Tool name -> tool: the chat graph's, those given to :func:`register_tool`, and those that
    ``WORKBENCH_AGENT_TOOLS`` names (``package.module:attribute`` entries, comma-separated, imported on use)."""
    environ = os.environ if environ is None else environ
    table = dict(_tools)
    for entry in filter(None, (e.strip() for e in environ.get(_TOOLS_ENV, "").split(","))):
        table.update({t.name: t for t in [_import_tool(entry)]})
    return table


def _import_tool(entry: str) -> BaseTool:
    module, _, attribute = entry.partition(":")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"WORKBENCH_AGENT_TOOLS: cannot import {entry!r} ({exc})") from None
    if not isinstance(found, BaseTool):
        raise ConfigurationError(f"WORKBENCH_AGENT_TOOLS: {entry!r} is not a LangChain tool (decorate it with @tool)")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", found.name):
        raise ConfigurationError(f"WORKBENCH_AGENT_TOOLS: tool name {found.name!r}: use lower snake case")
    return found


def register_tool(tool: BaseTool) -> None:
    """Make `tool` available to specs under its name (call it before specs are validated or compiled)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", tool.name):
        raise ValueError(f"tool name {tool.name!r}: use lower snake case")
    _tools[tool.name] = tool


def fingerprint(folder: Path = AGENTS_DIR) -> tuple[object, ...]:
    """What a check of the specs of `folder` depends on, cheap to read (no file is parsed): each spec file's name,
    size and modification time, the registry files', the model ids and tools the settings add, and the tools
    registered in code. Equal fingerprints give equal results, so the catalog checks the specs once per change."""

    def stamp(path: Path) -> tuple[str, int, int]:
        try:
            stat = path.stat()
        except OSError:
            return (path.name, -1, -1)
        return (path.name, stat.st_mtime_ns, stat.st_size)

    return (
        str(folder),
        tuple(stamp(path) for path in spec_files(folder)),
        stamp(MODELS_FILE),
        stamp(PROMPTS_FILE),
        tuple(sorted(environment_model_ids().items())),  # what Settings().agent_models would read, unparsed
        os.environ.get(_TOOLS_ENV, ""),
        tuple(sorted(_tools)),
    )


def spec_files(folder: Path = AGENTS_DIR) -> list[Path]:
    """The spec files of an agents folder, by name."""
    return sorted(p for p in folder.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file()) if folder.is_dir() else []


def spec_names(folder: Path = AGENTS_DIR) -> dict[str, Path]:
    """Agent name -> its file, for the files whose `name` can be read (broken files are left to validation)."""
    names: dict[str, Path] = {}
    for path in spec_files(folder):
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            names.setdefault(data["name"], path)
    return names


def known(folder: Path = AGENTS_DIR) -> Known:
    """Everything a spec in `folder` may refer to."""
    table = prompts()
    return Known(
        models=frozenset(models()),
        prompts=frozenset(table),
        prompt_fields={key: placeholders(p.text) for key, p in table.items()},
        tools=frozenset(tools()),
        agents=frozenset(spec_names(folder)),
    )

"""Voice personas: YAML files with a system prompt and answering knobs.

Bundled personas live beside this module; ``WORKBENCH_PERSONAS_DIR`` adds more (a file there overrides a
bundled one with the same ``name``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workbench.errors import ConfigurationError

BUNDLED_DIR = Path(__file__).with_name("personas")


class Persona(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    system_prompt: str = Field(min_length=1)
    model: str | None = None
    temperature: float = Field(default=0.3, ge=0, le=2)
    max_tokens: int | None = Field(default=160, ge=1, description="Cap on a spoken reply's length.")
    max_history: int | None = Field(default=None, ge=2)
    grounded: bool = False
    top_k: int = Field(default=3, ge=1, le=20)
    voice: str | None = None


def _load_file(path: Path) -> Persona:
    """The persona in ``path``; errors name the file, never its folder (they reach clients)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"persona file {path.name} cannot be read; check its permissions") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"persona file {path.name} is not valid YAML; fix it or remove it") from exc
    try:
        return Persona.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ConfigurationError(f"persona file {path.name} is invalid at {where}: {first['msg']}") from exc


@lru_cache(maxsize=8)
def load_personas(extra_dir: Path | None = None) -> dict[str, Persona]:
    """Every persona by name: the bundled ones, then those in ``extra_dir``."""
    personas: dict[str, Persona] = {}
    for folder in (BUNDLED_DIR, extra_dir):
        if folder is None:
            continue
        if not folder.is_dir():
            raise ConfigurationError("the personas folder (WORKBENCH_PERSONAS_DIR) does not exist; set it to a folder")
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            persona = _load_file(path)
            personas[persona.name] = persona
    return personas


def get_persona(name: str, extra_dir: Path | None = None) -> Persona:
    personas = load_personas(extra_dir)
    if name not in personas:
        raise ConfigurationError(f"unknown persona {name[:40]!r}; choose one of {', '.join(sorted(personas))}")
    return personas[name]

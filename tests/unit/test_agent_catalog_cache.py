"""The catalog checks the agents folder once per change of its files, not on every lookup (a turn of an agent
looks it up three times: the socket's check, the service's, the runtime's)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from workbench.agents import catalog, validate
from workbench.agents.registry import AGENTS_DIR
from workbench.errors import ConfigurationError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(AGENTS_DIR / "calculator.yaml", tmp_path / "calculator.yaml")
    return tmp_path


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = validate.read_spec

    def counting(path: Path):  # type: ignore[no-untyped-def]
        seen.append(path)
        return real(path)

    monkeypatch.setattr(validate, "read_spec", counting)
    return seen


def test_repeated_lookups_parse_the_spec_once(folder: Path, parses: list[Path]) -> None:
    first = catalog.require("calculator", folder)
    for _ in range(5):
        assert catalog.require("calculator", folder) == first
        assert catalog.names(folder) == ["calculator"]
    assert len(parses) == 1


def test_an_edited_spec_is_read_again_and_a_broken_one_refused(folder: Path, parses: list[Path]) -> None:
    path = folder / "calculator.yaml"
    before = catalog.require("calculator", folder)
    path.write_text(path.read_text().replace("version:", "# edited\nversion:", 1))
    os.utime(path, ns=(before.path.stat().st_atime_ns, before.path.stat().st_mtime_ns + 1_000_000))
    after = catalog.require("calculator", folder)
    assert after.digest != before.digest and len(parses) == 2
    path.write_text("name: calculator\nnodes: [")
    with pytest.raises(ConfigurationError, match="unknown agent|problem"):
        catalog.require("calculator", folder)


def test_an_added_spec_is_found_without_a_restart(folder: Path) -> None:
    assert catalog.names(folder) == ["calculator"]
    text = (folder / "calculator.yaml").read_text().replace("name: calculator", "name: adder", 1)
    (folder / "adder.yaml").write_text(text)
    assert catalog.names(folder) == ["adder", "calculator"]

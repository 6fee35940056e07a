"""Reading a spec file (YAML, or JSON, which YAML reads too) with the line of every value, so that each error can
point at the line of the spec it is about."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
MAX_SPEC_BYTES = 256 * 1024


@dataclass(frozen=True)
class SpecProblem:
    """One problem of a spec: where (file, line, node) and what, in words that say what to change."""

    file: str
    line: int | None
    message: str
    node: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: " + (f"node {self.node}: " if self.node else "") + self.message


class SpecError(Exception):
    """Every problem found in a spec, at once."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


@dataclass
class SpecSource:
    """A spec's data and the line (1-based) of each value, by its path of keys and indexes."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, *path: str | int) -> int | None:
        """The line of the deepest value along `path` that the file has (a missing key: its parent's line)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def line_of_loc(self, loc: tuple[Any, ...]) -> int | None:
        """The line for a pydantic error location, skipping the parts that are not keys of the file (a union's
        tag, a field alias)."""
        path: list[str | int] = []
        for part in loc:
            candidate = (*path, part)
            if candidate in self.lines:
                path.append(part)
        return self.line(*path)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            out[key] = _walk(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1  # a key's line, not its value's (a block below it)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.SafeLoader("").construct_object(node)  # a scalar: typed as YAML types it (int, bool, null, str)


def read_spec(path: Path) -> SpecSource:
    """The spec file's data with its lines; a file that is not YAML or JSON raises :class:`SpecError`."""
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError:
        raise SpecError([SpecProblem(name, None, "cannot be read; check that the file exists")]) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([SpecProblem(name, None, f"is larger than {MAX_SPEC_BYTES // 1024} KB")])
    try:
        node = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        raise SpecError([SpecProblem(name, None, "is not UTF-8 text")]) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SpecError([SpecProblem(name, line, f"is not valid YAML or JSON: {exc.problem}")]) from None
    if node is None:
        raise SpecError([SpecProblem(name, None, "is empty")])
    lines: dict[Path_, int] = {}
    return SpecSource(name, _walk(node, (), lines), lines)

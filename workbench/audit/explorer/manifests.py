"""Entry points and dependencies from manifests at most two folders deep, parsed as text, never executed.

Manifests are read with ``tomllib``, ``json``, ``configparser`` and ``ast`` (``setup.py`` is parsed, not run).
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from workbench.audit.explorer.languages import language_of
from workbench.audit.explorer.walk import MAX_READ_BYTES

__all__ = ["read_manifests"]

REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def read_manifests(root: Path, paths: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Entry points and dependencies from the manifests at most two folders deep, and the manifests read."""
    entry_points: list[dict[str, Any]] = []
    dependencies: list[dict[str, Any]] = []
    manifests: list[str] = []
    present = set(paths)
    for rel in paths:
        parts = rel.split("/")
        name = parts[-1]
        if len(parts) > 3:
            continue
        parser = _PARSERS.get(name)
        if parser is None and name.endswith(".txt") and (name.startswith("requirements") or "requirements" in parts):
            parser = _requirements
        if parser is None and language_of(name) == "Dockerfile":
            parser = _dockerfile
        if parser is None and name == "main.go":
            parser = _go_main
        if parser is None:
            continue
        try:
            if (root / rel).stat().st_size > MAX_READ_BYTES:
                continue
            text = (root / rel).read_text(encoding="utf-8", errors="replace")
            found_eps, found_deps = parser(rel, text, present)
        except (OSError, ValueError, SyntaxError, RecursionError, tomllib.TOMLDecodeError, configparser.Error):
            continue
        if parser not in (_dockerfile, _go_main):
            manifests.append(rel)
        entry_points += found_eps
        dependencies += found_deps
    return entry_points, dependencies, manifests


_Found = tuple[list[dict[str, Any]], list[dict[str, Any]]]
_DEV_GROUPS = {"dev", "develop", "development", "test", "tests", "testing", "lint", "docs", "doc", "typing"}


def _dep(ecosystem: str, name: str, spec: Any, manifest: str, dev: bool) -> dict[str, Any]:
    return {"ecosystem": ecosystem, "name": name, "spec": str(spec).strip(), "manifest": manifest, "dev": dev}


def _ep(kind: str, name: str, path: str, target: Any = None) -> dict[str, Any]:
    return {"kind": kind, "name": name, "path": path, "target": None if target is None else str(target)}


def _pep508(manifest: str, requirements: Any, dev: bool) -> list[dict[str, Any]]:
    found = []
    for req in requirements if isinstance(requirements, list) else []:
        match = REQ_NAME.match(str(req))
        if match:
            found.append(_dep("pypi", match[1], match[3], manifest, dev))
    return found


def _scripts(manifest: str, kind: str, table: Any) -> list[dict[str, Any]]:
    items = table.items() if isinstance(table, dict) else []
    return [_ep(kind, str(name), manifest, target) for name, target in items]


def _pyproject(rel: str, text: str, present: set[str]) -> _Found:
    data = tomllib.loads(text)
    project, poetry = data.get("project", {}), data.get("tool", {}).get("poetry", {})
    eps = _scripts(rel, "console_script", project.get("scripts"))
    eps += _scripts(rel, "gui_script", project.get("gui-scripts")) + _scripts(
        rel, "console_script", poetry.get("scripts")
    )
    deps = _pep508(rel, project.get("dependencies"), False)
    for group, reqs in sorted(project.get("optional-dependencies", {}).items()):
        deps += _pep508(rel, reqs, group.lower() in _DEV_GROUPS)
    for reqs in data.get("dependency-groups", {}).values():
        deps += _pep508(rel, [r for r in reqs if isinstance(r, str)], True)
    tables = [(poetry.get("dependencies", {}), False), (poetry.get("dev-dependencies", {}), True)]
    tables += [(group.get("dependencies", {}), True) for group in poetry.get("group", {}).values()]
    for table, dev in tables:
        for name, spec in table.items():
            if name.lower() != "python":
                deps.append(_dep("pypi", name, _spec_of(spec), rel, dev))
    return eps, deps


def _spec_of(spec: Any) -> str:
    """A version spec from a string or a table (poetry, Cargo): its version, or where it comes from."""
    if not isinstance(spec, dict):
        return str(spec)
    for key in ("version", "git", "path", "url"):
        if key in spec:
            return str(spec[key]) if key == "version" else f"{key}:{spec[key]}"
    return "workspace" if spec.get("workspace") else ""


def _setup_cfg(rel: str, text: str, present: set[str]) -> _Found:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(text)
    lines = lambda sec, key: [v for v in cfg.get(sec, key, fallback="").splitlines() if v.strip()]  # noqa: E731
    deps = _pep508(rel, lines("options", "install_requires"), False)
    if cfg.has_section("options.extras_require"):
        for group in cfg.options("options.extras_require"):
            deps += _pep508(rel, lines("options.extras_require", group), group.lower() in _DEV_GROUPS)
    eps = []
    for key, kind in (("console_scripts", "console_script"), ("gui_scripts", "gui_script")):
        eps += _entry_lines(rel, kind, lines("options.entry_points", key))
    return eps, deps


def _entry_lines(rel: str, kind: str, lines: Any) -> list[dict[str, Any]]:
    """``name = module:function`` lines (setup.cfg, setup.py)."""
    found = []
    for line in lines if isinstance(lines, list) else []:
        name, sep, target = str(line).partition("=")
        if sep and name.strip():
            found.append(_ep(kind, name.strip(), rel, target.strip()))
    return found


def _setup_py(rel: str, text: str, present: set[str]) -> _Found:
    eps: list[dict[str, Any]] = []
    deps: list[dict[str, Any]] = []
    for node in ast.walk(ast.parse(text)):
        func = node.func if isinstance(node, ast.Call) else None
        if not (isinstance(func, ast.Name) and func.id == "setup") and not (
            isinstance(func, ast.Attribute) and func.attr == "setup"
        ):
            continue
        assert isinstance(node, ast.Call)
        for kw in node.keywords:
            try:
                value = ast.literal_eval(kw.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                continue
            if kw.arg == "install_requires":
                deps += _pep508(rel, value, False)
            elif kw.arg in ("tests_require", "extras_require"):
                groups = value.items() if isinstance(value, dict) else [("test", value)]
                for group, reqs in groups:
                    deps += _pep508(rel, reqs, kw.arg == "tests_require" or str(group).lower() in _DEV_GROUPS)
            elif kw.arg == "entry_points" and isinstance(value, dict):
                for key, kind in (("console_scripts", "console_script"), ("gui_scripts", "gui_script")):
                    eps += _entry_lines(rel, kind, value.get(key))
    return eps, deps


def _requirements(rel: str, text: str, present: set[str]) -> _Found:
    dev = bool(re.search(r"dev|test|lint|doc", PurePosixPath(rel).name))
    reqs = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")) and "://" not in line:
            reqs.append(line)
    return [], _pep508(rel, reqs, dev)


def _package_json(rel: str, text: str, present: set[str]) -> _Found:
    data = json.loads(text)
    if not isinstance(data, dict):
        return [], []
    name = str(data.get("name") or PurePosixPath(rel).parent.name or "package")
    eps = [_ep("npm_main", name, rel, data["main"])] if isinstance(data.get("main"), str) else []
    binaries = data.get("bin")
    eps += [_ep("npm_bin", name, rel, binaries)] if isinstance(binaries, str) else _scripts(rel, "npm_bin", binaries)
    scripts = data.get("scripts")
    if isinstance(scripts, dict) and isinstance(scripts.get("start"), str):
        eps.append(_ep("npm_start", name, rel, scripts["start"]))
    deps = []
    for key, dev in (("dependencies", False), ("optionalDependencies", False), ("devDependencies", True)):
        table = data.get(key)
        deps += [_dep("npm", n, s, rel, dev) for n, s in table.items()] if isinstance(table, dict) else []
    return eps, deps


def _go_mod(rel: str, text: str, present: set[str]) -> _Found:
    deps, in_block = [], False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if re.match(r"^require\s*\($", line):
            in_block = True
        elif in_block and line == ")":
            in_block = False
        elif in_block or line.startswith("require "):
            parts = line.removeprefix("require ").split()
            if len(parts) >= 2:
                deps.append(_dep("go", parts[0], parts[1], rel, False))
    return [], deps


def _go_main(rel: str, text: str, present: set[str]) -> _Found:
    if not re.search(r"^package main\b", text, re.M) or "func main()" not in text:
        return [], []
    folder = PurePosixPath(rel).parent
    return [_ep("go_main", folder.name if str(folder) != "." else "main", rel, None)], []


def _cargo(rel: str, text: str, present: set[str]) -> _Found:
    data = tomllib.loads(text)
    folder = PurePosixPath(rel).parent
    at = lambda p: str(folder / p) if str(folder) != "." else p  # noqa: E731
    package = str(data.get("package", {}).get("name", folder.name or "crate"))
    eps = [_ep("rust_bin", str(b.get("name", package)), rel, b.get("path")) for b in data.get("bin", [])]
    if not eps and at("src/main.rs") in present:
        eps.append(_ep("rust_bin", package, rel, at("src/main.rs")))
    prefix = at("src/bin/")
    eps += [_ep("rust_bin", p[len(prefix) : -3], rel, p) for p in sorted(present) if p.startswith(prefix)]
    tables = [(data, "dependencies", False), (data, "dev-dependencies", True), (data, "build-dependencies", False)]
    tables += [(data.get("workspace", {}), "dependencies", False)]
    for target in data.get("target", {}).values():
        tables += [(target, "dependencies", False), (target, "dev-dependencies", True)]
    deps = []
    for table, key, dev in tables:
        deps += [_dep("cargo", n, _spec_of(s), rel, dev) for n, s in table.get(key, {}).items()]
    return eps, deps


def _gemfile(rel: str, text: str, present: set[str]) -> _Found:
    deps, dev = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("group ") and line.endswith(" do"):
            dev = bool(re.search(r":(development|test)\b", line))
        elif line == "end":
            dev = False
        elif match := re.match(r"""gem\s+['"]([^'"]+)['"]((?:\s*,\s*['"][^'"]*['"])*)""", line):
            spec = ", ".join(re.findall(r"""['"]([^'"]*)['"]""", match[2]))
            deps.append(_dep("rubygems", match[1], spec, rel, dev or "group: :test" in line))
    return [], deps


def _composer(rel: str, text: str, present: set[str]) -> _Found:
    data = json.loads(text)
    deps = []
    for key, dev in (("require", False), ("require-dev", True)):
        table = data.get(key) if isinstance(data, dict) else None
        for name, spec in table.items() if isinstance(table, dict) else []:
            if name != "php" and not name.startswith(("ext-", "lib-")):
                deps.append(_dep("composer", name, spec, rel, dev))
    return [], deps


def _dockerfile(rel: str, text: str, present: set[str]) -> _Found:
    """The last ENTRYPOINT and the last CMD of a Dockerfile (continuation lines joined)."""
    last: dict[str, str] = {}
    for line in re.sub(r"\\\r?\n", " ", text).splitlines():
        match = re.match(r"\s*(ENTRYPOINT|CMD)\s+(.+)", line, re.I)
        if match:
            command = match[2].strip()
            try:
                parsed = json.loads(command)
                command = " ".join(map(str, parsed)) if isinstance(parsed, list) else command
            except ValueError:
                pass
            last[match[1].upper()] = command
    eps = []
    for key, kind in (("ENTRYPOINT", "docker_entrypoint"), ("CMD", "docker_cmd")):
        if key in last and last[key]:
            eps.append(_ep(kind, PurePosixPath(last[key].split()[0]).name, rel, last[key]))
    return eps, []


_PARSERS: dict[str, Any] = {
    "pyproject.toml": _pyproject,
    "setup.cfg": _setup_cfg,
    "setup.py": _setup_py,
    "package.json": _package_json,
    "go.mod": _go_mod,
    "Cargo.toml": _cargo,
    "Gemfile": _gemfile,
    "composer.json": _composer,
}

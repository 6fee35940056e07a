"""The explorer's repository map: counts, structure, entry points, manifests and git history, all static."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import git
import pytest

from workbench.audit.explorer import ExplorationCancelled, build_repo_map, count_lines, describe

ALICE = git.Actor("Alice", "alice@example.com")
BOB = git.Actor("Bob", "bob@example.com")

CLI_V1 = '# The demo command.\nimport sys\n\n\ndef main() -> int:\n    return 0\n\n\nif __name__ == "__main__":\n'
CLI_V1 += "    raise SystemExit(main())\n"
CLI_V2 = CLI_V1.replace("    return 0", '    print("hello")\n    return 0')
CLI_V3 = CLI_V2.replace('print("hello")', 'print("hello", sys.argv[1:])')
FILES = {
    "pyproject.toml": '[project]\nname = "demo"\ndependencies = ["requests>=2.31", "click"]\n\n'
    '[project.optional-dependencies]\ndev = ["pytest>=8"]\n\n[project.scripts]\ndemo = "demo.cli:main"\n',
    "demo/__init__.py": '"""Demo package."""\n',
    "demo/__main__.py": "from demo.cli import main\n\nmain()\n",
    "demo/cli.py": CLI_V1,
    "index.js": "// entry\nconst express = require('express');\n/* block\n   comment */\nmodule.exports = express;\n",
    "bin/cli.js": "#!/usr/bin/env node\nrequire('../index.js');\n",
    "package.json": '{\n  "name": "web",\n  "main": "index.js",\n  "bin": {"webcli": "bin/cli.js"},\n'
    '  "scripts": {"start": "node index.js"},\n  "dependencies": {"express": "^4.18.0"},\n'
    '  "devDependencies": {"jest": "^29.0.0"}\n}\n',
    "requirements.txt": "# pinned\nflask==3.0.0\n-r other.txt\nnumpy>=1.26 ; python_version >= '3.11'\n",
    "Dockerfile": 'FROM python:3.11\nCOPY . /app\nCMD ["python", "-m", "demo"]\n',
    "README.md": "# Demo\n\nA demo repository.\n",
    "node_modules/left-pad/index.js": "module.exports = 1;\n",
}


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def _commit(repo: git.Repo, files: dict[str, str | bytes], message: str, author: git.Actor, day: int) -> None:
    _write(Path(repo.working_tree_dir or "."), files)
    repo.index.add(list(files))
    date = f"2024-01-{day:02d}T12:00:00+0000"
    repo.index.commit(message, author=author, committer=author, author_date=date, commit_date=date)


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four commits by two authors; demo/cli.py changes in three of them."""
    root = tmp_path_factory.mktemp("demo")
    repo = git.Repo.init(root)
    _commit(repo, {**FILES, "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00binary"}, "Initial import", ALICE, 1)
    _commit(repo, {"demo/cli.py": CLI_V2}, "Say hello", BOB, 2)
    _commit(repo, {"demo/cli.py": CLI_V3}, "Echo the arguments", ALICE, 3)
    _commit(repo, {"README.md": FILES["README.md"] + "\nRun `demo`.\n"}, "Expand the README", ALICE, 4)
    return root


def test_counts_languages_and_lines_skipping_binaries_and_node_modules(demo_repo: Path) -> None:
    m = build_repo_map(demo_repo)
    assert (m["files"], m["lines"], m["code_lines"], m["binary_files"], m["truncated"]) == (11, 51, 34, 1, False)
    assert [(lang["language"], lang["files"], lang["lines"], lang["code_lines"]) for lang in m["languages"]] == [
        ("Python", 3, 15, 9),
        ("TOML", 1, 9, 7),
        ("JSON", 1, 8, 8),
        ("JavaScript", 2, 7, 4),
        ("Markdown", 1, 5, 3),
        ("Dockerfile", 1, 3, 3),
    ]
    assert m["languages"][0]["share"] == round(15 / 47, 4)
    assert m["skipped"] == [".git", "node_modules"]
    assert [(e["name"], e["type"], e["files"], e["lines"]) for e in m["structure"]] == [
        ("demo", "dir", 3, 15),
        ("pyproject.toml", "file", 1, 9),
        ("package.json", "file", 1, 8),
        ("README.md", "file", 1, 5),
        ("index.js", "file", 1, 5),
        ("requirements.txt", "file", 1, 4),
        ("Dockerfile", "file", 1, 3),
        ("bin", "dir", 1, 2),
        ("logo.png", "file", 1, 0),
    ]
    assert [(k["name"], k["lines"], k["language"]) for k in m["structure"][0]["children"]] == [
        ("cli.py", 11, "Python"),
        ("__main__.py", 3, "Python"),
        ("__init__.py", 1, "Python"),
    ]
    assert m["largest_files"][0] == {"file": "demo/cli.py", "lines": 11, "bytes": len(CLI_V3), "language": "Python"}
    assert (m["has_readme"], m["has_license"], m["has_ci"], m["tests"]["present"]) == (True, False, False, False)
    json.dumps(m)  # the map is JSON-serializable as it is


def test_finds_entry_points_and_dependencies_in_manifests(demo_repo: Path) -> None:
    m = build_repo_map(demo_repo, history=False)
    assert [(e["kind"], e["name"], e["path"], e["target"]) for e in m["entry_points"]] == [
        ("docker_cmd", "python", "Dockerfile", "python -m demo"),
        ("npm_main", "web", "package.json", "index.js"),
        ("npm_bin", "webcli", "package.json", "bin/cli.js"),
        ("npm_start", "web", "package.json", "node index.js"),
        ("console_script", "demo", "pyproject.toml", "demo.cli:main"),
        ("python_module", "demo", "demo/__main__.py", "python -m demo"),
        ("python_script", "cli", "demo/cli.py", None),
    ]
    assert [(d["ecosystem"], d["name"], d["spec"], d["manifest"], d["dev"]) for d in m["dependencies"]] == [
        ("npm", "express", "^4.18.0", "package.json", False),
        ("npm", "jest", "^29.0.0", "package.json", True),
        ("pypi", "requests", ">=2.31", "pyproject.toml", False),
        ("pypi", "click", "", "pyproject.toml", False),
        ("pypi", "pytest", ">=8", "pyproject.toml", True),
        ("pypi", "flask", "==3.0.0", "requirements.txt", False),
        ("pypi", "numpy", ">=1.26 ; python_version >= '3.11'", "requirements.txt", False),
    ]
    assert m["manifests"] == ["package.json", "pyproject.toml", "requirements.txt"]
    assert m["history"] is None


def test_history_counts_commits_authors_and_churn_hotspots(demo_repo: Path) -> None:
    h = build_repo_map(demo_repo)["history"]
    assert (h["commits"], h["analyzed"], h["shallow"], h["error"]) == (4, 4, False, None)
    assert (h["first"], h["last"]) == ("2024-01-01T12:00:00+00:00", "2024-01-04T12:00:00+00:00")
    assert h["authors"] == [{"name": "Alice", "commits": 3}, {"name": "Bob", "commits": 1}]
    assert h["hotspots"][:2] == [
        {"file": "demo/cli.py", "commits": 3, "added": 12, "deleted": 1},
        {"file": "README.md", "commits": 2, "added": 5, "deleted": 0},
    ]
    assert not any(s["file"].startswith("node_modules/") for s in h["hotspots"])  # not in the map: not a hotspot
    assert [r["subject"] for r in h["recent"]] == [
        "Expand the README",
        "Echo the arguments",
        "Say hello",
        "Initial import",
    ]
    assert "alice@example.com" not in json.dumps(h)


def test_shallow_clone_counts_only_the_fetched_commits(demo_repo: Path, tmp_path: Path) -> None:
    git.Repo.clone_from(f"file://{demo_repo}", tmp_path / "clone", depth=2)
    h = build_repo_map(tmp_path / "clone")["history"]
    assert (h["commits"], h["shallow"]) == (2, True)
    assert h["authors"] == [{"name": "Alice", "commits": 2}]
    # The boundary commit's diff is the whole tree, not churn: only the README edit counts.
    assert h["hotspots"] == [{"file": "README.md", "commits": 1, "added": 2, "deleted": 0}]


def test_folder_that_is_not_a_checkout_has_no_history_even_inside_a_repository(demo_repo: Path) -> None:
    m = build_repo_map(demo_repo / "demo")
    assert m["history"] is None
    assert m["files"] == 3
    assert "Not a git checkout" in describe(m)


def test_repository_without_commits_has_empty_history(tmp_path: Path) -> None:
    git.Repo.init(tmp_path)
    _write(tmp_path, {"main.go": "package main\n\nfunc main() {}\n"})
    m = build_repo_map(tmp_path)
    assert m["history"]["commits"] == 0
    assert m["entry_points"] == [{"kind": "go_main", "name": "main", "path": "main.go", "target": None}]


def test_git_runs_nothing_configured_by_the_repository_and_reads_quoted_paths(tmp_path: Path) -> None:
    repo = git.Repo.init(tmp_path)
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    with repo.config_writer() as cfg:
        for key in ("fsmonitor", "pager"):
            cfg.set_value("core", key, f"touch {marker}")
        cfg.set_value("diff", "external", f"touch {marker}")
        cfg.set_value("gpg", "program", f"touch {marker}")
        cfg.set_value("log", "showSignature", "true")
    _commit(repo, {'say "hi".txt': "one\n"}, "one", ALICE, 1)
    _commit(repo, {'say "hi".txt': "one\ntwo\n"}, "two", ALICE, 2)
    h = build_repo_map(tmp_path)["history"]
    assert h["error"] is None
    assert h["hotspots"] == [{"file": 'say "hi".txt', "commits": 2, "added": 2, "deleted": 0}]
    assert not marker.exists()


def test_other_ecosystems_are_parsed_without_running_anything(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "go.mod": "module example.com/tool\n\ngo 1.22\n\nrequire github.com/spf13/cobra v1.8.0\n\nrequire (\n"
            "\tgolang.org/x/sys v0.20.0 // indirect\n\tgithub.com/stretchr/testify v1.9.0\n)\n",
            "cmd/tool/main.go": "package main\n\nfunc main() {}\n",
            "Cargo.toml": '[package]\nname = "crab"\n\n[dependencies]\nserde = { version = "1.0" }\nanyhow = "1"\n\n'
            '[dev-dependencies]\nproptest = "1.4"\n',
            "src/main.rs": "fn main() {}\n",
            "Gemfile": 'source "https://rubygems.org"\ngem "rails", "~> 7.1"\ngroup :development, :test do\n'
            '  gem "rspec"\nend\n',
            "composer.json": '{"require": {"php": ">=8.1", "monolog/monolog": "^3.0"},'
            ' "require-dev": {"phpunit/phpunit": "^10"}}',
            "setup.cfg": "[options]\ninstall_requires =\n    attrs>=23\n[options.entry_points]\nconsole_scripts =\n"
            "    cfgtool = cfgpkg.main:run\n",
            "setup.py": 'import pathlib\npathlib.Path("EXECUTED").write_text("ran")\nfrom setuptools import setup\n'
            'setup(name="x", install_requires=["six>=1.16"], extras_require={"test": ["pytest"]},\n'
            '      entry_points={"console_scripts": ["pytool = pkg.cli:main"]})\n',
            "svc/pyproject.toml": '[tool.poetry]\nname = "svc"\n[tool.poetry.dependencies]\npython = "^3.11"\n'
            'fastapi = "^0.110"\n[tool.poetry.group.dev.dependencies]\nruff = {version = "^0.4"}\n'
            '[tool.poetry.scripts]\nsvc = "svc.main:run"\n',
            "tests/test_x.py": "def test_x():\n    assert True\n",
            "LICENSE": "MIT\n",
            ".github/workflows/ci.yml": "on: push\n",
        },
    )
    m = build_repo_map(tmp_path)
    assert not (tmp_path / "EXECUTED").exists()
    assert [(e["kind"], e["name"], e["path"], e["target"]) for e in m["entry_points"]] == [
        ("rust_bin", "crab", "Cargo.toml", "src/main.rs"),
        ("console_script", "cfgtool", "setup.cfg", "cfgpkg.main:run"),
        ("console_script", "pytool", "setup.py", "pkg.cli:main"),
        ("go_main", "tool", "cmd/tool/main.go", None),
        ("console_script", "svc", "svc/pyproject.toml", "svc.main:run"),
    ]
    assert {(d["ecosystem"], d["name"], d["spec"], d["manifest"], d["dev"]) for d in m["dependencies"]} == {
        ("cargo", "serde", "1.0", "Cargo.toml", False),
        ("cargo", "anyhow", "1", "Cargo.toml", False),
        ("cargo", "proptest", "1.4", "Cargo.toml", True),
        ("rubygems", "rails", "~> 7.1", "Gemfile", False),
        ("rubygems", "rspec", "", "Gemfile", True),
        ("composer", "monolog/monolog", "^3.0", "composer.json", False),
        ("composer", "phpunit/phpunit", "^10", "composer.json", True),
        ("go", "github.com/spf13/cobra", "v1.8.0", "go.mod", False),
        ("go", "golang.org/x/sys", "v0.20.0", "go.mod", False),
        ("go", "github.com/stretchr/testify", "v1.9.0", "go.mod", False),
        ("pypi", "attrs", ">=23", "setup.cfg", False),
        ("pypi", "six", ">=1.16", "setup.py", False),
        ("pypi", "pytest", "", "setup.py", True),
        ("pypi", "fastapi", "^0.110", "svc/pyproject.toml", False),
        ("pypi", "ruff", "^0.4", "svc/pyproject.toml", True),
    }
    assert m["tests"] == {"present": True, "dirs": ["tests"], "files": 1}
    assert (m["has_license"], m["has_ci"], m["ci"]) == (True, True, [".github/workflows/ci.yml"])


def test_describe_names_language_entry_points_hotspot_and_what_is_missing(demo_repo: Path) -> None:
    text = describe(build_repo_map(demo_repo))
    assert text.startswith("**What it is.** A Python repository (32% of the lines")
    assert "`demo` → `demo.cli:main`" in text
    assert "`demo/cli.py` (3 commits, +12/-1)" in text
    assert "4 commits in the history, 2024-01-01 to 2024-01-04, by 2 authors: Alice (3), Bob (1)." in text
    assert "No tests were found." in text and "No license file was found." in text
    assert "`demo/`: 3 files, 15 lines, mostly Python (a Python package)" in text
    assert "`node_modules`" in text and "1 binary file." in text
    assert text == describe(build_repo_map(demo_repo))  # deterministic


def test_walk_stops_at_max_files_and_on_cancel(demo_repo: Path) -> None:
    m = build_repo_map(demo_repo, max_files=3, history=False)
    assert (m["files"], m["truncated"]) == (3, True)
    assert "The walk stopped at 3 files" in describe(m)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExplorationCancelled):
        build_repo_map(demo_repo, cancel=cancel)


def test_count_lines_skips_blank_and_comment_lines() -> None:
    assert count_lines(b"int x; /* a */\n/* b\n c */ int y;\n\n// d\n", "C") == (5, 2)
    assert count_lines(b"# c\nx = 1\n\n", "Python") == (3, 1)
    assert count_lines(b"a\n\nb", None) == (3, 2)

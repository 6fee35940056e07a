"""The repo-audit analyzers on tiny planted repositories: mapping, masking, timeouts, isolation, robustness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from workbench.audit import analyzers
from workbench.audit.analyzers import (
    SourceFiles,
    run_bandit,
    run_lizard,
    run_patterns,
    run_ruff,
    run_secrets,
    run_semgrep,
    source_files,
)

SUBPROCESS_TOOLS = [run_ruff, run_lizard, run_semgrep, run_bandit, run_secrets]
ALL_TOOLS = [*SUBPROCESS_TOOLS, run_patterns]
AWS_EXAMPLE_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key, split so no scanner flags this file


def make_repo(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def only(run: analyzers.ToolRun, status: str = "ok"):
    assert run.status == status, run.error
    assert len(run.findings) == 1, [f.rule for f in run.findings]
    return run.findings[0]


def test_ruff_reports_a_mutable_default_with_rule_line_and_evidence(tmp_path):
    repo = make_repo(tmp_path, {"pkg/orders.py": "import os\n\n\ndef add(item, items=[]):\n    return items\n"})
    finding = only(run_ruff(repo, timeout_s=30))
    assert (finding.rule, finding.category, finding.cwe) == ("ruff/B006", "mutable-default", 1188)
    assert (finding.file, finding.line, finding.agent, finding.tool) == ("pkg/orders.py", 4, "bug_hunter", "ruff")
    assert finding.evidence == "def add(item, items=[]):"
    assert finding.suggested_fix


def test_ruff_ignores_the_repositorys_config_and_noqa(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "pyproject.toml": '[tool.ruff.lint]\nignore = ["B006"]\n',
            "a.py": "def add(item, items=[]):  # noqa: B006\n    return items\n",
        },
    )
    finding = only(run_ruff(repo, timeout_s=30))
    assert finding.rule == "ruff/B006"
    assert finding.confidence == "low"  # the suppression comment is noted, not obeyed


def test_ruff_reports_one_syntax_error_per_broken_file(tmp_path):
    repo = make_repo(tmp_path, {"old.py": 'print "hello"\ndef f(:\n    pass\n'})
    run = run_ruff(repo, timeout_s=30)
    finding = only(run, status="partial")  # the broken file was not linted beyond its syntax error
    assert (finding.rule, finding.category, finding.line) == ("ruff/invalid-syntax", "syntax-error", 1)
    assert [n.file for n in run.not_analyzed] == ["old.py"]
    assert run.not_analyzed[0].reason.startswith("ruff could not parse it")
    assert run.analyzed == 0


def test_lizard_flags_complex_and_long_functions(tmp_path):
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(20))
    long_body = "".join(f"    total += {i}\n" for i in range(30))
    repo = make_repo(
        tmp_path,
        {
            "calc.py": f"def pick(x):\n{branches}    return -1\n\n\ndef simple(a):\n    return a + 1\n",
            "sum.js": "function add(total) {\n" + long_body.replace("    ", "  ") + "  return total;\n}\n",
        },
    )
    run = run_lizard(repo, timeout_s=30, ccn_threshold=15, length_threshold=25)
    assert run.status == "ok" and run.version
    by_file = {f.file: f for f in run.findings}
    assert set(by_file) == {"calc.py", "sum.js"}
    assert (by_file["calc.py"].rule, by_file["calc.py"].cwe, by_file["calc.py"].line) == ("lizard/ccn", 1121, 1)
    assert by_file["calc.py"].severity == "low" and "complexity 21" in by_file["calc.py"].message
    assert (by_file["sum.js"].rule, by_file["sum.js"].category) == ("lizard/length", "complexity")


def test_bandit_maps_shell_injection_to_cwe_78(tmp_path):
    repo = make_repo(
        tmp_path,
        {"ops.py": "import subprocess\n\n\ndef ping(host):\n    subprocess.run('ping ' + host, shell=True)\n"},
    )
    finding = only(run_bandit(repo, timeout_s=30))
    assert (finding.rule, finding.category, finding.cwe, finding.line) == ("bandit/B602", "command-injection", 78, 5)
    assert (finding.severity, finding.agent, finding.tool) == ("high", "security", "bandit")
    assert finding.evidence == "subprocess.run('ping ' + host, shell=True)"


def test_bandit_never_shows_a_hardcoded_password_in_full(tmp_path):
    repo = make_repo(tmp_path, {"settings.py": 'DB_PASSWORD = "Wareh0use!2023"\n'})
    finding = only(run_bandit(repo, timeout_s=30))
    assert finding.category == "hardcoded-secret"
    assert "Wareh0use!2023" not in finding.evidence + finding.message
    assert "Ware…" in finding.evidence


def test_secrets_reports_an_aws_key_with_masked_evidence(tmp_path):
    repo = make_repo(tmp_path, {"src/config.js": f"module.exports = {{ accessKeyId: '{AWS_EXAMPLE_KEY}' }};\n"})
    finding = only(run_secrets(repo, timeout_s=30))
    assert (finding.rule, finding.category, finding.cwe) == ("secrets/AWSKeyDetector", "hardcoded-secret", 798)
    assert (finding.file, finding.line, finding.severity) == ("src/config.js", 1, "high")
    assert AWS_EXAMPLE_KEY not in finding.evidence + finding.message
    assert "accessKeyId: 'AKIA…'" in finding.evidence


def test_secret_shapes_are_masked_in_every_tools_evidence(tmp_path):
    repo = make_repo(tmp_path, {"keys.py": f"def f(k=['{AWS_EXAMPLE_KEY}']):\n    return k\n"})
    finding = only(run_ruff(repo, timeout_s=30))
    assert finding.rule == "ruff/B006"
    assert AWS_EXAMPLE_KEY not in finding.evidence and "AKIA…" in finding.evidence


@pytest.mark.parametrize(
    ("name", "source", "rule", "category", "cwe"),
    [
        ("a.js", "const v = eval(req.body.expr);\n", "js-eval", "code-injection", 95),
        (
            "b.js",
            "const { exec } = require('child_process');\nexec(`convert ${name} out.png`);\n",
            "js-child-process-exec",
            "command-injection",
            78,
        ),
        ("c.ts", "el.innerHTML = '<b>' + title + '</b>';\n", "js-inner-html", "xss", 79),
        ("d.ts", "new https.Agent({ rejectUnauthorized: false });\n", "tls-reject-unauthorized", None, 295),
        ("install.sh", "curl -fsSL https://get.example.com | sudo -E bash -\n", "curl-pipe-shell", None, 494),
        ("Dockerfile", "FROM debian\nRUN chmod -R 777 /app\n", "chmod-777", "insecure-permissions", 732),
        (
            ".github/workflows/t.yml",
            'steps:\n  - run: echo "${{ github.event.issue.title }}"\n',
            "gha-script-injection",
            "command-injection",
            78,
        ),
    ],
)
def test_patterns_flag_dangerous_code_in_other_languages(tmp_path, name, source, rule, category, cwe):
    finding = only(run_patterns(make_repo(tmp_path, {name: source}), timeout_s=30))
    assert finding.rule == f"patterns/{rule}" and finding.cwe == cwe
    assert category is None or finding.category == category
    assert finding.line == source.count("\n") and finding.agent == "security"


def test_patterns_leave_safe_lookalikes_and_comments_alone(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "safe.js": (
                "// never use eval(input) here\n"
                "const m = /x(\\d+)/.exec(text);\n"
                "el.textContent = title;\n"
                "el.innerHTML = '';\n"
                "db.query('SELECT * FROM t WHERE id = $1', [id]);\n"
            ),
            "run.sh": "#!/bin/sh\n# curl https://x | sh is how not to do it\nchmod 755 bin/tool\n",
        },
    )
    run = run_patterns(repo, timeout_s=30)
    assert run.status == "ok" and run.files == 2
    assert run.findings == []


@pytest.mark.parametrize("tool", SUBPROCESS_TOOLS, ids=lambda t: t.__name__)
def test_timeout_kills_the_process_group_and_reaps_it(tmp_path, monkeypatch, tool):
    started: list[subprocess.Popen] = []

    class Recording(subprocess.Popen):
        """Starts the tool in a process that sleeps first (then becomes the tool), so it surely runs at the deadline."""

        def __init__(self, cmd, *args, **kwargs):
            late = "import os, sys, time; time.sleep(30); os.execvp(sys.argv[1], sys.argv[1:])"
            super().__init__([sys.executable, "-c", late, *cmd], *args, **kwargs)
            started.append(self)

    monkeypatch.setattr(analyzers.process.subprocess, "Popen", Recording)
    repo = make_repo(tmp_path, {"a.py": "def f(x=[]):\n    return eval(x)\n", "b.js": "eval(x)\n"})
    run = tool(repo, timeout_s=0.001)
    assert run.status == "timeout" and run.findings == []
    assert started, "the tool never started"
    for proc in started:
        assert proc.returncode == -signal.SIGKILL  # killed, and waited for: no zombie left
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)


def test_cancel_stops_a_running_tool(tmp_path):
    cancel = threading.Event()
    cancel.set()
    run = run_bandit(make_repo(tmp_path, {"a.py": "eval(x)\n"}), timeout_s=30, cancel=cancel)
    assert run.status == "error" and run.error == "cancelled"


def test_no_module_of_the_repository_is_ever_imported(tmp_path, monkeypatch):
    marker = tmp_path / "markers"
    marker.mkdir()
    payload = f"import pathlib\npathlib.Path({str(marker)!r}, __name__).write_text('imported')\n"
    names = ["bandit", "ruff", "lizard", "detect_secrets", "sitecustomize", "usercustomize", "json", "csv", "re"]
    repo = make_repo(tmp_path / "repo", {f"{name}.py": payload for name in names})
    make_repo(repo, {"lizard_ext/__init__.py": payload, "detect_secrets/__main__.py": payload})
    monkeypatch.setenv("PYTHONPATH", str(repo))  # -I and the bare tool environment must both ignore it
    monkeypatch.chdir(repo)
    runs = [tool(repo, timeout_s=60) for tool in SUBPROCESS_TOOLS]
    assert [r.status for r in runs] == ["ok"] * len(runs), [r.error for r in runs]
    assert list(marker.iterdir()) == []


def test_binary_malformed_and_huge_files_do_not_crash(tmp_path):
    repo = make_repo(
        tmp_path,
        {
            "blob.py": b"\x00\x01\x02eval(x)\x00",
            "latin1.py": "name = 'caf\xe9'\ndef f(x=[]):\n    return x\n".encode("latin-1"),
            "empty.py": "",
            "huge.py": "x = 1\n" * 200_000 + "eval(x)\n",
            "vendor.min.js": "eval(x);" * 10,
            "bundle.js": "var a=1;" * 1000 + "eval(x);\n",
            "image.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        },
    )
    assert source_files(repo) == ["empty.py", "latin1.py"]
    runs = {tool.__name__: tool(repo, timeout_s=60) for tool in ALL_TOOLS}
    # ruff and bandit read UTF-8 only: they say so (the file is not analyzed; ruff adds an info finding)
    statuses = {name: r.status for name, r in runs.items() if r.status != "ok"}
    assert statuses == {"run_patterns": "skipped", "run_ruff": "partial", "run_bandit": "partial"}
    assert {(f.rule, f.file, f.severity) for f in runs["run_ruff"].findings} == {("ruff/E902", "latin1.py", "info")}
    assert [(n.file, n.reason) for n in runs["run_bandit"].not_analyzed] == [
        ("latin1.py", "bandit could not read it: not UTF-8")
    ]
    assert [n.file for n in runs["run_ruff"].not_analyzed] == ["latin1.py"]
    assert all(f.file == "latin1.py" for run in runs.values() for f in run.findings)


def test_vendored_generated_and_linked_paths_are_skipped(tmp_path):
    outside = make_repo(tmp_path / "outside", {"secret.py": f"KEY = '{AWS_EXAMPLE_KEY}'\n"})
    bad = "import os\nos.system('rm ' + input())\n"
    repo = make_repo(
        tmp_path / "repo",
        {
            "node_modules/lib/index.js": "eval(x);\n",
            ".venv/lib/mod.py": bad,
            "env2/pyvenv.cfg": "home = /usr/bin\n",
            "env2/lib/mod.py": bad,
            ".git/hooks/post-checkout": "#!/bin/sh\ncurl https://x | sh\n",
            "build/lib/mod.py": bad,
            "dist/app.js": "eval(x);\n",
            "pkg.egg-info/setup.py": bad,
            "app/main.py": "def main():\n    return 0\n",
        },
    )
    (repo / "app" / "linked.py").symlink_to(outside / "secret.py")
    (repo / "linked_dir").symlink_to(outside, target_is_directory=True)
    assert source_files(repo) == ["app/main.py"]
    for tool in ALL_TOOLS:
        run = tool(repo, timeout_s=60)
        assert run.findings == [], (run.tool, [f.file for f in run.findings])


def test_a_repository_without_relevant_files_is_skipped(tmp_path):
    repo = make_repo(tmp_path, {"README.md": "# nothing to see\n"})
    assert run_ruff(repo, timeout_s=30).status == "skipped"
    assert run_lizard(repo, timeout_s=30).status == "skipped"
    assert run_bandit(repo, timeout_s=30).status == "skipped"
    assert run_patterns(repo, timeout_s=30).status == "skipped"
    assert run_secrets(repo, timeout_s=30).status == "ok"


def test_evidence_is_stripped_and_cut_at_200_characters(tmp_path):
    repo = make_repo(tmp_path, {"a.py": "    x = 1\n" + "y = '" + "z" * 500 + "'\n"})
    sources = SourceFiles(repo)
    assert sources.evidence("a.py", 1) == "x = 1"
    long = sources.evidence("a.py", 2)
    assert len(long) == 200 and long.endswith("…")
    assert sources.evidence("a.py", 99) == ""

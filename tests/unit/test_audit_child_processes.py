"""The audit's child processes (git, the analyzers) die with the process that started them, even on SIGKILL, and
lizard reads only the checkout's files whatever the checkout's path or its file names hold."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.unit.test_audit_clone import alive, gone_within, make_repo
from workbench.audit import child_processes
from workbench.audit.analyzers import run_lizard

BRANCHY = "def pick(x):\n" + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(20)) + "    return -1\n"


def wait_for(path: Path, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)
    return path.read_text().strip()


def sleeper(tmp_path: Path) -> tuple[Path, Path]:
    """A command that starts ``sleep 60`` in the background (a grandchild) and waits; its pid file."""
    pid_file = tmp_path / "sleeper.pid"
    script = tmp_path / "sleeper"
    script.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {shlex.quote(str(pid_file))}\nwait\n")
    script.chmod(0o755)
    return script, pid_file


PARENTS = {
    "spawn": """
        import subprocess, sys, time
        from workbench.audit import child_processes
        child_processes.spawn([sys.argv[1]], stdin=subprocess.DEVNULL)
        time.sleep(120)
    """,
    "clone": """
        import sys, git
        from pathlib import Path
        from workbench.audit.clone import clone
        from workbench.audit.safety import check_target
        from workbench.settings import Settings
        git.Git.GIT_PYTHON_GIT_EXECUTABLE = sys.argv[1]  # a git whose clone hangs in a grandchild
        root = Path(sys.argv[2])
        settings = Settings(_env_file=None, home=root.parent / "home", audit_allowed_roots=[root])
        clone(check_target(str(root / "repo"), settings), root.parent / "checkout", settings)
    """,
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("how", sorted(PARENTS))
def test_a_killed_parent_leaves_no_child_running(how: str, tmp_path: Path) -> None:
    script, pid_file = sleeper(tmp_path)
    make_repo(tmp_path / "root" / "repo")
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENTS[how]), str(script), str(tmp_path / "root")],
        cwd=Path(__file__).parents[2],
    )
    try:
        grandchild = int(wait_for(pid_file))
        assert alive(grandchild)
        parent.send_signal(signal.SIGKILL)  # no cleanup code of the parent can run
        parent.wait()
        assert gone_within(grandchild, 10.0), "the grandchild outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if pid_file.exists() and alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_kill_reaches_what_a_finished_command_left_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "left.pid"
    process = child_processes.spawn(
        ["/bin/sh", "-c", f"sleep 60 >/dev/null 2>&1 & echo $! > {shlex.quote(str(pid_file))}"],
        stdin=subprocess.DEVNULL,
    )
    left = int(wait_for(pid_file))
    deadline = time.monotonic() + 30
    while child_processes.running(process):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert alive(left)
    assert child_processes.kill(process) == 0
    assert gone_within(left)


def test_lizard_reads_nothing_outside_a_checkout_whose_path_holds_a_line_break(tmp_path: Path) -> None:
    """Listed one per line, ``<checkout>/calc.py`` would read as two paths, the second one a fifo outside: a
    tool that opened it would block until its time limit."""
    (tmp_path / "outside").mkdir()
    os.mkfifo(tmp_path / "outside" / "calc.py")
    checkout = Path(f"{tmp_path}/a\n{tmp_path}/outside")
    checkout.mkdir(parents=True)
    (checkout / "calc.py").write_text(BRANCHY)
    run = run_lizard(checkout, timeout_s=30)
    assert run.status == "ok", run.error
    assert [(f.file, f.rule) for f in run.findings] == [("calc.py", "lizard/ccn")]


def test_lizard_takes_file_names_with_dashes_and_line_breaks_as_names(tmp_path: Path) -> None:
    (tmp_path / "-x").mkdir()
    (tmp_path / "-x" / "--version.py").write_text(BRANCHY)
    (tmp_path / "odd\nname").mkdir()
    (tmp_path / "odd\nname" / "calc.py").write_text(BRANCHY)
    run = run_lizard(tmp_path, timeout_s=30)
    assert [(f.file, f.rule) for f in run.findings] == [("-x/--version.py", "lizard/ccn")]
    assert [n.file for n in run.not_analyzed] == ["odd\nname/calc.py"]
    assert run.status == "partial" and run.analyzed == 1

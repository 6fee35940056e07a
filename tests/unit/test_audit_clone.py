"""Audit checkouts with real git on local repositories: shallow, bounded, hook-free, symlink-free, cleaned up."""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import threading
import time
from pathlib import Path

import git
import pytest

from workbench.audit.clone import Checkout, CloneError, clone, remove_checkout
from workbench.audit.safety import TargetError, check_target
from workbench.settings import Settings

GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def run_git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "protocol.file.allow=always", *args]
    return subprocess.run(command, cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, commits: int = 1, files: dict[str, str | bytes] | None = None) -> Path:
    """A git repository at ``path`` with ``files`` in its first commit and ``commits`` commits in all."""
    path.mkdir(parents=True)
    run_git(path, "init", "-q", "-b", "main")
    for name, content in (files or {"README.md": "# demo\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(content.encode() if isinstance(content, str) else content)
    for number in range(commits):
        (path / "history.txt").write_text(f"commit {number}\n")
        run_git(path, "add", "-A")
        run_git(path, "commit", "-qm", f"commit {number}")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    return tmp_path / "root"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, home=tmp_path / "home", audit_allowed_roots=[tmp_path / "root"], **overrides)


def checkout_of(source: Path, tmp_path: Path, **overrides: object) -> Checkout:
    settings = make_settings(tmp_path, **overrides)
    return clone(check_target(str(source), settings), tmp_path / "checkout", settings)


def symlinks_under(path: Path) -> list[Path]:
    return [
        Path(folder, name)
        for folder, dirs, files in os.walk(path)
        for name in dirs + files
        if Path(folder, name).is_symlink()
    ]


def test_clone_is_shallow_and_counted(root: Path, tmp_path: Path) -> None:
    source = make_repo(root / "repo", commits=5, files={"src/app.py": "print('hi')\n", "README.md": "# r\n"})
    checkout = checkout_of(source, tmp_path, audit_clone_depth=2)
    assert checkout.source == "git"
    assert checkout.commit == run_git(source, "rev-parse", "HEAD")
    assert checkout.shallow and checkout.history_depth == 2
    assert checkout.files == 3  # app.py, README.md, history.txt
    assert checkout.bytes == len("print('hi')\n") + len("# r\n") + len("commit 4\n")
    assert (checkout.path / "src" / "app.py").read_text() == "print('hi')\n"
    assert not (checkout.path / ".git" / "hooks").exists()  # no templates copied


def test_full_history_when_depth_exceeds_it(root: Path, tmp_path: Path) -> None:
    checkout = checkout_of(make_repo(root / "repo", commits=3), tmp_path, audit_clone_depth=50)
    assert checkout.history_depth == 3


def test_hooks_from_the_repository_or_the_machine_never_run(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "hook-ran"
    hook = f"#!/bin/sh\ntouch {shlex.quote(str(marker))}\n"
    source = make_repo(root / "repo", files={".githooks/post-checkout": hook})
    run_git(source, "config", "core.hooksPath", ".githooks")
    hooks = tmp_path / "global-hooks"
    hooks.mkdir()
    (hooks / "post-checkout").write_text(hook)
    (hooks / "post-checkout").chmod(0o755)
    global_config = tmp_path / "gitconfig"
    global_config.write_text(f"[core]\n\thooksPath = {hooks}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    # Control: a plain clone in this environment does run the machine's hook.
    subprocess.run(["git", "clone", "-q", str(source), str(tmp_path / "plain")], check=True)
    assert marker.exists()
    marker.unlink()

    checkout = checkout_of(source, tmp_path)
    assert (checkout.path / ".githooks" / "post-checkout").is_file()
    assert not marker.exists()


def test_symlinks_never_survive_the_clone(root: Path, tmp_path: Path) -> None:
    source = make_repo(root / "repo", files={"real.txt": "data\n"})
    (source / "passwd").symlink_to("/etc/passwd")
    (source / "up").symlink_to("../../outside")
    (source / "etc").symlink_to("/etc")
    run_git(source, "add", "-A")
    run_git(source, "commit", "-qm", "links")
    checkout = checkout_of(source, tmp_path)
    assert checkout.symlinks_removed == 3
    for name in ("passwd", "up", "etc"):
        assert not os.path.lexists(checkout.path / name)
    assert symlinks_under(checkout.path) == []
    assert (checkout.path / "real.txt").read_text() == "data\n"


def test_submodules_are_not_fetched(root: Path, tmp_path: Path) -> None:
    library = make_repo(root / "library", files={"lib.py": "SECRET = 1\n"})
    source = make_repo(root / "repo")
    run_git(source, "submodule", "add", "-q", str(library), "vendor/lib")
    run_git(source, "commit", "-qm", "add submodule")
    checkout = checkout_of(source, tmp_path)
    assert (checkout.path / ".gitmodules").is_file()
    assert not (checkout.path / "vendor" / "lib" / "lib.py").exists()
    submodule = checkout.path / "vendor" / "lib"
    assert not submodule.exists() or not any(submodule.iterdir())


def test_too_many_files_is_refused_and_removed(root: Path, tmp_path: Path) -> None:
    source = make_repo(root / "repo", files={f"f{n}.txt": str(n) for n in range(10)})
    with pytest.raises(CloneError) as failed:
        checkout_of(source, tmp_path, audit_max_files=3)
    assert failed.value.code == "too_many_files"
    assert not (tmp_path / "checkout").exists()


def test_too_large_is_refused_and_removed(root: Path, tmp_path: Path) -> None:
    source = make_repo(root / "repo", files={"blob.bin": random.Random(0).randbytes(300_000)})
    with pytest.raises(CloneError) as failed:
        checkout_of(source, tmp_path, audit_max_repo_bytes=100_000)
    assert failed.value.code == "repo_too_large"
    assert not (tmp_path / "checkout").exists()


def test_timeout_is_reported_and_removed(root: Path, tmp_path: Path) -> None:
    source = make_repo(root / "repo")
    with pytest.raises(CloneError) as failed:
        checkout_of(source, tmp_path, audit_clone_timeout_s=1e-6)
    assert failed.value.code == "clone_timeout"
    assert not (tmp_path / "checkout").exists()


def test_cancelled_before_start_runs_nothing(root: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CloneError) as failed:
        clone(check_target(str(make_repo(root / "repo")), settings), tmp_path / "checkout", settings, cancel=cancel)
    assert failed.value.code == "cancelled"
    assert not (tmp_path / "checkout").exists()


@pytest.fixture
def hanging_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GitPython's executable replaced by one whose clone hangs in a grandchild; returns the grandchild's pid file."""
    pid_file = tmp_path / "sleeper.pid"
    fake = tmp_path / "hanging-git"
    fake.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {shlex.quote(str(pid_file))}\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setattr(git.Git, "GIT_PYTHON_GIT_EXECUTABLE", str(fake))
    return pid_file


def gone_within(pid: int, seconds: float = 2.0) -> bool:
    """SIGKILL is delivered asynchronously: give the kernel a moment to end a killed grandchild."""
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in {"Z", "X"}
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    ("code", "timeout_s", "cancel_after_s"), [("clone_timeout", 0.3, None), ("cancelled", 60, 0.3)]
)
def test_hanging_clone_is_killed_with_its_process_group(
    code: str, timeout_s: float, cancel_after_s: float | None, root: Path, tmp_path: Path, hanging_git: Path
) -> None:
    settings = make_settings(tmp_path, audit_clone_timeout_s=timeout_s)
    target = check_target(str(make_repo(root / "repo")), settings)
    cancel = threading.Event()
    if cancel_after_s:
        threading.Timer(cancel_after_s, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(CloneError) as failed:
        clone(target, tmp_path / "checkout", settings, cancel=cancel)
    assert failed.value.code == code
    assert time.monotonic() - started < 5
    assert gone_within(int(hanging_git.read_text()))
    assert not (tmp_path / "checkout").exists()


def test_plain_directory_is_copied_without_links_git_or_special_files(root: Path, tmp_path: Path) -> None:
    source = root / "plain"
    (source / "pkg" / "nested" / ".git").mkdir(parents=True)
    (source / "pkg" / "nested" / ".git" / "config").write_text("[core]\n")
    (source / "pkg" / "mod.py").write_text("x = 1\n")
    (source / "notes.md").write_text("hello\n")
    (source / "passwd").symlink_to("/etc/passwd")
    (source / "pkg" / "etc").symlink_to("/etc")
    os.mkfifo(source / "pipe")
    checkout = checkout_of(source, tmp_path)
    assert (checkout.source, checkout.commit, checkout.history_depth, checkout.shallow) == ("copy", None, 0, False)
    assert (checkout.files, checkout.bytes) == (2, len("x = 1\n") + len("hello\n"))
    assert checkout.symlinks_removed == 2
    assert sorted(str(p.relative_to(checkout.path)) for p in checkout.path.rglob("*")) == [
        "notes.md",
        "pkg",
        "pkg/mod.py",
        "pkg/nested",
    ]


def test_plain_directory_copy_is_bounded(root: Path, tmp_path: Path) -> None:
    source = root / "plain"
    source.mkdir()
    for n in range(5):
        (source / f"f{n}.txt").write_bytes(b"x" * 40_000)
    with pytest.raises(CloneError) as failed:
        checkout_of(source, tmp_path, audit_max_files=3)
    assert failed.value.code == "too_many_files"
    with pytest.raises(CloneError) as failed:
        checkout_of(source, tmp_path, audit_max_repo_bytes=100_000)
    assert failed.value.code == "repo_too_large"
    assert not (tmp_path / "checkout").exists()


def test_ref_selects_a_branch_or_tag(root: Path, tmp_path: Path) -> None:
    source = make_repo(root / "repo")
    run_git(source, "tag", "v1")
    run_git(source, "checkout", "-q", "-b", "feature")
    (source / "feature.py").write_text("NEW = True\n")
    run_git(source, "add", "-A")
    run_git(source, "commit", "-qm", "feature")
    run_git(source, "checkout", "-q", "main")
    settings = make_settings(tmp_path)
    target = check_target(str(source), settings)

    feature = clone(target, tmp_path / "feature", settings, ref="feature")
    assert (feature.ref, feature.commit) == ("feature", run_git(source, "rev-parse", "feature"))
    assert (feature.path / "feature.py").exists()
    tagged = clone(target, tmp_path / "tagged", settings, ref="v1")
    assert tagged.commit == run_git(source, "rev-parse", "v1^{commit}")
    assert not (tagged.path / "feature.py").exists()


def test_unknown_ref_is_reported_and_removed(root: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(CloneError) as failed:
        clone(check_target(str(make_repo(root / "repo")), settings), tmp_path / "checkout", settings, ref="nope")
    assert failed.value.code == "ref_not_found"
    assert not (tmp_path / "checkout").exists()


def test_ref_on_a_plain_directory_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "plain").mkdir()
    settings = make_settings(tmp_path)
    with pytest.raises(CloneError) as failed:
        clone(check_target(str(root / "plain"), settings), tmp_path / "checkout", settings, ref="main")
    assert failed.value.code == "ref_not_found"


def test_existing_destination_is_left_alone(root: Path, tmp_path: Path) -> None:
    (tmp_path / "checkout").mkdir()
    (tmp_path / "checkout" / "keep.txt").write_text("mine")
    with pytest.raises(CloneError) as failed:
        checkout_of(make_repo(root / "repo"), tmp_path)
    assert failed.value.code == "clone_failed"
    assert (tmp_path / "checkout" / "keep.txt").read_text() == "mine"


def test_destination_inside_the_source_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "plain").mkdir()
    settings = make_settings(tmp_path)
    with pytest.raises(CloneError) as failed:
        clone(check_target(str(root / "plain"), settings), root / "plain" / "copy", settings)
    assert failed.value.code == "clone_failed"


def test_remove_checkout_deletes_read_only_trees(root: Path, tmp_path: Path) -> None:
    checkout = checkout_of(make_repo(root / "repo"), tmp_path)
    for folder, _, files in os.walk(checkout.path):
        for name in files:
            Path(folder, name).chmod(0o444)
    (checkout.path / "src").mkdir()
    (checkout.path / "src").chmod(0o555)
    remove_checkout(checkout.path)
    assert not checkout.path.exists()
    remove_checkout(checkout.path)  # already gone: fine


def test_clone_refuses_targets_outside_roots(tmp_path: Path) -> None:
    source = make_repo(tmp_path / "elsewhere")
    with pytest.raises(TargetError) as refused:
        checkout_of(source, tmp_path)
    assert refused.value.code == "path_not_allowed"


def test_url_clone_runs_isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network here: a stand-in git records how it was called and fails like an unreachable host."""
    fake = tmp_path / "recording-git"
    fake.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\nenv > {tmp_path}/env\n'
        'echo "fatal: unable to access host" >&2\nexit 128\n'
    )
    fake.chmod(0o755)
    monkeypatch.setattr(git.Git, "GIT_PYTHON_GIT_EXECUTABLE", str(fake))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    settings = make_settings(tmp_path, audit_clone_depth=7)
    with pytest.raises(CloneError) as failed:
        clone(check_target("https://github.com/psf/requests", settings), tmp_path / "checkout", settings)
    assert failed.value.code == "clone_failed"
    assert "unable to access host" in failed.value.message
    args = (tmp_path / "args").read_text().splitlines()
    for setting in (
        "protocol.allow=never",
        "protocol.https.allow=always",
        "http.followRedirects=false",
        f"core.hooksPath={os.devnull}",
        "core.symlinks=false",
        "credential.helper=",
    ):
        assert args[args.index(setting) - 1] == "-c"
    assert {"--depth=7", "--single-branch", "--no-recurse-submodules", "--template="} <= set(args)
    assert args[-3:] == ["--", "https://github.com/psf/requests", str(tmp_path / "checkout")]
    env = dict(line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line)
    assert env["GIT_ALLOW_PROTOCOL"] == "https"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull
    assert env["HOME"] != os.environ.get("HOME")
    assert "GIT_DIR" not in env
    assert not (tmp_path / "checkout").exists()

"""Audit targets: hostile values are refused with the right code before any git process starts."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from workbench.audit.clone import clone
from workbench.audit.git_source import scratch_for
from workbench.audit.safety import ROOTS_ENV, Target, TargetError, check_ref, check_target
from workbench.settings import Settings

GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "repo").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return tmp_path / "root"


@pytest.fixture
def settings(tmp_path: Path, root: Path) -> Settings:
    return Settings(_env_file=None, home=tmp_path / "home", audit_allowed_roots=[root])


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fake ``git``, first on PATH and GitPython's executable, that records every call, then runs the real one."""
    real = shutil.which("git")
    assert real
    marker = tmp_path / "canary"
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(marker))}\nexec {shlex.quote(real)} "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GIT_PYTHON_GIT_EXECUTABLE", str(fake))
    git.refresh(str(fake))  # runs `git version` through the fake
    marker.unlink()
    yield marker
    monkeypatch.undo()
    git.refresh()


HOSTILE = [
    ("ext::sh -c touch% /tmp/x", "unsupported_scheme"),
    ("fd::17", "unsupported_scheme"),
    ("ext%3a%3ash -c touch% /tmp/x", "unsupported_scheme"),
    ("file:///etc", "path_not_allowed"),
    ("file://evil.example.com/etc", "invalid_target"),
    ("-u evil", "option_injection"),
    ("--upload-pack=touch /tmp/x", "option_injection"),
    ("%2d%2dupload-pack=touch%20/tmp/x", "option_injection"),
    ("ssh://-oProxyCommand=touch%20/tmp/x/repo", "unsupported_scheme"),
    ("git@github.com:org/repo.git", "unsupported_scheme"),
    ("github.com:org/repo", "unsupported_scheme"),
    ("http://github.com/a/b", "unsupported_scheme"),
    ("git://github.com/a/b", "unsupported_scheme"),
    ("https://user:pw@github.com/a/b", "credentials_in_url"),
    ("https://ghp_token@github.com/a/b", "credentials_in_url"),
    ("https://evil.example.com/a/b", "host_not_allowed"),
    ("https://github.com.evil.com/a/b", "host_not_allowed"),
    ("https://github.com:22/a/b", "host_not_allowed"),
    ("https://127.0.0.1/a/b", "host_not_allowed"),
    ("https://[::1]/a/b", "host_not_allowed"),
    ("https://github.com/-oops/b", "option_injection"),
    ("https://github.com/%2doops/b", "option_injection"),
    ("https://github.com/a/b\n--upload-pack=touch /tmp/x", "invalid_target"),
    ("https://github.com/a/b%0a", "invalid_target"),
    ("https://github.com/a/b\u202e", "invalid_target"),
    ("https://github.com/a/%2e%2e/b", "invalid_target"),
    ("https://github.com/a%2fb/c", "invalid_target"),
    ("https://github.com/a//b", "invalid_target"),
    ("https://github.com/a/b?ref=x", "invalid_target"),
    ("https://github.com/a/b#x", "invalid_target"),
    ("https://github.com/", "invalid_target"),
    ("https://github.com:abc/a/b", "invalid_target"),
    ("", "invalid_target"),
    ("  \t ", "invalid_target"),
    ("{root}/../outside", "path_not_allowed"),
    ("{root}/repo/../../outside", "path_not_allowed"),
    ("{root}/escape", "path_not_allowed"),  # a symlink inside the root pointing outside
    ("file://{root}/escape", "path_not_allowed"),
    ("/etc", "path_not_allowed"),
    ("{root}/missing", "not_found"),
    ("{root}/file.txt", "invalid_target"),
]


@pytest.mark.parametrize(("value", "code"), HOSTILE)
def test_hostile_target_is_refused_before_git_starts(
    value: str, code: str, root: Path, settings: Settings, tmp_path: Path, canary: Path
) -> None:
    (root / "escape").symlink_to(tmp_path / "outside")
    (root / "file.txt").write_text("x")
    dest = tmp_path / "checkout"
    with pytest.raises(TargetError) as refused:
        clone(check_target(value.format(root=root), settings), dest, settings)
    assert refused.value.code == code
    assert refused.value.message
    assert not canary.exists(), "a git process was started"
    assert not dest.exists()


def test_hand_built_target_is_checked_again_by_clone(settings: Settings, tmp_path: Path, canary: Path) -> None:
    forged = Target(kind="url", location="ext::sh -c touch% /tmp/x", display="x")
    with pytest.raises(TargetError) as refused:
        clone(forged, tmp_path / "checkout", settings)
    assert refused.value.code == "unsupported_scheme"
    assert not canary.exists()


def test_invalid_ref_is_refused_before_git_starts(root: Path, settings: Settings, tmp_path: Path, canary: Path) -> None:
    with pytest.raises(TargetError) as refused:
        clone(check_target(str(root / "repo"), settings), tmp_path / "checkout", settings, ref="--upload-pack=x")
    assert refused.value.code == "invalid_ref"
    assert not canary.exists()


def test_canary_records_git_for_a_legitimate_target(
    root: Path, settings: Settings, tmp_path: Path, canary: Path
) -> None:
    repo = root / "repo"
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "one"]):
        (repo / "a.py").write_text("print(1)\n")
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, env=GIT_ENV, check=True)
    assert not canary.exists()
    checkout = clone(check_target(str(repo), settings), tmp_path / "checkout", settings)
    assert checkout.source == "git"
    clone_call = next(call for call in canary.read_text().splitlines() if " clone " in call)
    # git reads the audit's private copy of the history, never the repository itself (see git_source)
    assert clone_call.split()[-3:] == ["--", scratch_for(tmp_path / "checkout").as_uri(), str(tmp_path / "checkout")]


def test_credentials_are_not_echoed(settings: Settings) -> None:
    with pytest.raises(TargetError) as refused:
        check_target("https://alice:s3cret@github.com/a/b", settings)
    assert "s3cret" not in str(refused.value)


def test_local_paths_are_refused_without_allowed_roots(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path / "home", audit_allowed_roots=[])
    with pytest.raises(TargetError) as refused:
        check_target(str(tmp_path), settings)
    assert refused.value.code == "path_not_allowed"
    assert ROOTS_ENV in refused.value.message


@pytest.mark.parametrize(
    ("value", "location"),
    [
        ("https://github.com/psf/requests", "https://github.com/psf/requests"),
        (" https://github.com/psf/requests.git\n", "https://github.com/psf/requests.git"),
        ("HTTPS://GitHub.com:443/psf/requests/", "https://github.com/psf/requests"),
        ("https://gitlab.com/group/sub-group/project_1", "https://gitlab.com/group/sub-group/project_1"),
    ],
)
def test_https_url_on_allowed_host_is_normalized(value: str, location: str, settings: Settings) -> None:
    assert check_target(value, settings) == Target(kind="url", location=location, display=location)


def test_configured_host_is_accepted(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path, audit_allowed_hosts=["git.example.org"])
    assert check_target("https://git.example.org/team/tool", settings).location == "https://git.example.org/team/tool"
    with pytest.raises(TargetError, match="git.example.org"):
        check_target("https://github.com/psf/requests", settings)


def test_directories_under_a_root_are_accepted(root: Path, settings: Settings) -> None:
    (root / "inner").symlink_to(root / "repo")
    expected = Target(kind="path", location=str(root / "repo"), display=str(root / "repo"))
    assert check_target(str(root / "repo"), settings) == expected
    assert check_target((root / "repo").as_uri(), settings) == expected
    assert check_target(f"{root}/repo/../repo/", settings) == expected
    assert check_target(str(root / "inner"), settings) == expected  # a symlink that stays inside
    assert check_target(str(root), settings).location == str(root)


@pytest.mark.parametrize("ref", ["main", "v1.2", "feature/x-y", "release-2024.01", "a@b", "0123abcd"])
def test_valid_refs_pass(ref: str) -> None:
    assert check_ref(ref) == ref


def test_blank_ref_means_none() -> None:
    assert check_ref(None) is None
    assert check_ref("  ") is None
    assert check_ref(" main ") == "main"


@pytest.mark.parametrize(
    "ref",
    [
        "-main",
        "--upload-pack=x",
        "a..b",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[0]",
        "a\\b",
        "/a",
        "a/",
        "a//b",
        "a.",
        ".a",
        "a/.b",
        "a.lock",
        "a.lock/b",
        "@",
        "a@{1}",
        "a\nb",
        "a\x00b",
        "x" * 201,
    ],
)
def test_invalid_refs_are_refused(ref: str) -> None:
    with pytest.raises(TargetError) as refused:
        check_ref(ref)
    assert refused.value.code == "invalid_ref"

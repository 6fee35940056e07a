"""A local repository under the allowed roots whose .git leads elsewhere is refused, and nothing of the repository
it leads to reaches the checkout: commondir, symlinked objects/refs, alternates, a worktree's gitdir file, a link
deep in objects, config includes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.unit.test_audit_clone import make_repo, make_settings, run_git
from workbench.audit.clone import clone
from workbench.audit.git_source import check_git_dir
from workbench.audit.safety import TargetError, check_target
from workbench.tasks.runner import validate_request

SECRET = "TOP-SECRET-COMMIT-MESSAGE"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A repository outside the allowed roots, with a telling file name and commit message."""
    repo = make_repo(tmp_path / "outside" / "secret", files={"secret_credentials.py": "KEY = 'x'\n"})
    run_git(repo, "commit", "--allow-empty", "-qm", SECRET)
    return repo


def hostile(root: Path, secret: Path, how: str) -> Path:
    """A folder under ``root`` whose .git makes git read ``secret`` in the way ``how`` names."""
    folder = root / how
    if how == "worktree":  # .git is a "gitdir:" file naming the outside repository's worktree entry
        run_git(secret, "worktree", "add", "-q", str(folder))
        return folder
    if how in ("alternates", "http-alternates", "deep-link"):
        make_repo(folder)
        dot_git = folder / ".git"
        if how == "deep-link":  # one pack of the outside repository linked into objects/pack
            run_git(secret, "gc", "-q")
            for pack in (secret / ".git" / "objects" / "pack").iterdir():
                (dot_git / "objects" / "pack" / pack.name).symlink_to(pack)
        else:
            name = "alternates" if how == "alternates" else "http-alternates"
            (dot_git / "objects" / "info" / name).write_text(f"{secret / '.git' / 'objects'}\n")
        # the branch now names the outside repository's commit: git would find it through the borrowed objects
        (dot_git / "refs" / "heads" / "main").write_text(run_git(secret, "rev-parse", "HEAD") + "\n")
        return folder
    dot_git = folder / ".git"
    dot_git.mkdir(parents=True)
    (dot_git / "HEAD").write_text("ref: refs/heads/main\n")
    (dot_git / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = false\n")
    if how == "commondir":
        (dot_git / "commondir").write_text(f"{secret / '.git'}\n")
    elif how == "linked-objects-and-refs":
        (dot_git / "objects").symlink_to(secret / ".git" / "objects")
        (dot_git / "refs").symlink_to(secret / ".git" / "refs")
    return folder


FOLLOWINGS = ["commondir", "linked-objects-and-refs", "alternates", "http-alternates", "worktree", "deep-link"]


@pytest.mark.parametrize("how", FOLLOWINGS)
def test_a_git_directory_leading_outside_the_roots_is_refused(how: str, secret: Path, tmp_path: Path) -> None:
    folder = hostile(tmp_path / "root", secret, how)
    settings = make_settings(tmp_path)
    with pytest.raises(TargetError) as refused:
        clone(check_target(str(folder), settings), tmp_path / "checkout", settings)
    assert refused.value.code == "path_not_allowed"
    assert str(tmp_path) not in refused.value.message  # no server path
    assert "cannot be audited" in refused.value.message
    assert not (tmp_path / "checkout").exists()
    assert not any(p.name.endswith(".source") for p in tmp_path.iterdir())  # the private copy is gone too


@pytest.mark.parametrize("how", [h for h in FOLLOWINGS if h != "deep-link"])
def test_a_request_for_such_a_folder_is_refused_before_a_task_exists(how: str, secret: Path, tmp_path: Path) -> None:
    folder = hostile(tmp_path / "root", secret, how)
    with pytest.raises(TargetError) as refused:
        validate_request(str(folder), None, None, None, make_settings(tmp_path))
    assert refused.value.code == "path_not_allowed"


def test_a_link_deep_in_objects_is_found_by_the_copy_not_the_quick_check(secret: Path, tmp_path: Path) -> None:
    """The quick check looks at names; the copy, which is what git reads, refuses every link it meets."""
    folder = hostile(tmp_path / "root", secret, "deep-link")
    assert check_git_dir(folder) is True


def test_git_never_opens_the_repository_itself(tmp_path: Path) -> None:
    """An include in the repository's config names a fifo outside: git reading that config would block on it."""
    source = make_repo(tmp_path / "root" / "repo", commits=2, files={"app.py": "x = 1\n"})
    fifo = tmp_path / "outside.fifo"
    os.mkfifo(fifo)
    with (source / ".git" / "config").open("a") as config:
        config.write(f"[include]\n\tpath = {fifo}\n")
    (source / ".git" / "info").mkdir(exist_ok=True)
    (source / ".git" / "info" / "grafts").write_text("0" * 40 + "\n")
    settings = make_settings(tmp_path, audit_clone_timeout_s=30)
    checkout = clone(check_target(str(source), settings), tmp_path / "checkout", settings)
    assert checkout.source == "git" and checkout.history_depth == 2
    assert (checkout.path / "app.py").read_text() == "x = 1\n"
    assert "include" not in (checkout.path / ".git" / "config").read_text()


def test_the_repository_is_left_as_it_was(tmp_path: Path) -> None:
    """Objects may be hard-linked into the private copy: removing the copy leaves the originals and their modes."""
    source = make_repo(tmp_path / "root" / "repo", commits=3)
    before = {p: p.stat().st_mode for p in (source / ".git" / "objects").rglob("*") if p.is_file()}
    settings = make_settings(tmp_path)
    clone(check_target(str(source), settings), tmp_path / "checkout", settings)
    assert {p: p.stat().st_mode for p in (source / ".git" / "objects").rglob("*") if p.is_file()} == before
    shutil.rmtree(tmp_path / "checkout")

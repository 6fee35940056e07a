"""The ``workbench`` command's one error mapping: a user error is one line and exit 2, a failed command exit 1, a
bug a traceback; ``--debug`` adds the traceback to the first two."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.cli.errors import Failed
from workbench.errors import ConfigurationError


@pytest.fixture
def raising(monkeypatch: pytest.MonkeyPatch) -> Callable[[BaseException], None]:
    """``workbench runs`` made to raise ``error`` (the run listing is what it calls)."""

    def install(error: BaseException) -> None:
        def list_runs(*args: object, **kwargs: object) -> list[dict[str, object]]:
            raise error

        monkeypatch.setattr("workbench.runlog.listing.list_runs", list_runs)

    return install


def test_a_user_error_is_one_line_and_exit_2(raising: Callable[[BaseException], None]) -> None:
    raising(ConfigurationError("the store is in use\nby another process"))
    result = CliRunner().invoke(app, ["runs"])
    assert result.exit_code == 2
    assert result.stderr == "error: the store is in use; by another process\n"


def test_a_bad_option_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["runs", "--status", "nope"])
    assert result.exit_code == 2 and result.stderr.startswith("error: unknown status 'nope'")
    assert "Traceback" not in result.stderr


def test_a_failed_command_exits_1_with_its_message(raising: Callable[[BaseException], None]) -> None:
    raising(Failed("the run log is damaged"))
    result = CliRunner().invoke(app, ["runs"])
    assert result.exit_code == 1 and result.stderr == "error: the run log is damaged\n"


def test_debug_prints_the_traceback_before_the_message(raising: Callable[[BaseException], None]) -> None:
    raising(ConfigurationError("no such model"))
    result = CliRunner().invoke(app, ["--debug", "runs"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Traceback (most recent call last)") and "ConfigurationError" in result.stderr
    assert result.stderr.endswith("error: no such model\n")


def test_a_bug_is_not_mapped(raising: Callable[[BaseException], None]) -> None:
    raising(KeyError("oops"))
    result = CliRunner().invoke(app, ["runs"])
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)

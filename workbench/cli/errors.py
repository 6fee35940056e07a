"""How the ``workbench`` command ends on an error: one mapping, applied around every command.

- :class:`~workbench.errors.WorkbenchError` (a full disk, a refused repository, a store in use, a file that is not
  what the command reads) and :class:`BadArgument` (an option the command refuses): ``error: <message>`` on one
  line of stderr, exit status 2;
- :class:`Failed` (the command ran and did not succeed: an audit that failed, a damaged run log): its message on
  stderr, exit status 1;
- anything else is a bug: Typer prints the traceback, exit status 1.

``workbench --debug COMMAND`` prints the traceback of the first two as well, before the message.
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from typer._click import Context  # the click Typer carries (typer.Context narrows it)

USER_ERROR = 2
FAILED = 1


class BadArgument(WorkbenchError):
    """An argument or option the command refuses (an unknown status, format or agent, an empty text)."""

    code: str = "invalid_request"


class Failed(Exception):
    """The command ran and did not succeed, for a reason its message gives (exit status 1)."""


def one_line(text: str) -> str:
    """``text`` on one line: a message that came with line breaks keeps its parts, joined."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


class ErrorMapping(TyperGroup):
    """The root command group: runs the command and ends an error the way the module says."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (WorkbenchError, Failed) as exc:
            if ctx.params.get("debug"):
                traceback.print_exc(file=sys.stderr)
            if isinstance(exc, Failed):
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(FAILED) from None
            typer.echo(f"error: {one_line(str(exc))}", err=True)
            raise typer.Exit(USER_ERROR) from None

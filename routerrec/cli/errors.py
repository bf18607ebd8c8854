"""How the ``routerrec`` command reports a failure: one line on stderr, never a traceback.

Exit status 2 and ``Error: <what is wrong>`` for anything the user can fix (an option, a
file, the machine's memory or disk: the status click gives its usage errors too); exit
status 1 and ``Error: internal error ...`` for a bug, with the advice to run again as
``routerrec --debug ...``, which prints the traceback before the line. A script can tell the
two apart by the status.

What the user can fix: ``fail()`` from a command, the documented errors of the package
(``RecordsError``, ``ArtifactError`` with ``ModelFileError`` and ``RouterFileError``), an
``OSError`` (a path that is missing, unreadable or a directory, a full disk), a
``MemoryError``, and a ``ValueError``, ``TypeError``, ``KeyError`` or
``NotImplementedError`` that a ``raise`` statement in routerrec raised on purpose, with its
sentence. The same classes raised by a
library or by a Python operation that went wrong inside routerrec (``d["error"]``,
``len(None)``) are bugs.
"""
from __future__ import annotations

import contextlib
import linecache
import traceback
from pathlib import Path
from typing import Iterator, NoReturn

import click

__all__ = ["EXIT_USER", "EXIT_BUG", "CliError", "InternalError", "fail", "one_line", "user_message",
           "reported_as", "ReportingGroup"]

EXIT_USER = 2
EXIT_BUG = 1
_PACKAGE = Path(__file__).resolve().parent.parent


def one_line(text: str) -> str:
    """``text`` with its line breaks made spaces (an error is one line on stderr)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class CliError(click.ClickException):
    """Bad input the user can fix: ``Error: <message>`` on one line, exit status 2."""

    exit_code = EXIT_USER

    def __init__(self, message: str):
        super().__init__(one_line(message))


class InternalError(click.ClickException):
    """A bug: one line that says so and how to see the traceback, exit status 1."""

    exit_code = EXIT_BUG


def fail(message: str) -> NoReturn:
    """Stop with a clear one-line error and exit status 2 (no traceback for bad input)."""
    raise CliError(message)


def _raised_on_purpose(exc: BaseException) -> bool:
    """True when the innermost frame of ``exc`` is a ``raise`` statement in routerrec."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    try:
        inside = Path(filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False
    return inside and linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise")


def user_message(exc: BaseException) -> str | None:
    """The one line for an error the user can fix, or None for a bug (see the module doc)."""
    from ..data.records import RecordsError
    from ..util.artifacts import ArtifactError

    if isinstance(exc, (RecordsError, ArtifactError)):
        return one_line(exc)
    if isinstance(exc, OSError):
        if exc.filename is None:
            return one_line(exc)
        names = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        return f"{names}: {exc.strerror or exc}"
    if isinstance(exc, MemoryError):
        return one_line(f"not enough memory ({exc or 'MemoryError'}); use smaller data or "
                        "options (a smaller --rank, --top), or a machine with more memory")
    if (isinstance(exc, (ValueError, TypeError, KeyError, NotImplementedError))
            and _raised_on_purpose(exc)):
        text = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else exc
        return one_line(text)
    return None


@contextlib.contextmanager
def reported_as(prefix: str) -> Iterator[None]:
    """Inside, an error the user can fix is reported as ``prefix: message`` (the command or
    option it came from); a bug stays a bug for ``ReportingGroup`` to report."""
    try:
        yield
    except click.ClickException:
        raise
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        raise CliError(f"{prefix}: {message}") from exc


class ReportingGroup(click.Group):
    """The ``routerrec`` group: any exception a command raises becomes one line (module doc);
    ``--debug`` (the group's option) prints the traceback first."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.UsageError):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            if isinstance(exc, click.ClickException):
                raise
            message = user_message(exc)
            if message is not None:
                raise CliError(message) from exc
            raise InternalError(
                f"internal error ({type(exc).__name__}: {one_line(exc)}); this is a bug in "
                "routerrec: run the command again as `routerrec --debug ...` for the "
                "traceback, and please report it") from exc

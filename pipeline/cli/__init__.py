"""The `publish` command: thin wrappers over library functions.

This is the one place that turns exceptions into messages and exit codes: 1 for a failure
the user can fix, 2 for bad usage. Heavy modules are imported inside the commands so that
`publish --help` starts fast.

    group.py        the group, the shared --config option and context, problem printing
    editing.py      init, new, add, check, build, bib
    importing.py    import (a digest written as plain text → an issue folder)
    previewing.py   preview (the live preview server)
    publishing.py   issue, scheduler, status, serve
    doctor.py       doctor (what a bulk sender needs: DKIM, SPF, DMARC)
    subscribers.py  the `subscribers` group
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from pathlib import Path

import click

from pipeline.cli import (  # noqa: F401  each registers its commands on `cli`
    doctor,
    editing,
    importing,
    previewing,
    publishing,
    subscribers,
)
from pipeline.cli.group import cli, echo_problems
from pipeline.errors import IssueError, PublishError

__all__ = ["cli", "main", "run"]


def fail(message: str, hint: str | None, code: int) -> None:
    """The one shape of a user's mistake: ``error: what is wrong — what to do``, then exit."""
    click.echo(f"error: {message}" + (f" — {hint}" if hint else ""), err=True)
    sys.exit(code)


def _os_problem(exc: OSError) -> str:
    """``/path: No space left on device``: the file and what the system said."""
    where = exc.filename or ""
    what = exc.strerror or str(exc) or type(exc).__name__
    return f"{where}: {what}" if where else what


def _sqlite_error() -> type[Exception] | tuple[()]:
    """sqlite3.Error when a command imported sqlite3 (only then can one be raised), else no
    exception at all, without importing it for commands that never use the database (~5 ms
    of each build)."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3.Error if sqlite3 is not None else ()


def run() -> None:
    """The ``publish`` command: :func:`main`, then an exit that does not free every object the
    run made one by one, which took ~75 ms of a 0.85 s rebuild (a build's manifest and cards,
    the modules). Nothing depends on that freeing: every file is written and closed before a
    command returns, and the exit handlers (logging's among them) still run. With threads
    still running (which a normal exit waits for), or under a profiler or a coverage tool
    (which write their data after the program), it exits normally."""
    try:
        main()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if threading.active_count() > 1 or sys.getprofile() or sys.gettrace():
        sys.exit(code)  # threads to wait for, or a profiler or coverage tool to write its data
    if code is not None and not isinstance(code, int):  # as sys.exit prints a message and exits 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`publish status | head`)
            stream.flush()
    os._exit(code or 0)


def main() -> None:
    """Console entry point: run the CLI and map errors to messages and exit codes."""
    try:
        code = cli.main(prog_name="publish", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # `publish` alone: the help, as click shows it
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        where = getattr(exc, "ctx", None)
        hint = f"see `{where.command_path} --help`" if isinstance(exc, click.UsageError) and where else None
        fail(exc.format_message().rstrip("."), hint, exc.exit_code)
    except IssueError as exc:
        echo_problems(exc.problems, Path.cwd())
        fail(str(exc), exc.hint, exc.exit_code)
    except PublishError as exc:
        fail(str(exc), exc.hint, exc.exit_code)
    except OSError as exc:  # the environment, not the user's input: a full disk, a read-only folder
        hint = "free some space or fix the permissions where paths.output and paths.state point, then run it again"
        fail(_os_problem(exc), hint, 1)
    except _sqlite_error() as exc:
        fail(f"the state database cannot be used ({exc})", "check the disk and paths.state in config.yaml", 1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)

"""The `publish` command: thin wrappers over library functions.

This is the one place that turns exceptions into messages and exit codes: 1 for a failure
the user can fix, 2 for bad usage. Heavy modules are imported inside the commands so that
`publish --help` starts fast.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from . import __version__
from .errors import IssueError, Problem, PublishError


class Context:
    """What every command needs: where the config is, loaded on first use."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._config = None

    @property
    def config(self):
        if self._config is None:
            from .config import load_config

            self._config = load_config(self.config_path)
        return self._config


pass_ctx = click.make_pass_decorator(Context)


def _set_config(click_ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:  # given after the subcommand: it wins over the one before
        click_ctx.ensure_object(Context).config_path = value


def config_option(command):
    """``--config PATH`` accepted after the subcommand too (``publish check --config x.yaml``)."""
    return click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, expose_value=False,
                        callback=_set_config, help="The newsletter's config.yaml (default: ./config.yaml).")(command)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 issue``, ``2 issues``; ``many`` for irregular plurals (entry → entries)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def echo_problems(problems: list[Problem], root: Path | None = None) -> None:
    """Print problems as ``path:line: severity: message``, errors first."""
    for problem in sorted(problems, key=lambda p: (p.is_error is False, str(p.path), p.line or 0)):
        click.echo(problem.format(root), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=Path("config.yaml"), show_default=True, help="The newsletter's config.yaml.")
@click.version_option(__version__, prog_name="publish")
@click.pass_context
def cli(click_ctx: click.Context, config_path: Path) -> None:
    """Turn dated issue folders of paper entries into feeds, email, WeChat articles and web
    pages, and publish each issue to its channels, once."""
    click_ctx.obj = Context(config_path)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Make a new newsletter folder: a commented config.yaml and one example issue."""
    from .scaffold import init_newsletter

    created = init_newsletter(directory)
    for path in created:
        click.echo(f"created {path}")
    click.echo(f"Next: cd {directory} && publish check && publish build")


@cli.command()
@click.argument("day", metavar="DATE")
@click.option("--slug", help="Second issue on the same day: DATE-SLUG (a-z, 0-9, -).")
@click.option("--title", help="The issue's title (default: the site title and the date).")
@config_option
@pass_ctx
def new(obj: Context, day: str, slug: str | None, title: str | None) -> None:
    """Scaffold an issue folder for DATE (YYYY-MM-DD) with one example entry."""
    from .scaffold import new_issue

    folder = new_issue(obj.config, day, slug, title)
    click.echo(f"created {folder}/ (issue.yaml, 01-example.md)")
    click.echo(f"Next: edit the entry, then `publish check {folder.name}`")


@cli.command()
@click.argument("issue_ids", nargs=-1, metavar="[ISSUE]...")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@config_option
@pass_ctx
def check(obj: Context, issue_ids: tuple[str, ...], strict: bool) -> None:
    """Check issues against the format and report every problem at once."""
    from .check import check_issues

    report = check_issues(obj.config, _unique(issue_ids))
    echo_problems(report.problems, Path.cwd())
    for line in report.notes:
        click.echo(line)
    errors, warnings = len(report.errors), len(report.warnings)
    click.echo(f"{plural(report.issue_count, 'issue')} checked: {plural(errors, 'error')}, {plural(warnings, 'warning')}")
    if errors or (strict and warnings):
        sys.exit(1)


@cli.command()
@click.argument("issue_ids", nargs=-1, metavar="[ISSUE]...")
@click.option("--force", is_flag=True, help="Render every issue again, even unchanged ones.")
@config_option
@pass_ctx
def build(obj: Context, issue_ids: tuple[str, ...], force: bool) -> None:
    """Render issues to public/: pages, email, WeChat files, index and feeds."""
    from .build import build as run_build

    named = _unique(issue_ids)
    report = run_build(obj.config, named, progress=_progress_printer(), force=force)
    echo_problems(report.problems, Path.cwd())
    written = f"{plural(len(report.written), 'file')} written to {obj.config.output_dir}"
    if named is None:
        click.echo(f"built {plural(len(report.built), 'issue')}, {len(report.skipped)} unchanged; {written}")
        return
    for issue_id in named:
        click.echo(f"{issue_id}: {'built' if issue_id in report.built else 'unchanged'}")
    others = [i for i in report.built if i not in named]  # never built before: the archive needs them
    if others:
        click.echo(f"also built {plural(len(others), 'other issue')} not built before: {', '.join(others)}")
    click.echo(written)


def _unique(issue_ids: tuple[str, ...]) -> list[str] | None:
    """The ids as given, each once; None (every issue) when none are given."""
    return list(dict.fromkeys(issue_ids)) or None


def _progress_printer():
    """A one-line progress display on a terminal; silence otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, issue_id: str) -> None:
        if total >= 20:
            end = "\n" if done == total else ""
            click.echo(f"\r[{done}/{total}] {issue_id}", err=True, nl=False)
            if end:
                click.echo("", err=True)

    return show


def _check_address(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--test-to must be one address: refused before anything is built or sent."""
    if value is None:
        return None
    from .subscribers import InvalidAddress, normalize_address

    try:
        normalize_address(value)
    except InvalidAddress as exc:
        raise click.BadParameter(f"{exc}; give one address, e.g. editor@example.org") from None
    return value


@cli.command("issue")
@click.argument("issue_id", metavar="ID")
@click.option("--channel", "channels", multiple=True, metavar="NAME", help="Only this channel (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent to whom; send and record nothing.")
@click.option("--resend", is_flag=True, help="Deliver again even where the ledger says done.")
@click.option("--test-to", metavar="ADDRESS", callback=_check_address, help="Email one copy to ADDRESS; record nothing.")
@click.option("--now", "send_now", is_flag=True, help="Send an issue whose publish_at is still ahead now, instead of leaving it to the scheduler.")
@click.option("--wait", "lock_wait", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS", help="Wait this long for another publisher's lock.")
@config_option
@pass_ctx
def issue_command(obj: Context, issue_id: str, channels: tuple[str, ...], dry_run: bool, resend: bool, test_to: str | None,
                  send_now: bool, lock_wait: float) -> None:
    """Publish issue ID to its channels: one line per channel; exit 1 if any failed.

    An issue whose publish_at is still ahead is refused (the scheduler sends it then) unless
    --now is given; a draft is always refused."""
    import threading

    from .folders import validate_issue_id
    from .publisher import publish_issue
    from .scheduler import _stop_on_signals

    validate_issue_id(issue_id)
    _setup_logging()
    stop = threading.Event()
    _stop_on_signals(stop)
    results = publish_issue(obj.config, issue_id, channels or None, dry_run=dry_run, resend=resend, test_to=test_to,
                            stop=stop, progress=_send_progress(), lock_wait=lock_wait, early=send_now)
    for result in results:
        click.echo(result.line())
        if result.status == "would send":  # a done channel's plan would list nothing to send
            for line in result.plan:
                click.echo(f"  {line}")
    if not all(r.ok for r in results):
        sys.exit(1)


def _parse_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time with its offset, e.g. 2024-05-10T08:00:00+08:00."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO time; write e.g. 2024-05-10T08:00:00+08:00") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; write e.g. 2024-05-10T08:00:00+08:00")
    return moment


@cli.command()
@click.option("--once", is_flag=True, help="Do a single pass and exit (for cron and systemd timers).")
# --clock, not --now: `publish issue --now` means "send it now"; --now is still read here for old scripts.
@click.option("--clock", "--now", "fixed", metavar="ISO-TIME", hidden=True, callback=_parse_time, help="Pretend the time is this (testing and replays).")
@config_option
@pass_ctx
def scheduler(obj: Context, once: bool, fixed) -> None:
    """Publish each issue when its publish_at has passed; runs until SIGTERM/SIGINT."""
    from .scheduler import run_forever

    _setup_logging(timestamps=True)
    clock = (lambda: fixed) if fixed else None
    sys.exit(run_forever(obj.config, once=once, now=clock))


@cli.command()
@click.argument("issue_id", metavar="[ID]", required=False)
@config_option
@pass_ctx
def status(obj: Context, issue_id: str | None) -> None:
    """Per issue and channel: state, counts, when, remote ids and the last error."""
    from .folders import issue_folders, validate_issue_id
    from .ledger import Ledger, local_time

    if issue_id:
        validate_issue_id(issue_id)
    with Ledger(obj.config.state_path) as ledger:
        runs = ledger.runs(issue_id)
        if not runs:
            if issue_id:
                issue_folders(obj.config, [issue_id])  # no such folder either: "no issue …", exit 2, as `issue` and `bib` say
            click.echo("nothing published yet" + (f" for {issue_id}" if issue_id else ""))
            return
        for run in runs:
            counts = ledger.counts(run.issue_id, run.channel)
            when = local_time(run.finished_at or run.started_at, obj.config.site.tz)
            tally = f"sent {counts['sent']}, failed {counts['failed']}, pending {counts['pending']}" if any(counts.values()) else ""
            click.echo(f"{run.issue_id}  {run.channel:<10} {run.state:<8} {when}  {tally}".rstrip())
            for key, value in sorted(run.remote.items()):
                click.echo(f"    {key}: {value}")
            error = run.last_error or ledger.last_error(run.issue_id, run.channel)
            if error:
                click.echo(f"    {'why' if run.state == 'skipped' else 'last error'}: {error}")


def _setup_logging(timestamps: bool = False) -> None:
    """Log lines on stderr: with time and source for the long-running commands (scheduler,
    serve), whose logs are read later; for a command a person watches, in the CLI's own form
    (``warning: …``) so that they read like its other messages."""
    import logging

    if timestamps:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        return

    class Plain(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            message = record.getMessage()
            return message if record.levelno <= logging.INFO else f"{record.levelname.lower()}: {message}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Plain())
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def _send_progress():
    """A progress bar with rate and ETA on a terminal; None (a summary line only) otherwise."""
    if not sys.stderr.isatty():
        return None
    import time

    started: dict[str, float] = {}

    def show(channel: str, done: int, total: int) -> None:
        start = started.setdefault(channel, time.monotonic())
        elapsed = max(time.monotonic() - start, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate else 0
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        click.echo(f"\r{channel} [{bar}] {done}/{total} {rate:.0f}/s ETA {eta:.0f}s", err=True, nl=done >= total)

    return show


@cli.command()
@click.argument("issue_id", metavar="ISSUE")
@click.argument("papers", nargs=-1, required=True, metavar="ARXIV_ID_OR_URL...")
@click.option("--again", is_flag=True, help="Add a paper even though an earlier issue featured it.")
@config_option
@pass_ctx
def add(obj: Context, issue_id: str, papers: tuple[str, ...], again: bool) -> None:
    """Look papers up on arXiv and write one NN-slug.md entry per paper into ISSUE
    (created, without the example entry, if it does not exist yet)."""
    from .entries import PaperError, add_papers

    report = add_papers(obj.config, issue_id, papers, again=again)
    if report.created_issue:
        click.echo(f"created {report.folder}/ (issue.yaml)")
    for item in report.results:
        if item.path is not None and item.paper is not None:
            click.echo(f"added {item.path.name}: {item.paper.title} (arXiv {item.paper.id})")
        else:
            click.echo(f"not added: {item.error}" + (f" ({item.hint})" if item.hint else ""), err=True)
    if report.failed:
        raise PaperError(f"{len(report.failed)} of {len(report.results)} paper(s) not added; nothing was written for them")


@cli.command()
@click.argument("issue_id", metavar="ISSUE")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE instead of standard output.")
@config_option
@pass_ctx
def bib(obj: Context, issue_id: str, output: Path | None) -> None:
    """Print BibTeX for the papers of ISSUE (also built as public/issues/ISSUE/papers.bib)."""
    from .atomic import write_atomic
    from .loader import load_issues
    from .render.bibtex import issue_bibtex

    result = load_issues(obj.config, [issue_id])
    if result.errors:
        raise IssueError(result.problems)
    text = issue_bibtex(result.issues[0])
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomic(output, text.encode("utf-8"))
        click.echo(f"wrote {plural(len(result.issues[0].papers), 'entry', 'entries')} to {output}")


@cli.group("subscribers")
@config_option
def subscribers_group() -> None:
    """The subscriber list in the ledger: import, add, remove, list, export, count, bounces.

    Unsubscribed, bounced and complained addresses stay suppressed: no import brings them back."""


@subscribers_group.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@config_option
@pass_ctx
def subscribers_import(obj: Context, csv_file: Path) -> None:
    """Merge a CSV with email,name[,status] columns into the list; report what changed."""
    from .ledger import Ledger
    from .subscribers import import_csv

    with Ledger(obj.config.state_path) as ledger:
        report = import_csv(ledger, csv_file)
    click.echo(f"{csv_file}: {report.summary()}")
    for reason, number in report.reasons().most_common():
        click.echo(f"  skipped {number}: {reason}")
    for line, address, reason in report.skipped[:50]:
        click.echo(f"  line {line}: {address or '(empty)'}: {reason}")
    if len(report.skipped) > 50:
        click.echo(f"  … and {len(report.skipped) - 50} more")


@subscribers_group.command("add")
@click.argument("address", metavar="EMAIL")
@click.option("--name", default="", help="The subscriber's name, used in the greeting.")
@click.option("--resubscribe", is_flag=True, help="Reactivate an unsubscribed or bounced address (only when the person asked).")
@config_option
@pass_ctx
def subscribers_add(obj: Context, address: str, name: str, resubscribe: bool) -> None:
    """Add EMAIL as an active subscriber (or update its name)."""
    from .ledger import Ledger
    from .subscribers import add as add_subscriber
    from .subscribers import get, normalize_address

    email = normalize_address(address)
    with Ledger(obj.config.state_path) as ledger:
        outcome = add_subscriber(ledger, email, name, method="cli", resubscribe=resubscribe)
        current = get(ledger, email)
    if outcome.startswith("suppressed:"):
        raise PublishError(f"{email} is {current.status} since {current.updated_at[:10]} ({current.status_reason or current.source}); not added",
                           hint="suppressions win; if the person asked to come back, add --resubscribe (or they sign up again on the website)")
    click.echo(f"{email}: {outcome} ({current.status})")


@subscribers_group.command("remove")
@click.argument("address", metavar="EMAIL")
@click.option("--forget", is_flag=True, help="Delete the address and its history instead (an erasure request); a later import may add it again.")
@config_option
@pass_ctx
def subscribers_remove(obj: Context, address: str, forget: bool) -> None:
    """Unsubscribe EMAIL now; it stays suppressed, so imports never add it back."""
    from .ledger import Ledger
    from .subscribers import forget as forget_subscriber
    from .subscribers import normalize_address, unsubscribe

    email = normalize_address(address)
    with Ledger(obj.config.state_path) as ledger:
        if forget:
            found = forget_subscriber(ledger, email)
            click.echo(f"{email}: {'deleted with its history' if found else 'not on the list'}")
            return
        changed = unsubscribe(ledger, email, "cli")
    click.echo(f"{email}: {'unsubscribed' if changed else 'already suppressed, unchanged'}")


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed", "bounced", "complained"]), help="Only this status.")
@config_option
@pass_ctx
def subscribers_list(obj: Context, status: str | None) -> None:
    """One line per subscriber: address, status, last change, name."""
    from .ledger import Ledger
    from .subscribers import listing

    with Ledger(obj.config.state_path) as ledger:
        for sub in listing(ledger, status):
            click.echo(f"{sub.email:<36} {sub.status:<12} {sub.updated_at[:10]}  {sub.name}".rstrip())


@subscribers_group.command("export")
@click.argument("output", metavar="[FILE.csv]", required=False, type=click.Path(path_type=Path, dir_okay=False))
@config_option
@pass_ctx
def subscribers_export(obj: Context, output: Path | None) -> None:
    """Write the whole list as CSV (to FILE, or standard output); it can be imported again."""
    import io

    from .atomic import write_atomic
    from .ledger import Ledger
    from .subscribers import export_csv

    buffer = io.StringIO()
    with Ledger(obj.config.state_path) as ledger:
        number = export_csv(ledger, buffer)
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        write_atomic(output, buffer.getvalue().encode("utf-8"))
        click.echo(f"exported {plural(number, 'subscriber')} to {output}")


@subscribers_group.command("count")
@config_option
@pass_ctx
def subscribers_count(obj: Context) -> None:
    """How many subscribers there are in each status."""
    from .ledger import Ledger
    from .subscribers import counts

    with Ledger(obj.config.state_path) as ledger:
        numbers = counts(ledger)
    for status_name, number in numbers.items():
        click.echo(f"{status_name:<13} {number}")
    click.echo(f"{'total':<13} {sum(numbers.values())}")


@subscribers_group.command("bounces")
@click.argument("maildir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@config_option
@pass_ctx
def subscribers_bounces(obj: Context, maildir: Path) -> None:
    """Read bounce (RFC 3464) and complaint (RFC 5965) reports from MAILDIR and suppress
    hard-bouncing, complaining and repeatedly soft-bouncing addresses. Safe to run again."""
    from .bounces import SOFT_LIMIT, process_maildir
    from .ledger import Ledger
    from .tokens import load_secret

    with Ledger(obj.config.state_path) as ledger:
        report = process_maildir(ledger, maildir, load_secret(obj.config))
    for line in report.suppressed:
        click.echo(f"suppressed {line}")
    for line in report.counted:
        click.echo(f"counted {line}")
    for line in report.ignored:
        click.echo(f"ignored {line}")
    click.echo(f"{report.messages} message(s), {report.already} already processed: {report.hard} hard bounce(s), {report.soft} soft, "
               f"{report.complaints} complaint(s); {len(report.suppressed)} address(es) suppressed (soft bounces: after {SOFT_LIMIT} issues in a row)")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free one).")
@config_option
@pass_ctx
def serve(obj: Context, host: str, port: int) -> None:
    """Run the web endpoint locally: the archive, unsubscribe, signup and confirm pages.

    In production run `pipeline.web:app` under a WSGI server (gunicorn, waitress) with
    PUBLISH_CONFIG=/path/to/config.yaml."""
    from .web import create_app, make_server

    _setup_logging(timestamps=True)
    config = obj.config
    if not (config.output_dir / "index.html").is_file():
        click.echo(f"note: {config.output_dir} has no index.html yet; run `publish build` to serve the archive", err=True)
    try:
        server = make_server(create_app(config), host, port)
    except OSError as exc:
        raise _listen_error(exc, host, port) from None
    click.echo(f"serving {config.site.title} on http://{host}:{server.server_port}/ (paths as under {config.site.url}); Ctrl-C stops", err=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _listen_error(exc: OSError, host: str, port: int) -> PublishError:
    """Why the server could not listen, said as what to change."""
    import errno
    import socket

    if exc.errno == errno.EADDRINUSE:
        return PublishError(f"port {port} is in use", hint="choose another with --port")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PublishError(f"port {port} needs more privileges than this user has", hint="choose one above 1023 with --port")
    if exc.errno == errno.EADDRNOTAVAIL:
        return PublishError(f"{host} is not an address of this machine", hint="use --host 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)")
    if isinstance(exc, socket.gaierror):
        return PublishError(f"cannot resolve --host {host!r}: {exc.strerror}", hint="give an IP address or a host name of this machine")
    return PublishError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="check --host and --port")


# Commands of the publishing, subscriber and paper modules are registered below this line.


def fail(message: str, hint: str | None, code: int) -> None:
    """The one shape of a user's mistake: ``error: what is wrong — what to do``, then exit."""
    click.echo(f"error: {message}" + (f" — {hint}" if hint else ""), err=True)
    sys.exit(code)


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
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)

"""The publishing commands: `issue` sends one issue, `scheduler` sends each when it is due,
`status` reads what the ledger recorded, `serve` runs the web endpoint.

They share the log set-up and the send progress bar, which nothing else uses. The commands
register on the `publish` group of pipeline.cli.group when pipeline.cli imports this module;
errors raised here are turned into messages and exit codes by pipeline.cli.main. Heavy modules are imported inside the
commands so that `publish --help` starts fast.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone, tzinfo

import click

from pipeline.cli.group import Context, cli, config_option, pass_ctx
from pipeline.errors import PublishError


def _check_address(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--test-to must be one address: refused before anything is built or sent."""
    if value is None:
        return None
    from pipeline.audience.subscribers import InvalidAddress, normalize_address

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
@click.option(
    "--test-to", metavar="ADDRESS", callback=_check_address, help="Email one copy to ADDRESS; record nothing."
)
@click.option(
    "--now",
    "send_now",
    is_flag=True,
    help="Send an issue whose publish_at is still ahead now, instead of leaving it to the scheduler.",
)
@click.option(
    "--wait",
    "lock_wait",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Wait this long for another publisher's lock.",
)
@config_option
@pass_ctx
def issue_command(
    obj: Context,
    issue_id: str,
    channels: tuple[str, ...],
    dry_run: bool,
    resend: bool,
    test_to: str | None,
    send_now: bool,
    lock_wait: float,
) -> None:
    """Publish issue ID to its channels: one line per channel; exit 1 if any failed.

    The issue's warnings (as `publish check ID` shows them) come first. An issue whose
    publish_at is still ahead is refused (the scheduler sends it then) unless --now is given;
    a draft, or an issue still holding example text from `publish new`, is always refused
    (--test-to previews it)."""
    import threading
    from pathlib import Path

    from pipeline.cli.group import echo_problems
    from pipeline.load.folders import validate_issue_id
    from pipeline.publish.publisher import publish_issue
    from pipeline.publish.scheduler import stop_on_signals

    validate_issue_id(issue_id)
    _setup_logging()
    stop = threading.Event()
    stop_on_signals(stop)
    results = publish_issue(
        obj.config,
        issue_id,
        channels or None,
        dry_run=dry_run,
        resend=resend,
        test_to=test_to,
        stop=stop,
        progress=_send_progress(),
        lock_wait=lock_wait,
        early=send_now,
        warn=lambda problems: echo_problems(problems, Path.cwd()),
    )
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
@click.option(
    "--clock",
    "--now",
    "fixed",
    metavar="ISO-TIME",
    hidden=True,
    callback=_parse_time,
    help="Pretend the time is this (testing and replays).",
)
@config_option
@pass_ctx
def scheduler(obj: Context, once: bool, fixed) -> None:
    """Publish each issue when its publish_at has passed; runs until SIGTERM/SIGINT."""
    from pipeline.publish.scheduler import run_forever

    _setup_logging(timestamps=True, zone=obj.config.site.tz)
    clock = (lambda: fixed) if fixed else None
    sys.exit(run_forever(obj.config, once=once, now=clock))


@cli.command()
@click.argument("issue_id", metavar="[ID]", required=False)
@config_option
@pass_ctx
def status(obj: Context, issue_id: str | None) -> None:
    """Per issue and channel: state, counts, when, remote ids and the last error; then the
    issues not sent yet with the time they are due (in the site's zone)."""
    from datetime import timezone

    from pipeline.ledger import Ledger, local_time
    from pipeline.load.folders import issue_folders, validate_issue_id
    from pipeline.publish.scheduler import Upcoming, upcoming

    if issue_id:
        validate_issue_id(issue_id)
        issue_folders(obj.config, [issue_id])  # no such folder: "no issue …", exit 2, as `issue` and `bib` say
    zone = obj.config.site.tz
    with Ledger(obj.config.state_path) as ledger:
        runs = ledger.runs(issue_id)
        ahead = upcoming(obj.config, ledger, datetime.now(timezone.utc), issue_id)
        if not runs and not ahead:
            click.echo("nothing published yet" + (f" for {issue_id}" if issue_id else ""))
            return
        # One row per (issue, channel) run and per issue not sent yet, by issue id; columns
        # padded to the longest value, as ids with a slug (2026-11-20-b) are longer.
        rows = [
            (run.issue_id, run.channel, run.state, local_time(run.finished_at or run.started_at, zone), run)
            for run in runs
        ]
        rows += [(entry.issue_id, entry.channels, entry.state, entry.due, entry) for entry in ahead]
        rows.sort(key=lambda row: row[0])
        widths = [max(len(row[n]) for row in rows) for n in range(3)]
        for issue, channel, state, when, item in rows:
            planned = isinstance(item, Upcoming)
            tally = "" if planned else _tally(ledger, item)
            click.echo(f"{issue:<{widths[0]}}  {channel:<{widths[1]}}  {state:<{widths[2]}}  {when}  {tally}".rstrip())
            for line in ([f"note: {item.note}"] if item.note else []) if planned else _details(ledger, item):
                click.echo(f"    {line}")
            if issue_id and not planned:
                for line in _troubled(ledger, item, zone):
                    click.echo(f"    {line}")


def _tally(ledger, run) -> str:
    """``sent 3, failed 0, pending 0`` for channels with recipients, else nothing."""
    counts = ledger.counts(run.issue_id, run.channel)
    return (
        f"sent {counts['sent']}, failed {counts['failed']}, pending {counts['pending']}" if any(counts.values()) else ""
    )


def _details(ledger, run) -> list[str]:
    """The lines under a run's row: its remote ids, then why it was skipped or its last error."""
    lines = [f"{key}: {value}" for key, value in sorted(run.remote.items())]
    error = run.last_error or ledger.last_error(run.issue_id, run.channel)
    if error:
        lines.append(f"{'why' if run.state == 'skipped' else 'last error'}: {error}")
    return lines


def _troubled(ledger, run, zone: tzinfo, shown: int = 20) -> list[str]:
    """With an ID: each recipient that failed (and why), and each still pending after a
    deferral (how many runs, when the last was, what the server said)."""
    from pipeline.ledger import local_time

    rows, total = ledger.troubled(run.issue_id, run.channel, shown)
    lines = []
    for row in rows:
        runs = f"{row['attempts']} run{'' if row['attempts'] == 1 else 's'}"
        if row["state"] == "failed":
            lines.append(f"failed: {row['recipient']}: {row['error'] or 'no reason recorded'}")
        else:
            last = local_time(row["updated_at"], zone)
            lines.append(f"pending: {row['recipient']}: deferred in {runs}, last at {last}: {row['error']}")
    if total > len(rows):
        lines.append(f"… and {total - len(rows)} more")
    return lines


def _setup_logging(timestamps: bool = False, zone: tzinfo | None = None) -> None:
    """Log lines on stderr: with time and source for the long-running commands (scheduler,
    serve), whose logs are read later; for a command a person watches, in the CLI's own form
    (``warning: …``) so that they read like its other messages.

    Timestamps are in ``zone`` (the site's) with the offset, ``2026-11-21 20:58:17 +08:00``, as
    `publish status` shows times: a log line and a status line about one send agree."""
    import logging

    if timestamps:

        class Stamped(logging.Formatter):
            def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
                moment = datetime.fromtimestamp(record.created, timezone.utc).astimezone(zone)
                offset = moment.strftime("%z")
                return f"{moment:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(Stamped("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler])
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
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free one)."
)
@config_option
@pass_ctx
def serve(obj: Context, host: str, port: int) -> None:
    """Run the web endpoint locally: the archive, unsubscribe, signup and confirm pages.

    In production run `pipeline.web:app` under a WSGI server (gunicorn, waitress) with
    PUBLISH_CONFIG=/path/to/config.yaml."""
    from pipeline.web.endpoint import create_app, make_server

    config = obj.config
    _setup_logging(timestamps=True, zone=config.site.tz)
    if not (config.output_dir / "index.html").is_file():
        click.echo(
            f"note: {config.output_dir} has no index.html yet; run `publish build` to serve the archive", err=True
        )
    try:
        server = make_server(create_app(config), host, port)
    except OSError as exc:
        raise _listen_error(exc, host, port) from None
    click.echo(
        f"serving {config.site.title} on http://{host}:{server.server_port}/ (paths as under {config.site.url}); Ctrl-C stops",
        err=True,
    )
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
        return PublishError(
            f"port {port} needs more privileges than this user has", hint="choose one above 1023 with --port"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return PublishError(
            f"{host} is not an address of this machine",
            hint="use --host 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
        )
    if isinstance(exc, socket.gaierror):
        return PublishError(
            f"cannot resolve --host {host!r}: {exc.strerror}", hint="give an IP address or a host name of this machine"
        )
    return PublishError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="check --host and --port")

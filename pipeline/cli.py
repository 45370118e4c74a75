"""The `publish` command: thin wrappers over library functions.

This is the one place that turns exceptions into messages and exit codes: 1 for a failure
the user can fix, 2 for bad usage. Heavy modules are imported inside the commands so that
`publish --help` starts fast.
"""

from __future__ import annotations

import sys
from datetime import date
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
@pass_ctx
def check(obj: Context, issue_ids: tuple[str, ...], strict: bool) -> None:
    """Check issues against the format and report every problem at once."""
    from .check import check_issues

    report = check_issues(obj.config, list(issue_ids) or None)
    echo_problems(report.problems, Path.cwd())
    for line in report.notes:
        click.echo(line)
    errors, warnings = len(report.errors), len(report.warnings)
    click.echo(f"{report.issue_count} issue(s) checked: {errors} error(s), {warnings} warning(s)")
    if errors or (strict and warnings):
        sys.exit(1)


@cli.command()
@click.argument("issue_ids", nargs=-1, metavar="[ISSUE]...")
@click.option("--force", is_flag=True, help="Render every issue again, even unchanged ones.")
@pass_ctx
def build(obj: Context, issue_ids: tuple[str, ...], force: bool) -> None:
    """Render issues to public/: pages, email, WeChat files, index and feeds."""
    from .build import build as run_build

    report = run_build(obj.config, list(issue_ids) or None, progress=_progress_printer(), force=force)
    echo_problems(report.problems, Path.cwd())
    out = obj.config.output_dir
    click.echo(f"built {len(report.built)} issue(s), {len(report.skipped)} unchanged; {len(report.written)} file(s) written to {out}")


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


@cli.command("issue")
@click.argument("issue_id", metavar="ID")
@click.option("--channel", "channels", multiple=True, metavar="NAME", help="Only this channel (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent to whom; send and record nothing.")
@click.option("--resend", is_flag=True, help="Deliver again even where the ledger says done.")
@click.option("--test-to", metavar="ADDRESS", help="Email one copy to ADDRESS; record nothing.")
@click.option("--wait", "lock_wait", type=float, default=0.0, metavar="SECONDS", help="Wait this long for another publisher's lock.")
@pass_ctx
def issue_command(obj: Context, issue_id: str, channels: tuple[str, ...], dry_run: bool, resend: bool, test_to: str | None, lock_wait: float) -> None:
    """Publish issue ID to its channels: one line per channel; exit 1 if any failed."""
    import threading

    from .loader import validate_issue_id
    from .publisher import publish_issue
    from .scheduler import _stop_on_signals

    validate_issue_id(issue_id)
    _setup_logging()
    stop = threading.Event()
    _stop_on_signals(stop)
    results = publish_issue(obj.config, issue_id, channels or None, dry_run=dry_run, resend=resend, test_to=test_to,
                            stop=stop, progress=_send_progress(), lock_wait=lock_wait)
    for result in results:
        click.echo(result.line())
        for line in result.plan:
            click.echo(f"  {line}")
    if not all(r.ok for r in results):
        sys.exit(1)


@cli.command()
@click.option("--once", is_flag=True, help="Do a single pass and exit (for cron and systemd timers).")
@click.option("--now", "now_text", metavar="ISO-TIME", hidden=True, help="Pretend the time is this (testing and replays).")
@pass_ctx
def scheduler(obj: Context, once: bool, now_text: str | None) -> None:
    """Publish each issue when its publish_at has passed; runs until SIGTERM/SIGINT."""
    from datetime import datetime

    from .scheduler import run_forever

    _setup_logging()
    clock = None
    if now_text:
        fixed = datetime.fromisoformat(now_text)
        clock = lambda: fixed  # noqa: E731
    sys.exit(run_forever(obj.config, once=once, now=clock))


@cli.command()
@click.argument("issue_id", metavar="[ID]", required=False)
@pass_ctx
def status(obj: Context, issue_id: str | None) -> None:
    """Per issue and channel: state, counts, when, remote ids and the last error."""
    from .ledger import Ledger
    from .loader import validate_issue_id

    if issue_id:
        validate_issue_id(issue_id)
    with Ledger(obj.config.state_path) as ledger:
        runs = ledger.runs(issue_id)
        if not runs:
            click.echo("nothing published yet" + (f" for {issue_id}" if issue_id else ""))
            return
        for run in runs:
            counts = ledger.counts(run.issue_id, run.channel)
            when = run.finished_at or run.started_at or "-"
            click.echo(f"{run.issue_id}  {run.channel:<10} {run.state:<8} sent {counts['sent']}, failed {counts['failed']}, pending {counts['pending']}  {when}")
            for key, value in sorted(run.remote.items()):
                click.echo(f"    {key}: {value}")
            error = run.last_error or ledger.last_error(run.issue_id, run.channel)
            if error:
                click.echo(f"    last error: {error}")


def _setup_logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


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
        click.echo(f"wrote {len(result.issues[0].papers)} entries to {output}")


# Commands of the publishing, subscriber and paper modules are registered below this line.


def main() -> None:
    """Console entry point: run the CLI and map errors to messages and exit codes."""
    try:
        code = cli.main(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except IssueError as exc:
        echo_problems(exc.problems, Path.cwd())
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except PublishError as exc:
        click.echo(f"Error: {exc}", err=True)
        if exc.hint:
            click.echo(f"Hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)

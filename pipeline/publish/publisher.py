"""load → render → claim → deliver → record: the one function `publish issue` and the scheduler share."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from pipeline.build.builder import build
from pipeline.channels import channel_class, mailing_channels
from pipeline.channels.base import Job, Result
from pipeline.config import Config, require_env
from pipeline.errors import IssueError, Problem, PublishError, UsageError
from pipeline.ledger import Ledger, local_time
from pipeline.load.folders import issue_folders
from pipeline.load.issues import load_issue
from pipeline.load.text import example_text_left
from pipeline.model import Issue
from pipeline.publish.locks import channel_lock

log = logging.getLogger("pipeline.publish")

EXAMPLE_TEXT_HINT = "write your own text in those places or delete it"


def load_one(config: Config, issue_id: str, problems: list[Problem] | None = None) -> Issue:
    """Load one issue by id (validated), raising IssueError with every problem; its warnings
    are added to ``problems`` when given."""
    [(_, folder)] = issue_folders(config, [issue_id])
    problems = [] if problems is None else problems
    issue = load_issue(folder, config, problems)
    if issue is None:
        raise IssueError(problems, f"issue {issue_id} has errors; nothing was published")
    return issue


def check_channel_names(config: Config, names: Iterable[str] | None) -> None:
    """Refuse a --channel that config.yaml does not define (a usage error, exit 2)."""
    for name in names or ():
        if name not in config.channels:
            raise UsageError(
                f"no channel named {name!r} in {config.path.name}",
                hint=f"configured channels: {', '.join(config.channels) or 'none'}",
            )


def select_channels(config: Config, issue: Issue, names: Iterable[str] | None = None) -> list[str]:
    """The channels named on the command line, else the issue's own list, else all configured."""
    names = list(names or [])
    check_channel_names(config, names)
    if names:
        return names
    if issue.channels is not None:
        return list(issue.channels)
    return list(config.channels)


def publish_issue(
    config: Config,
    issue_id: str,
    channels: Iterable[str] | None = None,
    *,
    dry_run: bool = False,
    resend: bool = False,
    test_to: str | None = None,
    now: datetime | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    lock_wait: float = 0.0,
    early: bool = False,
    warn: Callable[[list[Problem]], None] | None = None,
) -> list[Result]:
    """Build the issue and deliver it to each selected channel; one Result per channel.

    A draft is refused, so is an issue that still holds example text from `publish new`, and
    so is one whose publish_at is still ahead unless ``early`` (``--now``): the scheduler
    sends it then. A dry run refuses them too, as it reports what the real run would do;
    ``test_to`` previews any of them. ``warn`` is handed the issue's warnings (what
    `publish check ID` reports) before anything is sent.
    """
    now = now or datetime.now(timezone.utc)
    check_channel_names(config, channels)  # a typo is a usage error before any other verdict
    build(config, [issue_id], now=now)
    loaded: list[Problem] = []
    issue = load_one(config, issue_id, loaded)
    names = select_channels(config, issue, channels)
    if test_to:
        names = _email_channels(config, issue, names, chosen=bool(channels))
    leftovers = example_text_left(issue)
    if warn is not None:
        warn(_other_warnings(config, issue, loaded, leftovers if not test_to else []))
    if not test_to:
        refuse_unready(issue, now, early, leftovers)
    stop = stop or threading.Event()
    with Ledger(config.state_path) as ledger:
        return [
            _publish_on(
                config,
                ledger,
                issue,
                name,
                dry_run=dry_run,
                resend=resend,
                test_to=test_to,
                stop=stop,
                progress=progress,
                lock_wait=lock_wait,
            )
            for name in names
            if not stop.is_set()
        ]


def refuse_unready(issue: Issue, now: datetime, early: bool = False, leftovers: list[Problem] | None = None) -> None:
    """Raise PublishError when the issue is a draft, still holds example text (``leftovers``,
    from :func:`example_text_left`), or is not yet due and ``early`` is not set."""
    if issue.draft:
        raise PublishError(
            f"{issue.id} is a draft (draft: true in issue.yaml); drafts are never published",
            hint="remove `draft: true` when it is ready; `--test-to ADDRESS` mails you a copy to check first",
        )
    if leftovers:
        # Before the schedule: "the scheduler sends it then" would be untrue, it refuses too.
        error = IssueError(
            leftovers,
            f"{issue.id} still holds example text from `publish new` ({_places(leftovers)}); nothing was published",
        )
        error.hint = (
            f"{EXAMPLE_TEXT_HINT}, then `publish check {issue.id}`; `--test-to ADDRESS` mails you a preview as it is"
        )
        raise error
    if issue.publish_at > now and not early:
        raise PublishError(
            f"{issue.id} is scheduled for {_when(issue.publish_at)}; the scheduler sends it then",
            hint="to send it now, add --now",
        )


def _places(problems: list[Problem]) -> str:
    """``issue.yaml:2, 01-example.md:11``: where, in a message that names the issue already."""
    return ", ".join(f"{Path(p.path).name}:{p.line}" if p.line else Path(p.path).name for p in problems)


def _other_warnings(config: Config, issue: Issue, loaded: list[Problem], refused: list[Problem]) -> list[Problem]:
    """The issue's warnings as `publish check ID` gives them, less those at the places that
    ``refused`` reports as errors (the loader warns about example text too). ``loaded``: the
    loader's own warnings for this issue, so that it is not loaded a second time."""
    from pipeline.build.check import CheckReport, check_rendered
    from pipeline.load.issues import warn_repeated_papers

    report = CheckReport(issues=[issue], problems=list(loaded))
    warn_repeated_papers(config, report)
    check_rendered(config, report)
    taken = {(Path(p.path).resolve(), p.line) for p in refused}
    folder = issue.folder.resolve()
    return [
        p
        for p in report.warnings
        if Path(p.path).resolve().is_relative_to(folder) and (Path(p.path).resolve(), p.line) not in taken
    ]


def _email_channels(config: Config, issue: Issue, names: list[str], chosen: bool) -> list[str]:
    """The email channels among ``names``, for --test-to; a usage error that says why when none."""
    mail = mailing_channels(config, names)
    if mail:
        return mail
    configured = mailing_channels(config)
    if not configured:
        raise UsageError("--test-to needs an email channel", hint="configure a channel with type: email")
    pick = f"--channel {configured[0]}"
    if chosen:
        raise UsageError(
            f"--test-to mails a copy through an email channel, and the selected channels ({', '.join(names)}) include none",
            hint=f"drop --channel, or pick the email channel: {pick}",
        )
    raise UsageError(
        f"--test-to mails a copy through an email channel, and {issue.id}'s channels (channels: in issue.yaml: {', '.join(names)}) include none",
        hint=f"add {pick} to preview it anyway",
    )


def _when(moment: datetime) -> str:
    """``2026-11-24 08:00 +08:00``: the issue's own offset, as issue.yaml and the site's zone give it."""
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:5]}" if offset else f"{moment:%Y-%m-%d %H:%M}"


def _publish_on(
    config: Config,
    ledger: Ledger,
    issue: Issue,
    name: str,
    *,
    dry_run: bool,
    resend: bool,
    test_to: str | None,
    stop: threading.Event,
    progress: Callable[[str, int, int], None] | None,
    lock_wait: float,
) -> Result:
    settings = config.channels[name]
    channel = channel_class(settings.type)()
    job = Job(
        issue=issue,
        channel=name,
        config=config,
        options=settings.options,
        ledger=ledger,
        outputs=config.output_dir / "issues" / issue.id,
        dry_run=dry_run,
        resend=resend,
        test_to=test_to,
        stop=stop,
        log=logging.getLogger(f"pipeline.channel.{name}"),
        progress=(lambda done, total: progress(name, done, total)) if progress else None,
    )
    if dry_run:
        return _dry_run(channel, job)
    if test_to:
        return _attempt(channel, job, record=False)
    if not resend and channel.is_done(job):
        return Result(name, "already done", _done_detail(ledger, issue.id, name, config.site.tz))
    with channel_lock(config.state_dir, issue.id, name, wait=lock_wait):
        if resend:
            ledger.reset(issue.id, name)
        elif channel.is_done(job):  # another process finished it while we waited
            return Result(name, "already done", _done_detail(ledger, issue.id, name, config.site.tz))
        ledger.start_run(issue.id, name, content_hash(job, channel.sends))
        result = _attempt(channel, job, record=True)
        state = {"done": "done", "partial": "partial", "paused": "paused", "stopped": "running"}.get(
            result.status, "failed"
        )
        ledger.finish_run(issue.id, name, state, None if result.status == "done" else result.detail)
        return result


def _dry_run(channel, job: Job) -> Result:
    """What the real run would do on this channel: already done, send (to whom), or fail (why)."""
    try:
        require_env(job.config.channels[job.channel])  # the real run would stop at a missing ${VAR}
        if job.test_to:
            return Result(job.channel, "would send", plan=_test_plan(job))
        if not job.resend and channel.is_done(job):
            # The plan is kept for callers who want it; there is nothing to send.
            return Result(
                job.channel,
                "already done",
                _done_detail(job.ledger, job.issue.id, job.channel, job.config.site.tz),
                plan=channel.plan(job),
            )
        return Result(job.channel, "would send", plan=channel.plan(job))
    except PublishError as exc:  # e.g. a ${VAR} the channel needs is not set
        return Result(job.channel, "failed", _reason(exc))


def _test_plan(job: Job) -> list[str]:
    """--dry-run --test-to: the one address, not the subscriber list."""
    from pipeline.audience.recipients import normalise
    from pipeline.mail.transports import transport_label

    address = normalise(job.test_to or "")
    if address is None:
        raise UsageError(f"--test-to {job.test_to!r} is not an email address")
    return [
        f"would send one test copy to {address} via {transport_label(job.config, job.options)}; nothing recorded",
        f"subject: {job.issue.title}",
    ]


def _reason(exc: PublishError) -> str:
    """The message and, when there is one, what to do: ``what is wrong — what to do``."""
    return f"{exc} — {exc.hint}" if exc.hint else str(exc)


def _attempt(channel, job: Job, record: bool) -> Result:
    """Run one delivery; a failure becomes a Result with its reason, never an escaped exception."""
    try:
        return channel.deliver(job)
    except PublishError as exc:  # the user's to fix (a refused send, a ${VAR} not set): no traceback
        return Result(job.channel, "failed", _reason(exc))
    except Exception as exc:  # a bug must not stop the other channels; the log has the traceback
        job.log.exception("channel %s crashed on %s", job.channel, job.issue.id)
        return Result(job.channel, "failed", f"internal error: {type(exc).__name__}: {exc}")


def content_hash(job: Job, names: Iterable[str]) -> str:
    """Hash of the built outputs a channel sends, recorded with the run."""
    digest = hashlib.sha256()
    for name in names:
        path = job.outputs / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _done_detail(ledger: Ledger, issue_id: str, channel: str, zone: tzinfo) -> str:
    run = ledger.run(issue_id, channel)
    counts = ledger.counts(issue_id, channel)
    parts = [f"at {local_time(run.finished_at, zone)}"] if run and run.finished_at else []
    if counts["sent"]:
        parts.append(f"{counts['sent']} sent")
    return ", ".join(parts)

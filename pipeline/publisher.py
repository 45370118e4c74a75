"""load → render → claim → deliver → record: the one function `publish issue` and the scheduler share."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from .build import build
from .channels import channel_class
from .channels.base import Job, Result
from .config import Config
from .errors import ChannelError, IssueError, Problem, UsageError
from .ledger import Ledger
from .folders import issue_folders
from .loader import load_issue
from .locks import channel_lock
from .model import Issue

log = logging.getLogger("pipeline.publish")


def load_one(config: Config, issue_id: str) -> Issue:
    """Load one issue by id (validated), raising IssueError with every problem."""
    [(_, folder)] = issue_folders(config, [issue_id])
    problems: list[Problem] = []
    issue = load_issue(folder, config, problems)
    if issue is None:
        raise IssueError(problems, f"issue {issue_id} has errors; nothing was published")
    return issue


def select_channels(config: Config, issue: Issue, names: Iterable[str] | None = None) -> list[str]:
    """The channels named on the command line, else the issue's own list, else all configured."""
    names = list(names or [])
    for name in names:
        if name not in config.channels:
            raise UsageError(f"no channel named {name!r} in {config.path.name}", hint=f"configured channels: {', '.join(config.channels) or 'none'}")
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
) -> list[Result]:
    """Build the issue and deliver it to each selected channel; one Result per channel."""
    now = now or datetime.now(timezone.utc)
    build(config, [issue_id], now=now)
    issue = load_one(config, issue_id)
    if issue.draft and not (dry_run or test_to):
        raise UsageError(f"issue {issue_id} is a draft (draft: true in issue.yaml); drafts are never published", hint="remove `draft: true` when it is ready, or use --dry-run / --test-to to preview")
    names = select_channels(config, issue, channels)
    if test_to:
        names = [n for n in names if config.channels[n].type == "email"]
        if not names:
            raise UsageError("--test-to needs an email channel", hint="configure a channel with type: email")
    stop = stop or threading.Event()
    with Ledger(config.state_path) as ledger:
        return [
            _publish_on(config, ledger, issue, name, dry_run=dry_run, resend=resend, test_to=test_to, stop=stop, progress=progress, lock_wait=lock_wait)
            for name in names
            if not stop.is_set()
        ]


def _publish_on(config: Config, ledger: Ledger, issue: Issue, name: str, *, dry_run: bool, resend: bool, test_to: str | None,
                stop: threading.Event, progress: Callable[[str, int, int], None] | None, lock_wait: float) -> Result:
    settings = config.channels[name]
    channel = channel_class(settings.type)()
    job = Job(
        issue=issue, channel=name, config=config, options=settings.options, ledger=ledger,
        outputs=config.output_dir / "issues" / issue.id, dry_run=dry_run, resend=resend, test_to=test_to, stop=stop,
        log=logging.getLogger(f"pipeline.channel.{name}"),
        progress=(lambda done, total: progress(name, done, total)) if progress else None,
    )
    if dry_run:
        return Result(name, "would send", plan=channel.plan(job))
    if test_to:
        return _attempt(channel, job, record=False)
    if not resend and channel.is_done(job):
        return Result(name, "already done", _done_detail(ledger, issue.id, name))
    with channel_lock(config.state_dir, issue.id, name, wait=lock_wait):
        if resend:
            ledger.reset(issue.id, name)
        elif channel.is_done(job):  # another process finished it while we waited
            return Result(name, "already done", _done_detail(ledger, issue.id, name))
        ledger.start_run(issue.id, name, content_hash(job, channel.sends))
        result = _attempt(channel, job, record=True)
        state = {"done": "done", "partial": "partial", "paused": "paused", "stopped": "running"}.get(result.status, "failed")
        ledger.finish_run(issue.id, name, state, None if result.status == "done" else result.detail)
        return result


def _attempt(channel, job: Job, record: bool) -> Result:
    """Run one delivery; a failure becomes a Result with its reason, never an escaped exception."""
    try:
        return channel.deliver(job)
    except ChannelError as exc:
        return Result(job.channel, "failed", str(exc))
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


def _done_detail(ledger: Ledger, issue_id: str, channel: str) -> str:
    run = ledger.run(issue_id, channel)
    counts = ledger.counts(issue_id, channel)
    parts = [f"at {run.finished_at}"] if run and run.finished_at else []
    if counts["sent"]:
        parts.append(f"{counts['sent']} sent")
    return ", ".join(parts)

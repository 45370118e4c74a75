"""`publish scheduler`: a `schedule` loop that publishes each issue when it is due.

It keeps no state of its own: every pass asks the ledger what is done. An issue due longer
ago than ``schedule.catch_up`` that was never sent on a channel is recorded as skipped there
(think of a new channel added to a folder with a two-year archive); `publish issue` sends it
on purpose. A failed send is retried on every pass until it is that late; then it waits for a person. The feed channel is never skipped: the feeds always reflect every past issue.
A due issue that still holds example text from `publish new` is refused on every pass (and
logged) until someone writes it; the other issues go on.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pipeline.build.builder import build
from pipeline.build.state import Manifest
from pipeline.channels import channel_class
from pipeline.config import Config
from pipeline.errors import IssueError, Problem, PublishError
from pipeline.ledger import Ledger, local_time
from pipeline.load.folders import is_draft, issue_folders
from pipeline.load.issues import load_issue
from pipeline.publish.publisher import EXAMPLE_TEXT_HINT, example_text_left, load_one, publish_issue, select_channels
from pipeline.render.context import Card

log = logging.getLogger("pipeline.scheduler")


@dataclass(frozen=True)
class PassEntry:
    issue_id: str
    channel: str
    status: str  # a Result status, "skipped", or "refused" (example text left in the issue)
    detail: str = ""

    @property
    def failed(self) -> bool:
        """Whether a person must act: the issue did not (fully) go out and will not by itself."""
        return self.status in ("failed", "partial", "paused", "refused")

    def line(self) -> str:
        return f"{self.issue_id} {self.channel}: {self.status}" + (f": {self.detail}" if self.detail else "")


def run_pass(config: Config, now: datetime | None = None, stop: threading.Event | None = None) -> list[PassEntry]:
    """One pass: build, then publish every due issue on every channel not yet done."""
    now = now or datetime.now(timezone.utc)
    stop = stop or threading.Event()
    try:
        problems = build(config, now=now).problems
    except IssueError as exc:
        # One broken folder (say, next week's issue half written) must not hold back the due
        # ones: each publish builds its own issue, and the broken one is reported and left out.
        problems = exc.problems
    for problem in problems:
        log.warning("%s", problem.format())
    entries: list[PassEntry] = []
    cards = Manifest(config).issues
    with Ledger(config.state_path) as ledger:
        for issue_id, _ in issue_folders(config):
            if stop.is_set():
                break
            if _may_need_work(config, ledger, cards.get(issue_id), now):
                entries.extend(_due_work(config, ledger, issue_id, now, stop))
    return entries


def _may_need_work(config: Config, ledger: Ledger, entry: dict | None, now: datetime) -> bool:
    """Whether an issue must be loaded: not when the build's card shows it is a draft or not
    yet due, or when every configured channel is already done or skipped for it. Parsing a
    whole archive on every poll would be the scheduler's main cost."""
    if entry is None:
        return True  # not built (e.g. invalid): load it, and let the problem be logged
    card = Card.from_json(entry["card"])
    if card.draft or card.published > now:
        return False
    for name in config.channels:
        run = ledger.run(card.id, name)
        if run is None or run.state not in ("done", "skipped"):
            return True
    return False


def _due_work(config: Config, ledger: Ledger, issue_id: str, now: datetime, stop: threading.Event) -> list[PassEntry]:
    try:
        issue = load_one(config, issue_id)
    except PublishError as exc:
        log.warning("%s: not published: %s", issue_id, exc)
        return []
    if issue.draft or issue.publish_at > now:
        return []
    leftovers = example_text_left(issue)
    entries, refused = [], []
    for name in select_channels(config, issue):
        run = ledger.run(issue.id, name)
        if run is not None and run.state in ("done", "skipped"):
            continue
        if run is not None and run.state == "paused":  # too many failures: a person decides, not the timer
            entries.append(
                PassEntry(issue.id, name, "paused", f"resume with `publish issue {issue.id} --channel {name}`")
            )
            continue
        late = (
            now - issue.publish_at > config.catch_up and not channel_class(config.channels[name].type).mirrors_archive
        )
        if run is not None and run.state == "failed" and late:
            # Retried pass after pass while the issue is fresh; past the window (say, a
            # `--resend` of an old issue that failed) a person decides, or the timer would
            # send an old issue to whoever subscribed since.
            entries.append(
                PassEntry(
                    issue.id,
                    name,
                    "failed",
                    f"not retried: due more than {_human(config.catch_up)} ago; retry with `publish issue {issue.id} --channel {name}`",
                )
            )
            continue
        if run is None and late:
            due = local_time(issue.publish_at.isoformat(), config.site.tz)
            reason = f"due {due}, more than {_human(config.catch_up)} ago; send it with `publish issue {issue.id} --channel {name}`"
            ledger.mark_skipped(issue.id, name, reason)
            entries.append(PassEntry(issue.id, name, "skipped", reason))
            continue
        if leftovers:  # nothing recorded: once the text is written, the next pass sends it
            refused.append(name)
            continue
        try:
            for result in publish_issue(config, issue.id, [name], now=now, stop=stop):
                entries.append(PassEntry(issue.id, name, result.status, result.detail))
        except PublishError as exc:
            entries.append(PassEntry(issue.id, name, "failed", str(exc)))
    if refused:
        places = ", ".join(_place(config, problem) for problem in leftovers)
        entries.append(
            PassEntry(
                issue.id,
                ", ".join(refused),
                "refused",
                f"still holds example text from `publish new` at {places}; {EXAMPLE_TEXT_HINT}; nothing was sent",
            )
        )
    return entries


def _place(config: Config, problem: Problem) -> str:
    """``issues/2026-11-21/issue.yaml:2``: relative to the config's folder, as `publish check` run there shows it."""
    path = Path(problem.path)
    with contextlib.suppress(ValueError, OSError, RuntimeError):  # the link as made, not its target
        path = (path.parent.resolve() / path.name).relative_to(config.path.parent.resolve())
    return f"{path}:{problem.line}" if problem.line else str(path)


@dataclass(frozen=True)
class Upcoming:
    """An issue with nothing in the ledger yet, as `publish status` shows it."""

    issue_id: str
    channels: str  # "(all channels)", or the issue's own list: "(feed, email)"
    state: str  # scheduled | due | refused | draft | invalid | not sent
    due: str  # publish_at in the site's zone, "-" when unknown
    note: str = ""


def upcoming(config: Config, ledger: Ledger, now: datetime, issue_id: str | None = None) -> list[Upcoming]:
    """The issues not in the ledger yet that the scheduler will send (or would, but for a
    problem), oldest first; with ``issue_id``, that one issue whatever its state.

    Without an id only folders dated from the catch-up window on are read: older ones the
    scheduler records as skipped, and loading a whole archive would make `status` slow.
    """
    sent = {run.issue_id for run in ledger.runs(issue_id)}
    since = (now - config.catch_up).astimezone(config.site.tz).date() - timedelta(days=1)
    found = []
    for name, folder in issue_folders(config, [issue_id] if issue_id else None):
        if name in sent or (issue_id is None and (is_draft(folder) or date.fromisoformat(name[:10]) < since)):
            continue
        entry = _upcoming(config, name, folder, now, listed=issue_id is None)
        if entry is not None:
            found.append(entry)
    return found


def _upcoming(config: Config, name: str, folder: Path, now: datetime, listed: bool) -> Upcoming | None:
    problems: list[Problem] = []
    issue = load_issue(folder, config, problems)
    if issue is None:
        return Upcoming(
            name, "(all channels)", "invalid", "-", f"not sent while it has errors: run `publish check {name}`"
        )
    channels = f"({', '.join(issue.channels)})" if issue.channels is not None else "(all channels)"
    due = local_time(issue.publish_at.isoformat(), config.site.tz)
    if issue.draft:
        return Upcoming(name, channels, "draft", due, "never sent while `draft: true` is in issue.yaml")
    leftovers = example_text_left(issue)
    places = ", ".join(_place(config, problem) for problem in leftovers)
    if leftovers and issue.publish_at <= now:
        return Upcoming(
            name,
            channels,
            "refused",
            due,
            f"still holds example text from `publish new` at {places}; {EXAMPLE_TEXT_HINT}",
        )
    if issue.publish_at > now:
        if leftovers:
            note = f"holds example text from `publish new` at {places}: it will be refused then; {EXAMPLE_TEXT_HINT}"
        else:
            note = "" if listed else f"the scheduler sends it then; `publish issue {name} --now` sends it now"
        return Upcoming(name, channels, "scheduled", due, note)
    if now - issue.publish_at <= config.catch_up:
        return Upcoming(name, channels, "due", due, "" if listed else "the scheduler sends it on its next pass")
    if listed:
        return None
    return Upcoming(
        name,
        channels,
        "not sent",
        due,
        f"due more than {_human(config.catch_up)} ago: the scheduler leaves it; `publish issue {name}` sends it",
    )


def _human(span: timedelta) -> str:
    """2 days, 36 hours, 90 minutes: the catch-up window as a person would say it."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def run_forever(
    config: Config, once: bool = False, now: Callable[[], datetime] | None = None, stop: threading.Event | None = None
) -> int:
    """Run passes every ``schedule.poll`` seconds until SIGTERM/SIGINT (or once). Returns the exit code."""
    import schedule

    stop = stop or threading.Event()
    clock = now or (lambda: datetime.now(timezone.utc))

    def job() -> bool:
        """One pass, each entry logged; False when something failed that a person must see to."""
        try:
            entries = run_pass(config, clock(), stop)
        except PublishError as exc:  # e.g. a ledger that cannot be opened: one line, the loop goes on
            log.error("scheduler pass failed: %s", f"{exc} — {exc.hint}" if exc.hint else exc)
            return False
        except Exception:  # a job error is logged and the loop goes on
            log.exception("scheduler pass failed")
            return False
        for entry in entries:
            log.log(logging.WARNING if entry.failed else logging.INFO, "%s", entry.line())
        return not any(entry.failed for entry in entries)

    if once:  # for cron: exit 1 when this pass failed anywhere, so that it is noticed
        return 0 if job() else 1
    stop_on_signals(stop)
    scheduler = schedule.Scheduler()
    scheduler.every(config.poll_seconds).seconds.do(job)
    log.info("scheduler started: a pass every %ss", int(config.poll_seconds))
    job()
    while not stop.is_set():
        scheduler.run_pending()
        stop.wait(timeout=min(1.0, max(scheduler.idle_seconds or 1.0, 0.05)))
    log.info("scheduler stopped")
    return 0


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT: let the message in flight finish and be recorded, then exit 0."""

    def handler(signum: int, _frame: object) -> None:
        log.info("received %s: finishing the message in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

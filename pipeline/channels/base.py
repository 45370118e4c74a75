"""The one interface every channel implements, and what it is handed for one issue.

A channel receives an already-built issue (its rendered files under ``public/issues/<id>/``)
and delivers it; it never parses YAML or renders templates. The publisher wraps every call:
it takes the lock, records the run in the ledger and turns exceptions into results, so a
channel only reports what happened.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pipeline.config import Config, Options
from pipeline.ledger import Ledger
from pipeline.model import Issue


@dataclass
class Job:
    """One issue to deliver on one channel."""

    issue: Issue
    channel: str  # the channel's name in config.yaml
    config: Config
    options: Options
    ledger: Ledger
    outputs: Path  # public/issues/<id>/, already built
    dry_run: bool = False
    resend: bool = False
    test_to: str | None = None  # email only: one copy to this address, nothing recorded
    stop: threading.Event = field(default_factory=threading.Event)  # set on SIGTERM: finish in-flight work and return
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("pipeline"))
    progress: Callable[[int, int], None] | None = None  # (done, total) for a progress display

    def read(self, name: str) -> bytes:
        """A built output of the issue, e.g. ``email.html``."""
        return (self.outputs / name).read_bytes()


@dataclass
class Result:
    """What happened on one channel: ``status`` is one of STATUSES, ``detail`` says more."""

    channel: str
    status: str
    detail: str = ""
    plan: list[str] = field(default_factory=list)  # dry run: what would be sent to whom

    STATUSES: ClassVar[tuple[str, ...]] = (
        "done",
        "already done",
        "failed",
        "partial",
        "paused",
        "skipped",
        "would send",
        "stopped",
    )

    @property
    def ok(self) -> bool:
        return self.status in ("done", "already done", "skipped", "would send")

    def line(self) -> str:
        text = f"{self.channel}: {self.status}"
        return f"{text}: {self.detail}" if self.detail else text


class Channel(ABC):
    """Base of every channel. Subclasses set ``type`` and implement the three methods."""

    type: ClassVar[str]
    # Outputs whose bytes define "the content" the ledger hashes (a change is noticed, not resent).
    sends: ClassVar[tuple[str, ...]] = ()
    # Sends to a subscriber list: it takes --test-to, and the web endpoint's signups join it.
    mails_subscribers: ClassVar[bool] = False
    # Shows the whole archive, so bringing an old issue to it is never a surprise: the
    # scheduler's catch-up window (old issues are not sent on their own) does not apply.
    mirrors_archive: ClassVar[bool] = False

    @abstractmethod
    def plan(self, job: Job) -> list[str]:
        """Lines saying what ``deliver`` would send to whom (for --dry-run); sends nothing."""

    @abstractmethod
    def deliver(self, job: Job) -> Result:
        """Deliver the issue; record per-recipient outcomes in ``job.ledger`` as they happen.

        Raise ChannelError (or TemporaryChannelError) for a failure of the whole channel.
        Return Result(status="done") only when everything is delivered; "partial" with a
        reason when some recipients failed; "stopped" when ``job.stop`` cut the work short.
        """

    def is_done(self, job: Job) -> bool:
        """Whether the ledger says this issue is already delivered here (default: the run is done)."""
        run = job.ledger.run(job.issue.id, job.channel)
        return run is not None and run.state == "done"

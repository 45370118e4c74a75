"""The exceptions the pipeline raises, and the one shape a user-facing problem takes.

Library code raises these; only ``cli.py`` turns them into messages and exit codes.

    PublishError                 base: a problem the user can act on (exit 1)
    ├── UsageError               bad command-line input, e.g. an invalid issue id (exit 2)
    ├── ConfigError              config.yaml is missing, malformed or names a missing ${VAR}
    ├── IssueError               one or more issue folders are invalid; carries .problems
    ├── RenderError              a template or converter failed on valid input
    ├── ChannelError             a channel could not deliver (the reason is in the message)
    │   └── TemporaryChannelError  the remote said "try again later" (retried with backoff)
    ├── LedgerError              the state database is unusable
    └── LockBusy                 another process is publishing the same issue+channel
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One finding about the input: where it is, what is wrong and how bad it is."""

    path: Path | str
    line: int | None
    message: str
    severity: str = "error"  # "error" or "warning"
    # What kind of finding, for code that acts on some kinds (e.g. the publisher refuses
    # SCAFFOLD_TEXT); None for most. Never shown: the message is what people read.
    code: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def format(self, relative_to: Path | None = None) -> str:
        """Render as ``path:line: severity: message`` (line left out when unknown)."""
        path = Path(self.path)
        if relative_to is not None:
            try:
                path = path.resolve().relative_to(relative_to.resolve())
            except ValueError:
                pass
        where = f"{path}:{self.line}" if self.line else f"{path}"
        return f"{where}: {self.severity}: {self.message}"


# Problem.code of scaffold example text left in an issue: published, it would reach readers.
SCAFFOLD_TEXT = "scaffold-text"


class PublishError(Exception):
    """Base of every error that is the user's to fix, not a bug."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class UsageError(PublishError):
    exit_code = 2


class ConfigError(PublishError):
    pass


class IssueError(PublishError):
    """Invalid issue content; ``problems`` lists every finding, errors and warnings."""

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        errors = [p for p in problems if p.is_error]
        super().__init__(message or f"{len(errors)} error(s) in the issues")
        self.problems = problems


class RenderError(PublishError):
    pass


class ChannelError(PublishError):
    pass


class TemporaryChannelError(ChannelError):
    """The remote asked us to come back later (SMTP 4xx, HTTP 429/5xx, WeChat -1)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LedgerError(PublishError):
    pass


class LockBusy(PublishError):
    pass

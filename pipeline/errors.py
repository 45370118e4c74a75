"""The exceptions the pipeline raises, and the one shape a user-facing problem takes.

Library code raises these; only ``pipeline.cli`` turns them into messages and exit codes.
Every exception class of the package is in this tree (``tests/test_architecture.py`` checks
it against the code): those under PublishError reach the user as ``error: … — hint``; the
others never leave the stage that raises them, which turns each into a result, a Problem
with ``file:line`` or a PublishError.

    Exception
    ├── PublishError                 base: a problem the user can act on (exit 1)
    │   ├── UsageError               bad command-line input, e.g. an invalid issue id (exit 2)
    │   │   └── InvalidAddress       an email address that cannot be used (audience.subscribers)
    │   ├── ConfigError              config.yaml is missing, malformed or names a missing ${VAR}
    │   ├── IssueError               one or more issue folders are invalid; carries .problems
    │   ├── RenderError              a template or converter failed on valid input
    │   ├── ChannelError             a channel could not deliver (the reason is in the message)
    │   │   ├── TemporaryChannelError  the remote said "try again later" (retried with backoff)
    │   │   └── WechatError          the WeChat API answered an errcode (channels.wechat_api)
    │   ├── LedgerError              the state database is unusable
    │   ├── LockBusy                 another process is publishing the same issue+channel
    │   ├── CsvFileError             a subscribers CSV that cannot be read; names file and line (audience.csvfile)
    │   ├── ArxivError               the arXiv API gave no usable record (authoring.arxiv)
    │   └── PaperError               some papers given to `publish add` were not added (authoring.add)
    ├── YamlSyntaxError              yamlio: becomes a Problem at the file's line
    ├── UnreadableFile               atomic: a file the reading rule refuses (a link out, a pipe, too large); a Problem
    ├── NotAReport                   audience.bounces: a message that is no DSN or complaint; skipped
    ├── Temporary                    mail.transports: SMTP 4xx or a dropped connection; retried
    ├── Permanent                    mail.transports: SMTP 5xx; that recipient fails
    ├── Fatal                        mail.transports: nothing can be sent until the settings are fixed
    │   └── Unreachable              the server could not be reached; the send stops in seconds
    ├── Stopped                      channels.http: SIGTERM while waiting to retry; resumed next run
    └── BadRequest                   web.files: a request the endpoint cannot read; an HTTP 4xx answer
"""

from __future__ import annotations

import contextlib
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
            # The folder resolved, not the file: a link is shown as the link the editor made
            # (and a link loop or a link to nothing cannot make this fail).
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                path = (path.parent.resolve() / path.name).relative_to(relative_to.resolve())
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

"""Who gets an issue's email: the subscribers CSV (or the ledger's table), streamed, never held.

The CSV has a header row with an ``email`` column and optional ``name`` and ``status``
columns. Rows whose status is not active (unsubscribed, bounced, …) are skipped, and so is
every address the ledger suppresses: a re-imported CSV that still says ``active`` cannot
undo an unsubscription. Addresses are normalised (spaces stripped, lower-cased, domain
IDNA-encoded) the way :mod:`pipeline.subscribers` stores them, so a suppression always
matches; duplicates are merged by the ledger's snapshot, whose key is the address. A
malformed file is refused with its path and line before anything is sent. Encodings and
delimiters are those :mod:`pipeline.subscriber_csv` reads (UTF-8, UTF-16; ``,`` ``;`` tab).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import Config, Options
from .errors import ChannelError
from .ledger import Ledger
from .subscriber_csv import CsvFileError, read_rows
from .subscribers import InvalidAddress, active, clean_name, get, import_csv, normalize_address

DATABASE = "database"
SENDABLE = ("", "active", "subscribed", "confirmed")
KNOWN = (*SENDABLE, "unsubscribed", "bounced", "complained", "pending")
SOURCE_HINT = "set `subscribers:` in the email channel to a CSV with email,name columns, or `database`"


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""


@dataclass
class Tally:
    """What reading the list skipped, for the dry-run plan and the summary."""

    inactive: int = 0  # status column says unsubscribed/bounced/…
    suppressed: int = 0  # the ledger says unsubscribed/bounced/complained

    @property
    def skipped(self) -> int:
        return self.inactive + self.suppressed


def normalise(address: str) -> str | None:
    """``" Zhang.Wei@Example.COM "`` → ``"zhang.wei@example.com"``; None when it is not an address."""
    try:
        return normalize_address(address)
    except InvalidAddress:
        return None


def subscribers_source(config: Config, options: Options) -> str | Path:
    """``database`` or the resolved path of the subscribers CSV."""
    value = options.get("subscribers", "subscribers.csv")
    return DATABASE if value == DATABASE else config.root / value


def iter_recipients(config: Config, options: Options, ledger: Ledger, tally: Tally | None = None, merge: bool = True) -> Iterator[Recipient]:
    """Every sendable recipient, streamed; suppressed and inactive rows are counted in ``tally``.

    ``merge=False`` (for --dry-run) changes nothing in the ledger: the CSV's sendable rows,
    then the ledger's active subscribers, as the merge would give them.
    """
    tally = tally if tally is not None else Tally()
    source = subscribers_source(config, options)
    if source == DATABASE:
        return _database_rows(ledger)
    if not merge:
        return _preview_rows(Path(source), ledger, tally)
    # The CSV is merged into the ledger's list first (suppressions win there), on the call
    # rather than on the first next() because callers read the rows inside a transaction;
    # so people who signed up on the website are mailed too. The first pass refuses a
    # malformed file, with its line, before anything changes.
    path = Path(source)
    for recipient in _csv_rows(path):
        if recipient is None:
            tally.inactive += 1
        elif ledger.suppressed(recipient.email):
            tally.suppressed += 1
    import_csv(ledger, path)
    return _merged_rows(path, ledger)


def _merged_rows(path: Path, ledger: Ledger) -> Iterator[Recipient]:
    """The CSV's addresses still active after the merge, in file order, then every active
    subscriber of the ledger (repeats are dropped by the callers' snapshot, keyed by address)."""
    for recipient in _csv_rows(path):
        current = get(ledger, recipient.email) if recipient else None
        if current is not None and current.status == "active":
            yield Recipient(current.email, current.name)
    yield from _database_rows(ledger)


def _preview_rows(path: Path, ledger: Ledger, tally: Tally) -> Iterator[Recipient]:
    for recipient in _csv_rows(path):
        if recipient is None:
            tally.inactive += 1
        elif ledger.suppressed(recipient.email):
            tally.suppressed += 1
        else:
            yield recipient
    yield from _database_rows(ledger)


def _database_rows(ledger: Ledger) -> Iterator[Recipient]:
    for subscriber in active(ledger):
        yield Recipient(subscriber.email, subscriber.name)


def _csv_rows(path: Path) -> Iterator[Recipient | None]:
    """Recipients of a CSV file (None for a row that is not to be sent to); errors name file:line."""
    try:
        for line, row in read_rows(path, header_required=True):
            yield _row(path, line, row)
    except CsvFileError as exc:
        raise ChannelError(str(exc), hint=exc.hint or SOURCE_HINT) from None


def _row(path: Path, line: int, row: dict[str, str]) -> Recipient | None:
    """A Recipient, or None for a row that is not to be sent to."""
    raw, status = (row.get("email") or "").strip(), (row.get("status") or "").strip().lower()
    if status not in KNOWN:
        raise ChannelError(f"{path}:{line}: unknown status {status!r} (use active, unsubscribed, bounced or complained)")
    try:
        email = normalize_address(raw)
    except InvalidAddress as exc:
        raise ChannelError(f"{path}:{line}: {exc}", hint="fix or delete the line; nothing was sent") from None
    if status not in SENDABLE:
        return None
    return Recipient(email, clean_name(row.get("name")))

"""Who gets an issue's email: the subscribers CSV (or the ledger's table), streamed, never held.

The CSV has a header row with an ``email`` column and optional ``name`` and ``status``
columns. Rows whose status is not active (unsubscribed, bounced, …) are skipped, and so is
every address the ledger suppresses: a re-imported CSV that still says ``active`` cannot
undo an unsubscription. Addresses are normalised (spaces stripped, lower-cased, domain
IDNA-encoded) the way :mod:`pipeline.audience.subscribers` stores them, so a suppression always
matches; duplicates are merged by the ledger's snapshot, whose key is the address. A
malformed file is refused with its path and line before anything is sent. Encodings and
delimiters are those :mod:`pipeline.audience.csvfile` reads (UTF-8, UTF-16; ``,`` ``;`` tab).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.audience.csvfile import CsvFileError, read_rows
from pipeline.audience.subscribers import InvalidAddress, active, clean_name, counts, get, import_csv, normalize_address
from pipeline.config import Config, Options
from pipeline.errors import ChannelError
from pipeline.ledger import SUPPRESSED, Ledger

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
    """Who on the list is not mailed, and why, for the dry-run plan and the summary.

    Counted over the whole list the send reads (the ledger's subscribers after the CSV is
    merged into it), not only the CSV's rows: ``suppressed`` addresses unsubscribed, bounced
    or complained; ``unconfirmed`` ones signed up (or are ``pending`` in the CSV) and have
    not confirmed yet.
    """

    suppressed: int = 0
    unconfirmed: int = 0

    def describe(self, suppressed_later: int = 0) -> str:
        """``6 suppressed`` or ``6 suppressed, 1 not confirmed``; ``suppressed_later``
        adds the addresses suppressed while the send was running."""
        text = f"{self.suppressed + suppressed_later} suppressed"
        return f"{text}, {self.unconfirmed} not confirmed" if self.unconfirmed else text

    def count_ledger(self, ledger: Ledger) -> None:
        """Set both counts from the ledger's subscriber list as it is now."""
        by_status = counts(ledger)
        self.suppressed = sum(by_status[status] for status in SUPPRESSED)
        self.unconfirmed = by_status["pending"]


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


def iter_recipients(
    config: Config, options: Options, ledger: Ledger, tally: Tally | None = None, merge: bool = True
) -> Iterator[Recipient]:
    """Every sendable recipient, streamed; who is not mailed, and why, is counted in ``tally``.

    ``merge=False`` (for --dry-run) changes nothing in the ledger: the CSV's sendable rows,
    then the ledger's active subscribers, as the merge would give them (``tally`` is
    complete once the rows are all read).
    """
    tally = tally if tally is not None else Tally()
    source = subscribers_source(config, options)
    if source == DATABASE:
        tally.count_ledger(ledger)
        return _database_rows(ledger)
    if not merge:
        return _preview_rows(Path(source), ledger, tally)
    # The CSV is merged into the ledger's list first (suppressions win there), on the call
    # rather than on the first next() because callers read the rows inside a transaction;
    # so people who signed up on the website are mailed too. The first pass refuses a
    # malformed file, with its line, before anything changes.
    path = Path(source)
    for _ in _csv_rows(path):
        pass
    import_csv(ledger, path)
    tally.count_ledger(ledger)  # the CSV's unsubscribed/pending rows are in the ledger now
    return _merged_rows(path, ledger)


def _merged_rows(path: Path, ledger: Ledger) -> Iterator[Recipient]:
    """The CSV's addresses still active after the merge, in file order, then every active
    subscriber of the ledger (repeats are dropped by the callers' snapshot, keyed by address)."""
    for recipient, status in _csv_rows(path):
        current = get(ledger, recipient.email) if status in SENDABLE else None
        if current is not None and current.status == "active":
            yield Recipient(current.email, current.name)
    yield from _database_rows(ledger)


def _preview_rows(path: Path, ledger: Ledger, tally: Tally) -> Iterator[Recipient]:
    """What the merge would give, without making it; ``tally`` counts what it would leave out.

    The ledger's counts, corrected by each CSV address the merge would change: a new
    suppression, a new unconfirmed address, an unconfirmed one the CSV makes active.
    """
    tally.count_ledger(ledger)
    seen: set[str] = set()  # the first row of an address decides, as in the import ...
    suppressing: set[str] = set()  # ... except that a later suppression still counts
    for recipient, status in _csv_rows(path):
        email, current = recipient.email, get(ledger, recipient.email)
        if current is not None and current.suppressed:
            continue  # suppressions win; counted already
        first, was_pending = email not in seen, current is not None and current.status == "pending"
        seen.add(email)
        if status in SUPPRESSED:
            if email not in suppressing:
                suppressing.add(email)
                tally.suppressed += 1
                tally.unconfirmed -= 1 if first and was_pending else 0
        elif not first:
            continue
        elif status in SENDABLE:
            tally.unconfirmed -= 1 if was_pending else 0  # the CSV makes it active
            yield recipient
        elif not was_pending:  # pending in the CSV: not confirmed yet
            tally.unconfirmed += 1
    yield from _database_rows(ledger)


def _database_rows(ledger: Ledger) -> Iterator[Recipient]:
    for subscriber in active(ledger):
        yield Recipient(subscriber.email, subscriber.name)


def _csv_rows(path: Path) -> Iterator[tuple[Recipient, str]]:
    """Each row's recipient and status (empty for active); errors name file:line."""
    try:
        for line, row in read_rows(path, header_required=True):
            yield _row(path, line, row)
    except CsvFileError as exc:
        raise ChannelError(str(exc), hint=exc.hint or SOURCE_HINT) from None


def _row(path: Path, line: int, row: dict[str, str]) -> tuple[Recipient, str]:
    """The row's recipient and its status, checked."""
    raw, status = (row.get("email") or "").strip(), (row.get("status") or "").strip().lower()
    if status not in KNOWN:
        raise ChannelError(
            f"{path}:{line}: unknown status {status!r} (use active, unsubscribed, bounced or complained)"
        )
    try:
        email = normalize_address(raw)
    except InvalidAddress as exc:
        raise ChannelError(f"{path}:{line}: {exc}", hint="fix or delete the line; nothing was sent") from None
    return Recipient(email, clean_name(row.get("name"))), status

"""The subscriber list in the ledger: addresses, their status, and every change to it.

Statuses: ``pending`` (signed up, not confirmed), ``active`` (receives mail) and the three
suppressions ``unsubscribed``, ``bounced``, ``complained``. Suppressions win: nothing but
the person (a signup made and confirmed after the suppression) or an explicit
``--resubscribe`` brings an address back, so importing an old CSV or replaying an old
confirmation link never mails someone who left. Each change is also written to
``subscriber_events`` with its time and method, which is the record of consent and of
unsubscription.

Addresses are normalised before they are compared or stored: NFKC (a full-width ＠ or
letters typed with a Chinese input method become ASCII), surrounding whitespace removed,
the domain converted to IDNA ASCII, and the whole address lower-cased. RFC 5321 lets a
local part be case-sensitive, but no mainstream provider uses that, and two rows for
``Zhang@`` and ``zhang@`` would let a suppressed address come back through the other.

Names: the newer change wins. `subscribers add --name`, `subscribers import` and a confirmed
signup set a name at once. The email channel's configured CSV is merged again before every
send, so a name there replaces the stored one only when the file was saved after that row
last changed (or the row has no name): an old file does not undo a later rename.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parseaddr
from pathlib import Path

from pipeline.audience.csvfile import CsvFileError, read_rows
from pipeline.errors import UsageError
from pipeline.ledger import SUPPRESSED, Ledger, utcnow

STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
# Other lists' words for active; the email channel sends to these rows, so the import must keep them.
STATUS_ALIASES = {"subscribed": "active", "confirmed": "active"}
# Which suppression replaces which: a complaint is the strongest signal, an unsubscribe the mildest.
SUPPRESSION_RANK = {"unsubscribed": 1, "bounced": 2, "complained": 3}
EXPORT_COLUMNS = ("email", "name", "status", "source", "created_at", "updated_at", "status_reason")
MAX_NAME = 100

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


class InvalidAddress(UsageError):
    """An email address that cannot be used (the message says why)."""


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str
    status: str
    source: str
    created_at: str
    updated_at: str
    status_reason: str | None
    soft_bounces: int

    @property
    def suppressed(self) -> bool:
        return self.status in SUPPRESSED


@dataclass
class ImportReport:
    """What an import did: counts, and each skipped row with its line and reason."""

    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0  # rows repeating an address seen earlier in the same file
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (line, address as written, reason)

    def reasons(self) -> Counter[str]:
        """How many rows were skipped for each kind of reason."""
        return Counter(reason.split(":")[0] for _, _, reason in self.skipped)

    def summary(self) -> str:
        text = f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, {len(self.skipped)} skipped"
        if self.merged:
            text += f", {self.merged} duplicate row(s) merged"
        return text


def normalize_address(text: str) -> str:
    """A valid address in its stored form, or InvalidAddress saying what is wrong."""
    value = unicodedata.normalize("NFKC", text or "").translate(_INVISIBLE).strip()
    if "<" in value:
        value = parseaddr(value)[1].strip()  # "张伟 <zhang@example.com>"
    if value.lower().startswith("mailto:"):
        value = value[7:]
    if not value:
        raise InvalidAddress("the address is empty")
    if value.count("@") != 1:
        raise InvalidAddress(f"{value!r} is not an email address (it needs exactly one @)")
    local, domain = value.rsplit("@", 1)
    local = local.lower()
    if not _LOCAL.match(local) or len(local) > 64:
        raise InvalidAddress(f"{value!r}: the part before @ is not valid")
    domain = _ascii_domain(value, domain.rstrip("."))
    address = f"{local}@{domain}"
    if len(address) > 254:
        raise InvalidAddress(f"{value!r} is longer than 254 characters")
    return address


def _ascii_domain(value: str, domain: str) -> str:
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress(f"{value!r}: the domain is not valid") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise InvalidAddress(f"{value!r}: the domain is not valid")
    return ascii_domain


def clean_name(name: str | None) -> str:
    """A display name without control characters or line breaks, at most MAX_NAME long."""
    text = "".join(ch for ch in unicodedata.normalize("NFC", name or "") if unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())[:MAX_NAME]


# reading ------------------------------------------------------------------------------------


def get(ledger: Ledger, email: str) -> Subscriber | None:
    """The subscriber row of an already normalised address."""
    row = ledger.db.execute("SELECT * FROM subscribers WHERE email=?", (email,)).fetchone()
    return Subscriber(**dict(row)) if row else None


def listing(ledger: Ledger, status: str | None = None, batch: int = 1000) -> Iterator[Subscriber]:
    """Subscribers ordered by address (optionally one status), read in batches."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown status {status!r}", hint=f"one of {', '.join(STATUSES)}")
    last = ""
    while True:
        sql = (
            "SELECT * FROM subscribers WHERE email > ?"
            + (" AND status = ?" if status else "")
            + " ORDER BY email LIMIT ?"
        )
        args = (last, status, batch) if status else (last, batch)
        rows = ledger.db.execute(sql, args).fetchall()
        if not rows:
            return
        for row in rows:
            yield Subscriber(**dict(row))
        last = rows[-1]["email"]


def active(ledger: Ledger) -> Iterator[Subscriber]:
    """The addresses mail goes to: active, never suppressed."""
    return listing(ledger, "active")


def counts(ledger: Ledger) -> dict[str, int]:
    """Number of subscribers per status (every status present, zeros included)."""
    result = dict.fromkeys(STATUSES, 0)
    for status, number in ledger.db.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status"):
        result[status] = number
    return result


def events(ledger: Ledger, email: str) -> list[dict[str, str]]:
    """The history of one address, oldest first."""
    rows = ledger.db.execute(
        "SELECT at, event, method, detail FROM subscriber_events WHERE email=? ORDER BY id", (email,)
    )
    return [dict(row) for row in rows]


# changing -----------------------------------------------------------------------------------


def _write(
    db, current: Subscriber | None, email: str, *, name: str, status: str, method: str, reason: str | None, now: str
) -> None:
    """Insert or update one row and log the change (inside the caller's transaction)."""
    if current is None:
        db.execute(
            "INSERT INTO subscribers (email, name, status, source, created_at, updated_at, status_reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (email, name, status, method, now, now, reason),
        )
    else:
        db.execute(
            "UPDATE subscribers SET name=?, status=?, updated_at=?, status_reason=?, soft_bounces=CASE WHEN ?='active' THEN 0 ELSE soft_bounces END WHERE email=?",
            (name, status, now, reason if status != current.status else current.status_reason, status, email),
        )
    if current is None or current.status != status:
        db.execute(
            "INSERT INTO subscriber_events (email, at, event, method, detail) VALUES (?, ?, ?, ?, ?)",
            (email, now, status, method, reason),
        )


def add(
    ledger: Ledger,
    address: str,
    name: str = "",
    *,
    method: str = "cli",
    status: str = "active",
    resubscribe: bool = False,
) -> str:
    """Add or update one address; returns added, updated, unchanged or suppressed:<status>.

    A suppressed address stays suppressed unless ``resubscribe`` (the person asked).
    """
    email, name = normalize_address(address), clean_name(name)
    with ledger.transaction() as db:
        current = get(ledger, email)
        if current is None:
            _write(db, None, email, name=name, status=status, method=method, reason=None, now=utcnow())
            return "added"
        if current.suppressed and not resubscribe:
            return f"suppressed:{current.status}"
        new_name = name or current.name
        if current.status == status and current.name == new_name:
            return "unchanged"
        _write(db, current, email, name=new_name, status=status, method=method, reason=None, now=utcnow())
        return "updated"


def suppress(ledger: Ledger, address: str, status: str, *, method: str, reason: str | None = None) -> bool:
    """Suppress an address (inserting it when unknown); True when its status changed.

    An existing suppression is replaced only by a stronger one (SUPPRESSION_RANK).
    """
    if status not in SUPPRESSION_RANK:
        raise ValueError(status)
    email = normalize_address(address)
    with ledger.transaction() as db:
        current = get(ledger, email)
        if current is not None and current.suppressed and SUPPRESSION_RANK[current.status] >= SUPPRESSION_RANK[status]:
            return False
        _write(
            db,
            current,
            email,
            name=current.name if current else "",
            status=status,
            method=method,
            reason=reason,
            now=utcnow(),
        )
        return True


def unsubscribe(ledger: Ledger, address: str, method: str) -> bool:
    """Unsubscribe at once (one-click, the page's button, the CLI); True when it changed."""
    return suppress(ledger, address, "unsubscribed", method=method, reason=f"unsubscribed via {method}")


def request_signup(ledger: Ledger, address: str, name: str = "") -> str:
    """A signup from the web form; returns what to do: confirm, or none.

    A new address becomes pending. An active one is left alone (a stranger must not be able
    to downgrade it); unsubscribed or bounced addresses keep their status until the owner
    confirms the link this signup mails (links mailed before the suppression no longer work,
    see :func:`confirmable`); a complaint means we never mail that address again, not even to confirm.
    """
    email, name = normalize_address(address), clean_name(name)
    with ledger.transaction() as db:
        current = get(ledger, email)
        if current is None:
            _write(db, None, email, name=name, status="pending", method="web", reason="signup form", now=utcnow())
            return "confirm"
    if current.status == "active" or current.status == "complained":
        return "none"
    return "confirm"


def confirm(ledger: Ledger, address: str, name: str = "", *, requested_at: float | None = None) -> bool:
    """The owner followed a confirmation link: the address becomes active; True when it changed.

    Only what :func:`confirmable` allows is confirmed; ``requested_at`` is when the link was
    made (seconds since the epoch). Anything else changes nothing and returns False.
    """
    email = normalize_address(address)
    with ledger.transaction() as db:
        current = get(ledger, email)
        if current is None or current.status == "active" or not confirmable(current, requested_at):
            return False
        _write(
            db,
            current,
            email,
            name=clean_name(name) or current.name,
            status="active",
            method="confirm",
            reason="double opt-in confirmed",
            now=utcnow(),
        )
        return True


def confirmable(current: Subscriber | None, requested_at: float | None) -> bool:
    """Whether a confirmation link made at ``requested_at`` may activate this address.

    A pending address, yes (an active one too: there is nothing left to do). A suppression wins over any link made before it: a link mailed
    before the person unsubscribed or bounced would otherwise undo that when replayed. Such an
    address comes back only through a link made after the suppression, i.e. a fresh signup the
    owner confirms (``request_signup`` mails one). A complaint is final, and an address that is
    gone (erased, never signed up) has no signup to confirm. Times are whole seconds, so a link
    made in the same second as the suppression counts as older.
    """
    if current is None or current.status == "complained":
        return False
    if current.status in ("pending", "active"):
        return True
    if requested_at is None:
        return False
    suppressed_at = datetime.fromisoformat(current.updated_at).timestamp()
    return int(requested_at) > suppressed_at


def forget(ledger: Ledger, address: str) -> bool:
    """Delete an address and its history (an erasure request); True when it existed."""
    email = normalize_address(address)
    with ledger.transaction() as db:
        db.execute("DELETE FROM subscriber_events WHERE email=?", (email,))
        db.execute("DELETE FROM soft_bounces WHERE email=?", (email,))
        return db.execute("DELETE FROM subscribers WHERE email=?", (email,)).rowcount > 0


# CSV ----------------------------------------------------------------------------------------


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a subscribers CSV as ``(line, {email, name, status})``; a header row is optional.

    UTF-8 (with or without BOM) or UTF-16 with BOM; ``,`` ``;`` or tab between cells. A file
    that cannot be read raises CsvFileError naming its line (see :mod:`pipeline.audience.csvfile`).
    """
    return read_rows(path, header_required=False)


def import_csv(ledger: Ledger, path: Path, *, explicit: bool = False) -> ImportReport:
    """Merge a CSV (email,name[,status]) into the list in one transaction; suppressions win.

    ``explicit`` (`publish subscribers import`): the file's names replace the stored ones.
    Otherwise (the configured list, merged before each send) a name replaces a stored one
    only when the file was saved no earlier than the row's last change, so a rename made
    since by an import, `add --name` or a confirmed signup is kept. A file that cannot be
    read (CsvFileError, naming its line) changes nothing.
    """
    saved = None if explicit else _saved_at(path)
    try:
        return _import(ledger, path, saved)
    except CsvFileError as exc:  # raised inside the transaction, which was rolled back
        raise CsvFileError(
            str(exc), hint=f"{exc.hint}; nothing was imported" if exc.hint else "nothing was imported"
        ) from None


def _saved_at(path: Path) -> str | None:
    """The file's modification time in the ledger's format (UTC, seconds), None when unknown."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None  # reading it will say what is wrong
    return datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds")


def _import(ledger: Ledger, path: Path, saved: str | None) -> ImportReport:
    report = ImportReport(source=f"csv:{path.name}")
    now = utcnow()
    with ledger.transaction() as db:
        # Addresses already met in this file live in a temporary table, not a dict: memory
        # stays flat for a list of any size.
        db.execute("CREATE TEMP TABLE IF NOT EXISTS import_seen (email TEXT PRIMARY KEY)")
        db.execute("DELETE FROM import_seen")
        for line, row in read_csv(path):
            written = (row.get("email") or "").strip()
            try:
                email = normalize_address(written)
            except InvalidAddress as exc:
                report.skipped.append((line, written, f"invalid address: {exc}"))
                continue
            status = (row.get("status") or "").strip().lower() or "active"
            status = STATUS_ALIASES.get(status, status)
            if status not in STATUSES:
                report.skipped.append((line, written, f"unknown status: {status!r}"))
                continue
            if db.execute("INSERT OR IGNORE INTO import_seen VALUES (?)", (email,)).rowcount == 0:
                # the first row of an address wins, except that a later suppression still counts
                report.merged += 1
                if status in SUPPRESSION_RANK:
                    _import_row(db, ledger, report, line, email, "", status, now, saved)
                continue
            _import_row(db, ledger, report, line, email, clean_name(row.get("name")), status, now, saved)
    return report


def _import_row(
    db, ledger: Ledger, report: ImportReport, line: int, email: str, name: str, status: str, now: str, saved: str | None
) -> None:
    current = get(ledger, email)
    method = report.source
    if current is None:
        _write(
            db,
            None,
            email,
            name=name,
            status=status,
            method=method,
            reason=None if status == "active" else f"{status} in {method}",
            now=now,
        )
        report.added += 1
        return
    if current.suppressed:
        if status in SUPPRESSION_RANK and SUPPRESSION_RANK[status] > SUPPRESSION_RANK[current.status]:
            _write(
                db,
                current,
                email,
                name=current.name,
                status=status,
                method=method,
                reason=f"{status} in {method}",
                now=now,
            )
            report.updated += 1
        elif status in SUPPRESSION_RANK:
            report.unchanged += 1
        else:
            report.skipped.append(
                (
                    line,
                    email,
                    f"{current.status}: since {current.updated_at[:10]} ({current.status_reason or current.source})",
                )
            )
        return
    new_name = name or current.name
    if saved is not None and current.name and saved < current.updated_at:
        new_name = current.name  # renamed after the file was saved: the newer name stays
    if current.status == status and current.name == new_name:
        report.unchanged += 1
        return
    reason = None if status == "active" else f"{status} in {method}"
    _write(db, current, email, name=new_name, status=status, method=method, reason=reason, now=now)
    report.updated += 1


def export_csv(ledger: Ledger, handle) -> int:
    """Write every subscriber as CSV (importable again) to a text handle; returns the count.

    The caller chooses the encoding: the CLI puts a UTF-8 byte-order mark before a file, as
    Excel needs to read Chinese names, and none on standard output.
    """
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    number = 0
    for sub in listing(ledger):
        writer.writerow([getattr(sub, column) or "" for column in EXPORT_COLUMNS])
        number += 1
    return number

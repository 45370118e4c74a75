"""Bounce and complaint reports from a Maildir → suppressions in the subscriber list.

Two standard shapes are read, both ``multipart/report`` (RFC 6522):

- ``report-type=delivery-status`` (RFC 3464), what Postfix, Exim and most relays send: one
  ``message/delivery-status`` part with a block per recipient (``Action``, ``Status``,
  ``Final-Recipient``/``Original-Recipient``, ``Diagnostic-Code``). ``Action: failed`` with
  a 5.x.x status is a hard bounce and suppresses the address at once. A 4.x.x status (a
  ``delayed`` notice, or a relay giving up on a temporary failure) is a soft bounce: it is
  remembered per issue, and an address whose last SOFT_LIMIT issues all soft-bounced is
  suppressed.
- ``report-type=feedback-report`` (RFC 5965 ARF), what feedback loops send when a reader
  presses "spam": ``Feedback-Type: abuse`` suppresses the address as ``complained``. The
  address comes from ``Original-Rcpt-To``, else from the signed unsubscribe link in the
  returned message's ``List-Unsubscribe`` header (providers that redact the recipient keep
  it), else from the returned message's ``To``.

Each report's Message-ID is remembered in the ledger (``bounce_reports``), so running the
command again on the same Maildir changes nothing; the Maildir itself is only read.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import mailbox
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pipeline.audience import subscribers, tokens
from pipeline.errors import PublishError
from pipeline.ledger import Ledger, utcnow

SOFT_LIMIT = 3  # consecutive issues with a soft bounce before an address is suppressed
# Headers the email channel may stamp on each message naming its issue, tried in this order.
ISSUE_HEADERS = ("X-Publish-Issue", "X-Issue-Id", "X-Newsletter-Issue")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"\b([245])\d\d\b")
# The email channel's Message-IDs start with the issue id: <2024-04-28.<random hex>@domain>.
_ISSUE_MESSAGE_ID = re.compile(r"^<(\d{4}-\d{2}-\d{2}(?:-[a-z0-9-]+)?)\.[0-9a-f]+@[^>]+>$")


@dataclass(frozen=True)
class Finding:
    """One recipient's outcome in a report."""

    kind: str  # hard | soft | complaint
    email: str
    status: str  # enhanced status code (5.1.1), or the ARF feedback type
    detail: str  # the remote's diagnostic, for the record
    issue: str  # the issue the bounced message belonged to ('' when unknown)


@dataclass
class BounceReport:
    """What one run over a Maildir did."""

    messages: int = 0
    already: int = 0  # reports handled by an earlier run
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    suppressed: list[str] = field(default_factory=list)  # lines: address and why
    counted: list[str] = field(default_factory=list)  # soft bounces below the limit
    ignored: list[str] = field(default_factory=list)  # messages that are not usable reports, and why


class NotAReport(Exception):
    """A message that is neither a delivery-status nor a feedback report (internal)."""


def process_maildir(ledger: Ledger, path: Path, secret: bytes | None = None) -> BounceReport:
    """Read every message in the Maildir at ``path`` and apply what the reports say."""
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise PublishError(
            f"{path}: not a Maildir (no cur/ or new/ folder)", hint="pass the folder that holds cur/, new/ and tmp/"
        )
    box = mailbox.Maildir(str(path), factory=None, create=False)
    report = BounceReport()
    for key in sorted(box.keys()):
        with box.get_file(key) as handle:
            raw = handle.read()
        report.messages += 1
        process_message(ledger, raw, report, secret, name=key)
    return report


def process_message(
    ledger: Ledger, raw: bytes, report: BounceReport, secret: bytes | None = None, name: str = ""
) -> None:
    """Apply one report message (skipping it when an earlier run already did)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    message_id = str(message.get("Message-ID") or "").strip() or "sha256:" + hashlib.sha256(raw).hexdigest()
    if ledger.db.execute("SELECT 1 FROM bounce_reports WHERE message_id=?", (message_id,)).fetchone():
        report.already += 1
        return
    try:
        findings = parse_report(message, secret)
    except NotAReport as exc:
        report.ignored.append(f"{name or message_id}: {exc}")
        outcome = f"ignored: {exc}"
    else:
        for finding in findings:
            _apply(ledger, finding, report, fallback_issue=message_id)
        outcome = "; ".join(f"{f.kind} {f.email} {f.status}" for f in findings) or "no failed recipients"
    with ledger.transaction() as db:
        db.execute("INSERT OR IGNORE INTO bounce_reports VALUES (?, ?, ?)", (message_id, utcnow(), outcome))


def parse_report(message: Message, secret: bytes | None = None) -> list[Finding]:
    """The failed recipients (or the complainer) a report names; NotAReport otherwise."""
    report_part = _find(message, "multipart/report")
    if report_part is None:
        raise NotAReport("not a multipart/report message")
    kind = (report_part.get_param("report-type") or "").lower()
    original = _original_headers(report_part)
    issue = _issue_of(original)
    if kind == "delivery-status":
        return _dsn_findings(report_part, issue)
    if kind == "feedback-report":
        return _arf_findings(report_part, original, issue, secret)
    raise NotAReport(f"report-type={kind or '(none)'} is neither delivery-status nor feedback-report")


def _find(message: Message, content_type: str) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _fields(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    blocks = re.split(r"\r?\n\s*\r?\n", str(payload or "").strip())
    return [HeaderParser().parsestr(block) for block in blocks if block.strip()]


def _dsn_findings(report_part: Message, issue: str) -> list[Finding]:
    status_part = _find(report_part, "message/delivery-status")
    if status_part is None:
        raise NotAReport("delivery-status report without a message/delivery-status part")
    findings = []
    for block in _fields(status_part)[1:]:  # the first block is about the message, the rest per recipient
        action = str(block.get("Action") or "").strip().lower()
        status = _status(block)
        if action not in ("failed", "delayed") or status is None:
            continue  # delivered, relayed, expanded: nothing went wrong
        address = _address(block.get("Original-Recipient")) or _address(block.get("Final-Recipient"))
        if not address:
            continue
        kind = "hard" if status.startswith("5") else "soft"
        detail = " ".join(str(block.get("Diagnostic-Code") or action).split())
        findings.append(Finding(kind, address, status, detail[:300], issue))
    if not findings and not any(str(b.get("Action") or "").strip() for b in _fields(status_part)):
        raise NotAReport("delivery-status report without recipient blocks")
    return findings


def _status(block: Message) -> str | None:
    """The enhanced status code, else one derived from the SMTP reply in Diagnostic-Code."""
    for text in (str(block.get("Status") or ""), str(block.get("Diagnostic-Code") or "")):
        match = _STATUS.search(text)
        if match:
            return match.group(0)
    match = _REPLY.search(str(block.get("Diagnostic-Code") or ""))
    return f"{match.group(1)}.0.0" if match else None


def _address(value: object) -> str | None:
    """The address of a DSN/ARF address field (``rfc822; user@example.org``), normalised."""
    text = str(value or "").strip()
    if ";" in text:
        kind, text = text.split(";", 1)
        if kind.strip().lower() != "rfc822":
            return None
    try:
        return subscribers.normalize_address(text.strip().strip("<>"))
    except subscribers.InvalidAddress:
        return None


def _arf_findings(report_part: Message, original: Message | None, issue: str, secret: bytes | None) -> list[Finding]:
    feedback_part = _find(report_part, "message/feedback-report")
    if feedback_part is None:
        raise NotAReport("feedback report without a message/feedback-report part")
    fields = _fields(feedback_part)
    feedback = fields[0] if fields else Message()
    feedback_type = str(feedback.get("Feedback-Type") or "abuse").strip().lower()
    if feedback_type == "not-spam":
        return []
    address = (
        _address(feedback.get("Original-Rcpt-To")) or _from_unsubscribe_link(original, secret) or _single_to(original)
    )
    if address is None:
        raise NotAReport("complaint names no recipient (no Original-Rcpt-To, List-Unsubscribe or To)")
    detail = f"{feedback_type} report from {str(feedback.get('User-Agent') or 'a feedback loop').strip()}"
    return [Finding("complaint", address, feedback_type, detail, issue)]


def _original_headers(report_part: Message) -> Message | None:
    """The returned message's headers (message/rfc822 or text/rfc822-headers part), if any."""
    for part in report_part.iter_parts():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            return payload[0] if isinstance(payload, list) and payload else None
        if content_type in ("text/rfc822-headers", "message/rfc822-headers"):
            return HeaderParser(policy=email.policy.default).parsestr(
                part.get_content() if content_type.startswith("text/") else str(part.get_payload())
            )
    return None


def _issue_of(original: Message | None) -> str:
    if original is None:
        return ""
    for name in ISSUE_HEADERS:
        if original.get(name):
            return str(original[name]).strip()
    message_id = str(original.get("Message-ID") or "").strip()
    match = _ISSUE_MESSAGE_ID.match(message_id)
    return match.group(1) if match else message_id


def _from_unsubscribe_link(original: Message | None, secret: bytes | None) -> str | None:
    """The address in a List-Unsubscribe URL, trusted only when its token verifies."""
    if original is None or secret is None:
        return None
    for url in re.findall(r"<(https?://[^>]+)>", str(original.get("List-Unsubscribe") or "")):
        query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
        address = tokens.unsubscribe_query_address(secret, query)  # the sealed token, or the earlier form
        if address:
            return _address(address)
    return None


def _single_to(original: Message | None) -> str | None:
    if original is None:
        return None
    addresses = getaddresses([str(original.get("To") or "")])
    return _address(addresses[0][1]) if len(addresses) == 1 else None


# applying ---------------------------------------------------------------------------------


def _apply(ledger: Ledger, finding: Finding, report: BounceReport, fallback_issue: str) -> None:
    if finding.kind == "complaint":
        report.complaints += 1
        if subscribers.suppress(ledger, finding.email, "complained", method="complaint", reason=finding.detail):
            report.suppressed.append(f"{finding.email}: complained ({finding.detail})")
        return
    if finding.kind == "hard":
        report.hard += 1
        reason = f"hard bounce {finding.status}: {finding.detail}"
        if subscribers.suppress(ledger, finding.email, "bounced", method="bounce", reason=reason):
            report.suppressed.append(f"{finding.email}: bounced {finding.status} ({finding.detail})")
        return
    report.soft += 1
    streak = record_soft_bounce(ledger, finding.email, finding.issue or fallback_issue, finding.status)
    if streak >= SOFT_LIMIT:
        reason = f"soft bounces on {streak} consecutive issues, last {finding.status}: {finding.detail}"
        if subscribers.suppress(ledger, finding.email, "bounced", method="bounce", reason=reason):
            report.suppressed.append(
                f"{finding.email}: bounced (soft bounces on {streak} consecutive issues, last {finding.status})"
            )
            return
    report.counted.append(
        f"{finding.email}: soft bounce {finding.status} ({streak} of {SOFT_LIMIT} consecutive issues)"
    )


def record_soft_bounce(ledger: Ledger, email_address: str, issue: str, status: str) -> int:
    """Remember a soft bounce on ``issue``; return the address's streak of soft-bounced issues."""
    with ledger.transaction() as db:
        db.execute("INSERT OR IGNORE INTO soft_bounces VALUES (?, ?, ?, ?)", (email_address, issue, status, utcnow()))
        streak = soft_streak(ledger, email_address)
        db.execute("UPDATE subscribers SET soft_bounces=? WHERE email=?", (streak, email_address))
    return streak


def soft_streak(ledger: Ledger, email_address: str) -> int:
    """How many of the newest issues sent to the address soft-bounced, without a gap.

    The ledger's deliveries say which issues went to the address, newest first; the streak
    ends at the first of them without a soft bounce. When none of the bounced issues are in
    the ledger (mail sent by another tool), every distinct bounced issue counts.
    """
    bounced = {row[0] for row in ledger.db.execute("SELECT issue FROM soft_bounces WHERE email=?", (email_address,))}
    sent = [
        row[0]
        for row in ledger.db.execute(
            "SELECT DISTINCT issue_id FROM deliveries WHERE recipient=? AND state='sent' ORDER BY issue_id DESC",
            (email_address,),
        )
    ]
    if not bounced.intersection(sent):
        return len(bounced)  # issues the ledger does not know: count each one
    streak = 0
    for issue in sent:
        if issue not in bounced:
            break
        streak += 1
    return streak

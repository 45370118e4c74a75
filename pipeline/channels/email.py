"""The email channel: one issue to every subscriber, once, through SMTP or into a Maildir.

The send is made of three steps, each safe to cut short by a kill:

1. the message is built and serialised once (:mod:`pipeline.mail.message`);
2. the recipients are snapshotted into the ledger as ``pending`` in one transaction, so a
   CSV edited mid-send cannot skip anyone (:mod:`pipeline.audience.recipients`);
3. the pending rows are streamed to a pool of sessions (:mod:`pipeline.mail.pool`), and each
   outcome is recorded as soon as the server answers: ``sent`` only after its 250.

A run started again after a kill re-sends only what is still pending, so a duplicate can
only reach someone whose message was accepted and not yet recorded (at most the pool's
window). Failures past ``max_errors`` pause the send instead of burning the list; a
server that cannot be reached stops it within seconds, with nobody marked failed.

A recipient the server keeps deferring (4xx, a connection dropped or stalled at its RCPT
or DATA) stays pending with the run counted in ``attempts``; later runs leave it alone for
``defer_delay`` seconds, doubled after each deferral, and after ``max_deferrals`` runs it
is recorded as failed, so that the send ends.

With a ``dkim:`` block each recipient's copy is signed (:mod:`pipeline.mail.dkim`); the key is
read and tested before the first recipient, so a bad key stops the send before anything goes.
:func:`sender_checks` is what `publish doctor` prints: what Gmail and Yahoo ask of a bulk
sender and what of it this channel has.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

from pipeline.audience.recipients import Tally, iter_recipients, normalise
from pipeline.audience.subscribers import suppress
from pipeline.audience.tokens import load_secret, unsubscribe_url
from pipeline.channels.base import Channel, Job, Result
from pipeline.config import Config, Options
from pipeline.errors import ChannelError, PublishError, UsageError
from pipeline.ledger import Ledger, local_time
from pipeline.mail.dkim import (
    Check,
    Signer,
    aligned,
    check_name,
    load_key,
    organisational_domain,
    received_checks,
    txt_record,
)
from pipeline.mail.message import (
    IssueMessage,
    issue_message,
    list_id,
    parse_sender,
)
from pipeline.mail.placeholder import unsubscribe_placeholder
from pipeline.mail.pool import Outcome, Pool, Throttle
from pipeline.mail.transports import open_transport, transport_label

PLAN_SHOWN = 5  # addresses listed by --dry-run
MAX_DEFER_WAIT = 6 * 3600.0  # the longest a deferred recipient waits between two runs


class EmailChannel(Channel):
    """Mail the issue's email.html + email.txt to every active subscriber."""

    type = "email"
    mails_subscribers = True
    sends = ("email.html", "email.txt")

    def plan(self, job: Job) -> list[str]:
        """ "would send to N recipients via …" and the first few addresses; sends and records nothing."""
        check_list_kept(job)
        tally, seen, first, already = Tally(), set(), [], 0
        for recipient in iter_recipients(job.config, job.options, job.ledger, tally, merge=False):
            if recipient.email in seen:
                continue
            seen.add(recipient.email)
            row = None if job.resend else job.ledger.delivery(job.issue.id, job.channel, recipient.email)
            if row is not None and row["state"] != "pending":  # a resend goes to everyone again
                already += 1
                continue
            if len(first) < PLAN_SHOWN:
                first.append(f"{recipient.name} <{recipient.email}>" if recipient.name else recipient.email)
        count = len(seen) - already
        extra = f", {already} already sent" if already else ""
        lines = [
            f"would send to {count} recipient{'' if count == 1 else 's'} via {transport_label(job.config, job.options)} ({tally.describe()}{extra})"
        ]
        lines.append(f"subject: {job.issue.title}")
        dkim = job.options.get("dkim")
        if dkim is not None:  # named only: the key is read when the send starts
            from_domain = parse_sender(job.options.get("from")).domain
            lines.append(f"DKIM-signed: d={dkim.get('domain') or from_domain} s={dkim.get('selector')}")
        lines += first
        if count > len(first):
            lines.append(f"… and {count - len(first)} more")
        return lines

    def deliver(self, job: Job) -> Result:
        """Send to every pending recipient, recording each outcome; see the module doc."""
        message = build_message(job)
        signer = dkim_signer(job.config, job.options, job.log)
        if signer is not None:
            message = SignedMessage(message, signer)
        transport = open_transport(job.config, job.options)
        if job.test_to:
            return _send_test(job, message, transport)
        check_list_kept(job)
        run = job.ledger.run(job.issue.id, job.channel)
        tally = Tally()
        rows = ((r.email, r.name) for r in iter_recipients(job.config, job.options, job.ledger, tally))
        job.ledger.add_pending_named(job.issue.id, job.channel, rows, run.content_hash if run else "")
        send = _Send(job, message, transport)
        with _pool(job, transport) as pool:
            send.run(pool)
        return send.result(tally)

    def is_done(self, job: Job) -> bool:
        """Done when the last run finished (fully or with failures) and nobody is left pending."""
        run = job.ledger.run(job.issue.id, job.channel)
        if run is None or run.state not in ("done", "partial"):
            return False
        return job.ledger.counts(job.issue.id, job.channel)["pending"] == 0


def check_list_kept(job: Job) -> None:
    """Refuse to send when the ledger's subscriber list is empty but it records deliveries on
    this channel: the list was lost, and with it every unsubscription; mailing (or merging the
    CSV into) an empty list would write to people who asked for no more mail."""
    orphaned = job.ledger.orphaned_deliveries(job.channel)
    if orphaned:
        raise ChannelError(
            f"{job.ledger.path} has no subscribers but records {orphaned} deliveries on {job.channel}: "
            "its subscriber list, with the unsubscriptions, is lost; nothing was sent",
            hint="restore the state database from a backup; only if the list is meant to be empty, "
            "add the subscribers again with `publish subscribers import` (people who unsubscribed would be mailed)",
        )


def build_message(job: Job) -> IssueMessage:
    """The issue's message, serialised once, from the built email.txt and email.html."""
    options, config = job.options, job.config
    envelope = parse_sender(options.get("from"), options.get("reply_to"))
    try:
        text, html = job.read("email.txt").decode("utf-8"), job.read("email.html").decode("utf-8")
    except FileNotFoundError as exc:
        raise ChannelError(
            f"{exc.filename}: the issue's email is not built", hint="run `publish build` first"
        ) from None
    secret = load_secret(config)
    return issue_message(
        subject=job.issue.title,
        envelope=envelope,
        text=text,
        html=html,
        date=datetime.now(timezone.utc),
        list_id=list_id(config.site.title, config.site.url, options.get("list_id")),
        placeholder=unsubscribe_placeholder(config),
        unsubscribe_url=lambda email: unsubscribe_url(config, secret, email),
        # No mailto unless configured: a request sent to an address nobody reads would be lost.
        unsubscribe_mailto=_mailto(options.get("unsubscribe_mailto")) if options.get("unsubscribe_mailto") else "",
        id_prefix=job.issue.id,
        eight_bit=bool(options.get("eight_bit", True)),
    )


class SignedMessage:
    """The issue's message whose every copy carries its own DKIM signature: the signature covers
    the recipient's To, Message-ID and unsubscribe link, so no two copies share one."""

    def __init__(self, message: IssueMessage, signer: Signer) -> None:
        self.message, self.signer = message, signer

    def personalise(self, email: str, name: str = "") -> bytes:
        return self.signer.sign(self.message.personalise(email, name))


def dkim_signer(config: Config, options: Options, log: logging.Logger | None = None) -> Signer | None:
    """The signer of the channel's ``dkim:`` block, its key read and tested; None without one.

    A DKIM domain outside the From domain's organisational domain still signs (a relay's own
    domain, say) but gets a warning: DMARC passes only on an aligned signature or SPF."""
    block = options.get("dkim")
    if block is None:
        return None
    where = block.key_path
    from_domain = parse_sender(options.get("from")).domain.lower()
    selector = check_name(block.get("selector") or "", f"{where}.selector", "selector")
    domain = check_name(block.get("domain") or from_domain, f"{where}.domain", "domain")
    text, key_where = _key_text(config, block)
    signer = Signer(load_key(text, key_where), selector, domain)
    if log is not None and not aligned(domain, from_domain):
        log.warning(
            "%s: d=%s does not align with the From domain %s: DMARC will not pass on this signature; "
            "sign with d=%s (or a subdomain of %s)",
            where,
            domain,
            from_domain,
            from_domain,
            organisational_domain(from_domain),
        )
    return signer


def _key_text(config: Config, block: Options) -> tuple[str, str]:
    """The private key's text and the setting it came from; exactly one of the two is set."""
    where = block.key_path
    inline, path = block.raw("private_key"), block.get("private_key_file")
    if (inline is None) == (path is None):
        raise ChannelError(
            f"{where}: {'both private_key and private_key_file are set' if inline else 'no private key'}",
            hint="give private_key: ${VAR} (the PEM key in the environment) or private_key_file: PATH, one of them",
        )
    if inline is not None:
        return block.get("private_key"), f"{where}.private_key"
    file = config.root / path
    if file.resolve().is_relative_to(config.output_dir.resolve()):
        raise ChannelError(
            f"{where}.private_key_file: {file} is inside paths.output, which is published with the site",
            hint="move the key out of that folder now, make a new one (the old one may have been served) and point private_key_file at it",
        )
    try:
        return file.read_bytes().decode("ascii", "replace"), f"{where}.private_key_file ({file})"
    except FileNotFoundError:
        raise ChannelError(
            f"{where}.private_key_file: {file} does not exist",
            hint=f"make a key (openssl genrsa -out {file} 2048), then publish its record (`publish doctor`)",
        ) from None
    except OSError as exc:
        raise ChannelError(
            f"{where}.private_key_file: {file} cannot be read ({exc.strerror})",
            hint="check the path and that this user may read the file",
        ) from None


def _mailto(address: str) -> str:
    return address if address.startswith("mailto:") else f"mailto:{address}?subject=unsubscribe"


def _pool(job: Job, transport, workers: int | None = None) -> Pool:
    options = job.options
    per_hour = options.get("max_per_hour")
    history: list[float] = []
    if per_hour:  # a restarted send must not forget what the last hour already used of the quota
        now = datetime.now(timezone.utc)
        sent = job.ledger.sent_since(job.channel, now - timedelta(hours=1), int(per_hour))
        history = [time.monotonic() - (now - when).total_seconds() for when in sent]
    throttle = Throttle(options.get("max_per_second"), per_hour, history)
    sender = parse_sender(options.get("from")).address
    return Pool(
        transport,
        sender,
        throttle=throttle,
        retries=int(options.get("retries", 5)),
        retry_delay=float(options.get("retry_delay", 2)),
        stop=job.stop,
        log=job.log,
        workers=workers,
    )


def _send_test(job: Job, message: IssueMessage, transport) -> Result:
    """--test-to: one copy, personalised for that address; nothing recorded."""
    address = normalise(job.test_to or "")
    if address is None:
        raise UsageError(f"--test-to {job.test_to!r} is not an email address")
    with _pool(job, transport, workers=1) as pool:
        pool.submit(address, message.personalise(address))
        outcome = pool.next_outcome()
    if outcome.state != "sent":
        raise ChannelError(f"test copy to {address} not sent: {outcome.error}", hint=outcome.hint)
    return Result(
        job.channel, "done", f"test copy sent to {address} via {transport.label} ({outcome.response}); nothing recorded"
    )


class _Send:
    """The main loop: feed the pool from the ledger's pending rows, record each outcome."""

    def __init__(self, job: Job, message: IssueMessage, transport) -> None:
        self.job, self.message, self.label = job, message, transport.label
        self.ledger: Ledger = job.ledger
        self.max_errors = int(job.options.get("max_errors", 50))
        self.max_deferrals = int(job.options.get("max_deferrals", 8))
        self.defer_delay = float(job.options.get("defer_delay", 300))
        self.sent = self.failed = self.deferred = self.skipped = 0  # skipped: suppressed after the send began
        self.waiting = 0  # deferred before, not due again yet
        self.next_try: datetime | None = None
        self.fatal: str | None = None
        self.fatal_hint: str | None = None  # which setting to check, when the transport said
        self.last_error: str | None = None
        self.started = time.monotonic()
        counts = self.ledger.counts(job.issue.id, job.channel)
        self.total = sum(counts.values())
        self.done = self.total - counts["pending"]
        self.shown = 0.0

    @property
    def errors(self) -> int:
        return self.failed + self.deferred

    @property
    def halted(self) -> bool:
        return self.job.stop.is_set() or self.fatal is not None or self.errors > self.max_errors

    def run(self, pool: Pool) -> None:
        issue, channel = self.job.issue.id, self.job.channel
        now = datetime.now(timezone.utc)
        for email, name, attempts, updated_at in self.ledger.unsent_named(issue, channel):
            while pool.full:
                self.settle(pool.next_outcome())
            if self.halted:
                break
            if attempts and self._wait_for(attempts, updated_at, now):
                continue
            if self.ledger.suppressed(email):  # unsubscribed or bounced since the snapshot
                self.ledger.record(issue, channel, email, "skipped", error="suppressed after the send began")
                self.skipped += 1
                self.done += 1
                continue
            pool.submit(email, self.message.personalise(email, name), tag=attempts)
        while pool.in_flight:
            self.settle(pool.next_outcome())
        self._progress(force=True)

    def _wait_for(self, attempts: int, updated_at: str, now: datetime) -> bool:
        """Whether a recipient deferred ``attempts`` times must wait still; the backoff goes on
        across runs, so that a scheduler passing every minute does not hammer the server."""
        wait = min(self.defer_delay * 2 ** (attempts - 1), MAX_DEFER_WAIT)
        due = datetime.fromisoformat(updated_at) + timedelta(seconds=wait)
        if due <= now:
            return False
        self.waiting += 1
        self.next_try = min(self.next_try or due, due)
        return True

    def settle(self, outcome: Outcome) -> None:
        """Record one outcome at once, in its own transaction."""
        issue, channel, ledger = self.job.issue.id, self.job.channel, self.ledger
        if outcome.state == "deferred" and (not outcome.fatal or outcome.stage in ("RCPT TO", "DATA")):
            self._defer(outcome)  # the message was on the wire for this recipient: the run counts
        if outcome.fatal:  # the transport's failure, not the recipient's: it stays pending
            if self.fatal is None:
                self.fatal, self.fatal_hint = outcome.error, outcome.hint
            return
        if outcome.state == "sent":
            ledger.record(issue, channel, outcome.recipient, "sent", response=outcome.response)
            self.sent += 1
        elif outcome.state == "failed":
            ledger.record(issue, channel, outcome.recipient, "failed", response=outcome.error, error=outcome.error)
            if outcome.stage == "RCPT TO" and " 5.1." in f" {outcome.error}":  # 5.1.x: no such mailbox
                suppress(ledger, outcome.recipient, "bounced", method="bounce", reason=outcome.error)
            self.failed += 1
            self.job.log.warning("not delivered to %s (recorded as failed): %s", outcome.recipient, outcome.error)
        if outcome.state in ("failed", "deferred"):
            self.last_error = f"{outcome.recipient}: {outcome.error}"
        if outcome.state in ("sent", "failed"):
            self.done += 1
        self._progress()

    def _defer(self, outcome: Outcome) -> None:
        """A deferral: pending for a later run, or failed once ``max_deferrals`` runs were."""
        runs = int(outcome.tag or 0) + 1
        give_up = runs >= self.max_deferrals
        state = "failed" if give_up else "pending"
        self.ledger.record(
            self.job.issue.id, self.job.channel, outcome.recipient, state, response=outcome.error, error=outcome.error
        )
        self.deferred += 1
        if give_up:
            self.done += 1
            later, when = "recorded as failed", f"deferred in {runs} runs (max_deferrals)"
        else:
            wait = min(self.defer_delay * 2 ** (runs - 1), MAX_DEFER_WAIT)
            later, when = "still pending: the next run tries again", f"deferred run {runs} of {self.max_deferrals}"
            when += f", next try in {wait:g}s or later" if wait else ""
        self.job.log.warning("not delivered to %s (%s): %s; %s", outcome.recipient, later, outcome.error, when)

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.job.progress and (force or now - self.shown >= 0.1):
            self.shown = now
            self.job.progress(self.done, self.total)

    def result(self, tally: Tally) -> Result:
        """The run's summary line (the same with or without a terminal)."""
        job, elapsed = self.job, max(time.monotonic() - self.started, 1e-6)
        counts = self.ledger.counts(job.issue.id, job.channel)
        summary = (
            f"{self.sent} sent in {elapsed:.1f}s ({self.sent / elapsed:.0f}/s) via {self.label}; "
            f"{counts['sent']} of {self.total} sent in all, {counts['failed']} failed, {counts['pending']} pending, "
            f"{tally.describe(self.skipped)}"
        )
        if self.next_try is not None:
            when = local_time(self.next_try.isoformat(), job.config.site.tz)
            summary += f"; {self.waiting} deferred, not tried again before {when}"
        again = f"run `publish issue {job.issue.id} --channel {job.channel}` again to continue"
        if self.fatal and counts["pending"]:
            raise ChannelError(
                f"{self.fatal}; {summary}", hint=f"{self.fatal_hint}, then {again}" if self.fatal_hint else again
            )
        if self.errors > self.max_errors:
            return Result(
                job.channel,
                "paused",
                f"paused: {self.errors} failures passed max_errors ({self.max_errors}); "
                f"last: {self.last_error}. Check the server and the list, then {again}. {summary}",
            )
        if job.stop.is_set() and counts["pending"]:
            return Result(job.channel, "stopped", f"stopped; {summary}; {again}")
        if counts["failed"] or counts["pending"]:
            return Result(
                job.channel,
                "partial",
                f"{summary}; last error: {self.last_error or self.ledger.last_error(job.issue.id, job.channel)}",
            )
        return Result(job.channel, "done", summary)


# publish doctor -----------------------------------------------------------------------------


def sender_checks(config: Config, name: str, eml: bytes | None = None) -> list[Check]:
    """What Gmail and Yahoo ask of a bulk sender, for the email channel ``name``: what is set,
    what is missing, and the DNS records to publish or check (none is looked up here).

    With ``eml`` (a copy as a mailbox received it) its Authentication-Results are read and its
    signature checked offline with the configured key; a relay that signs then counts as DKIM.
    """
    options = config.channels[name].options
    try:
        envelope = parse_sender(options.get("from"))
    except PublishError as exc:
        return [Check("missing", "From", _reason(exc))]
    domain = envelope.domain.lower()
    checks = [Check("ok", "From domain", f"{domain} (From: {envelope.header})")]
    signer, dkim_checks = _dkim_checks(config, options, domain, relay_checked=eml is not None)
    checks += dkim_checks
    checks += _dns_checks(options, envelope.address, domain)
    checks += _unsubscribe_checks(config, options)
    if eml is not None:
        checks += received_checks(eml, signer)
    return checks


def _reason(exc: PublishError) -> str:
    return f"{exc} — {exc.hint}" if exc.hint else str(exc)


def _dkim_checks(
    config: Config, options: Options, domain: str, relay_checked: bool
) -> tuple[Signer | None, list[Check]]:
    """The channel's DKIM set-up and the TXT record its key needs."""
    try:
        signer = dkim_signer(config, options)
    except PublishError as exc:
        return None, [Check("missing", "DKIM", _reason(exc))]
    if signer is None:
        detail = (
            f"no dkim: block: add dkim: {{selector: s1, private_key_file: dkim.pem}} to sign here, "
            f"or have the relay sign with d={domain}"
        )
        return None, [
            Check(
                "info" if relay_checked else "missing",
                "DKIM",
                detail + ("" if relay_checked else "; then check a received copy with --eml"),
            )
        ]
    key = signer.key
    checks = [
        Check(
            "ok",
            "DKIM",
            f"signs as d={signer.domain} s={signer.selector} ({key.algorithm.decode()}, {key.bits}-bit key)",
        )
    ]
    if not aligned(signer.domain, domain):
        checks.append(
            Check(
                "warn",
                "DKIM alignment",
                f"d={signer.domain} does not align with the From domain {domain}: DMARC will not pass on it",
            )
        )
    checks.append(Check("todo", "DKIM record", f"publish: {txt_record(signer.dns_name, key)}"))
    inline = options.get("dkim").raw("private_key")
    if inline is not None and "${" not in inline:
        checks.append(
            Check(
                "warn",
                "DKIM key",
                "private_key is written in config.yaml: move it to the environment (private_key: ${DKIM_KEY}) and make a new key",
            )
        )
    return signer, checks


def _dns_checks(options: Options, sender: str, domain: str) -> list[Check]:
    """SPF and DMARC: what the records should hold (they are not looked up)."""
    smtp = options.get("smtp")
    relay = (
        f"the relay {smtp.get('host')} (its documented include:, e.g. include:_spf.example.net)"
        if smtp
        else "the server that sends"
    )
    org = organisational_domain(domain)
    return [
        Check(
            "todo",
            "SPF",
            f'{domain} IN TXT "v=spf1 … ~all" must authorise {relay}; the envelope sender is {sender}, '
            "so SPF aligns with From unless the relay puts its own bounce address there",
        ),
        Check(
            "todo",
            "DMARC",
            f'_dmarc.{org} IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@{org}" at least (p=none meets Gmail and Yahoo; '
            "quarantine or reject once the reports show only your own mail)",
        ),
    ]


def _unsubscribe_checks(config: Config, options: Options) -> list[Check]:
    """One-click unsubscribe (RFC 8058) goes with every message; it needs an HTTPS site.url."""
    url = config.site.absolute("unsubscribe")
    if not url.startswith("https://"):
        one_click = Check(
            "missing", "List-Unsubscribe", f"{url} is not HTTPS: one-click unsubscribe needs site.url on https://"
        )
    else:
        one_click = Check(
            "ok", "List-Unsubscribe", f"one-click {url}?… with List-Unsubscribe-Post (RFC 8058), in every message"
        )
    mailto = options.get("unsubscribe_mailto")
    return [
        one_click,
        Check(
            "info",
            "unsubscribe_mailto",
            f"set: {mailto}"
            if mailto
            else "not set (optional: a mailto: beside the one-click link, only if someone acts on it)",
        ),
    ]

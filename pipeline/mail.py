"""Email messages: one issue's message serialised once, each recipient's copy a substitution.

Building an ``EmailMessage`` costs milliseconds; a bytes substitution costs microseconds. So
:func:`issue_message` serialises the multipart/alternative message of an issue once, with
the ASCII placeholder ``%%UNSUBSCRIBE_URL%%`` left in both parts, and
:meth:`IssueMessage.personalise` makes a recipient's bytes by prepending three headers (To,
Message-ID, List-Unsubscribe) and replacing the placeholder.

Why the substitution is exact: both parts are quoted-printable encoded here, not by the
``email`` package, piece by piece around each placeholder, and every placeholder is put on
a line of its own between soft line breaks (``=\\r\\n``). A soft break can then never fall
inside it, and the URL that replaces it is QP-encoded at substitution time (``=`` becomes
``=3D``, long URLs get their own soft breaks), so every recipient's message decodes to the
text with their own URL. QP keeps every line under 78 bytes: mjml-python emits the HTML as
one long line, and 8bit lines over 998 bytes are refused by servers.

Headers are written with ``email.policy.SMTP`` (RFC 2047 encoded words for Chinese, CRLF),
not SMTPUTF8, which most servers have not agreed to.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formataddr, parseaddr

from .errors import ChannelError

PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"  # the same as pipeline.render.email.UNSUBSCRIBE_PLACEHOLDER
_PLACEHOLDER = PLACEHOLDER.encode("ascii")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Envelope:
    """Who a message is from: the From header as configured and the bare address for MAIL FROM."""

    header: str
    address: str
    reply_to: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def parse_sender(value: str, reply_to: str | None = None, key: str = "from") -> Envelope:
    """Check the configured ``from`` (e.g. ``论文速递 <digest@example.org>``) and split out the address."""
    name, address = parseaddr(value)
    if not address or "@" not in address or _CONTROL.search(value):
        raise ChannelError(f"{key}: {value!r} is not an email address", hint="write e.g. 论文速递 <digest@example.org>")
    return Envelope(value.strip(), address, reply_to)


def qp_encode(data: bytes) -> bytes:
    """Quoted-printable with ``\\n`` line ends and lines of at most 76 characters."""
    return binascii.b2a_qp(data, istext=True)


def qp_with_placeholders(text: str, placeholder: bytes = _PLACEHOLDER) -> bytes:
    """QP-encode ``text`` leaving each placeholder intact on a line of its own (see the module doc)."""
    pieces = text.replace("\r\n", "\n").encode("utf-8").split(placeholder)
    out = bytearray(qp_encode(pieces[0]))
    for piece in pieces[1:]:
        if out and not out.endswith(b"\n"):
            out += b"=\n"  # soft break: the placeholder starts a line
        out += placeholder
        if piece and not piece.startswith(b"\n"):
            out += b"=\n"  # soft break: what follows starts a line
        out += qp_encode(piece)
    return bytes(out)


def _qp_part(subtype: str, text: str) -> MIMEPart:
    part = MIMEPart(policy=policy.SMTP)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(qp_with_placeholders(text).decode("ascii"))
    return part


@dataclass(frozen=True)
class IssueMessage:
    """An issue's serialised message; ``personalise`` gives one recipient's bytes."""

    template: bytes  # headers shared by all + the MIME body, CRLF, with placeholders
    envelope: Envelope
    unsubscribe_url: Callable[[str], str]  # address → its signed one-click URL
    unsubscribe_mailto: str
    id_prefix: str

    def personalise(self, email: str, name: str = "") -> bytes:
        """The message for one recipient: their To, a fresh Message-ID and their unsubscribe URL."""
        url = self.unsubscribe_url(email).encode("ascii")
        head = (
            b"To: " + format_to(email, name) + b"\r\n"
            + f"Message-ID: <{self.id_prefix}.{secrets.token_hex(8)}@{self.envelope.domain}>\r\n".encode("ascii")
            + b"List-Unsubscribe: <" + url + b">,\r\n <" + self.unsubscribe_mailto.encode("ascii") + b">\r\n"
        )
        return head + self.template.replace(_PLACEHOLDER, qp_encode(url).replace(b"\n", b"\r\n"))


def format_to(email: str, name: str) -> bytes:
    """``To`` header value: the name RFC 2047-encoded when not ASCII, control characters removed."""
    name = _CONTROL.sub(" ", name).strip()
    if not name:
        return email.encode("ascii")
    try:
        name.encode("ascii")
        return formataddr((name, email)).encode("ascii")
    except UnicodeEncodeError:
        encoded = Header(name, "utf-8").encode(linesep="\r\n")
        return f"{encoded} <{email}>".encode("ascii")


def issue_message(
    *, subject: str, envelope: Envelope, text: str, html: str, date: datetime, list_id: str,
    unsubscribe_url: Callable[[str], str], unsubscribe_mailto: str, id_prefix: str,
) -> IssueMessage:
    """Serialise the issue's multipart/alternative message once (text/plain + text/html)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = envelope.header
    if envelope.reply_to:
        msg["Reply-To"] = envelope.reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["List-Id"] = list_id
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058 one-click
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = "multipart/alternative"
    msg.attach(_qp_part("plain", text))
    msg.attach(_qp_part("html", html))
    try:
        template = msg.as_bytes(policy=policy.SMTP)
    except (ValueError, TypeError) as exc:  # an unparsable From/Reply-To header
        raise ChannelError(f"the email headers cannot be written: {exc}") from None
    return IssueMessage(template, envelope, unsubscribe_url, unsubscribe_mailto, id_prefix)


def simple_message(envelope: Envelope, to_addr: str, to_name: str, subject: str, text: str, html: str | None, date: datetime) -> bytes:
    """A single transactional message (e.g. a subscription confirmation), fully built per call."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = envelope.header
    msg["To"] = Address(display_name=_CONTROL.sub(" ", to_name).strip(), addr_spec=to_addr)
    if envelope.reply_to:
        msg["Reply-To"] = envelope.reply_to
    msg["Subject"] = _CONTROL.sub(" ", subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{secrets.token_hex(12)}@{envelope.domain}>"
    # Never 8bit: not every server speaks 8BITMIME.
    msg.set_content(text, cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg.as_bytes(policy=policy.SMTP)


def list_id(site_title: str, site_url: str, configured: str | None) -> str:
    """``List-Id`` (RFC 2919): the configured id, else the site's host (and path) as a dotted label."""
    if configured:
        label = configured.strip().strip("<>")
    else:
        rest = site_url.split("://", 1)[-1]
        host, _, path = rest.partition("/")
        parts = [p for p in re.split(r"[^A-Za-z0-9-]+", path) if p]
        label = ".".join([*reversed(parts), host.split(":")[0].lower()])
    return f"{_CONTROL.sub(' ', site_title)} <{label}>"

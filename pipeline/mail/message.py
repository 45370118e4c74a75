"""Email messages: one issue's message serialised once, each recipient's copy a substitution.

Building an ``EmailMessage`` costs milliseconds; a bytes substitution costs microseconds. So
:func:`issue_message` serialises the multipart/alternative message of an issue once, and
:meth:`IssueMessage.personalise` makes a recipient's bytes by prepending three headers (To,
Message-ID, List-Unsubscribe) and putting their unsubscribe URL where the renderer left the
placeholder in both parts.

The placeholder (:func:`pipeline.mail.placeholder.unsubscribe_placeholder`) is itself a URL that works on the web: the
built ``email.html`` and ``email.txt`` are public (the issue page links to them), and a web
reader who follows 退订 there reaches the site's subscription page. The renderer puts it only
where the template asked for ``unsubscribe_url`` and escapes any copy of it that came from an
issue's content (see :mod:`pipeline.render.email`), so that every occurrence in a built part
is the template's own and content never chooses where a recipient's link goes. It is ASCII,
with no space, ``=``, ``&`` or quote.

Each part is transfer-encoded here, not by the ``email`` package. With ``eight_bit`` (the
channel's default) a part goes as 8bit UTF-8, its lines broken to stay far below SMTP's 998
bytes (mjml-python emits the HTML as one long line): at spaces, and in HTML inside tags, so
that the text a reader (or a spam filter) sees is the same; a part that cannot be broken so,
or any part when 8bit is off, goes in whichever of two 7-bit encodings is smaller:

- quoted-printable, for mostly-ASCII text: encoded piece by piece around each placeholder,
  which is put on a line of its own between soft line breaks (``=\\r\\n``), so a soft break
  never falls inside it; the URL is QP-encoded when it is put in (``=`` → ``=3D``, long URLs
  get their own soft breaks).
- base64, for Chinese text (QP turns each byte of UTF-8 Chinese into three characters,
  base64 into four thirds, which also keeps the HTML clear of Gmail's ~102 KB clip): the
  fixed stretches between placeholders are encoded once in whole 3-byte groups, cached for
  each of the three alignments a URL's length can leave, and only the few bytes around each
  URL are encoded per recipient; the concatenation is exactly the base64 of the whole text.

In the HTML part the URL is HTML-escaped (``&`` → ``&amp;``). Headers are written with
``email.policy.SMTP`` (RFC 2047 encoded words for Chinese, CRLF), not SMTPUTF8, which most
servers have not agreed to; they are never substituted.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy, quoprimime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formataddr, parseaddr

from pipeline.errors import ChannelError

# The part encoders' default placeholder, for callers that pass none (tests, benchmarks);
# an issue's message always uses pipeline.mail.placeholder.unsubscribe_placeholder(config).
PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"
_PLACEHOLDER = PLACEHOLDER.encode("ascii")
_PART_TOKENS = (b"%%TEXT_PART%%", b"%%HTML_PART%%")  # where the encoded bodies go in the template
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ATOMS = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9-]+")
_FOLD_AT = 78  # RFC 5322's recommended line length


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


# part bodies ------------------------------------------------------------------------------


def qp_encode(data: bytes, width: int = 76) -> bytes:
    """Quoted-printable with ``\\n`` line ends and lines of at most ``width`` characters.

    (``binascii.b2a_qp`` is faster but lets some lines reach 77 characters.)
    """
    return quoprimime.body_encode(data.decode("latin-1"), width, "\n").encode("ascii")


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


def b64_encode(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ended by CRLF."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


class QPBody:
    """A quoted-printable part body; ``encode(value)`` puts ``value`` at every placeholder."""

    cte = "quoted-printable"

    def __init__(self, text: str, placeholder: bytes = _PLACEHOLDER) -> None:
        self.placeholder = placeholder
        self.template = qp_with_placeholders(text, placeholder).replace(b"\n", b"\r\n")

    def encode(self, value: bytes) -> bytes:
        # 75: the soft break that may follow a placeholder must still fit on the value's last line.
        return self.template.replace(self.placeholder, qp_encode(value, 75).replace(b"\n", b"\r\n"))


class Base64Body:
    """A base64 part body built from cached, 3-byte-aligned encodings of the fixed text."""

    cte = "base64"

    def __init__(self, text: str, placeholder: bytes = _PLACEHOLDER) -> None:
        # Text is encoded in its canonical form, with CRLF line ends (RFC 2045).
        self.pieces = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8").split(placeholder)
        self.cache: dict[tuple[int, int], tuple[bytes, int]] = {}

    def encode(self, value: bytes) -> bytes:
        out: list[bytes] = []
        carry = b""  # bytes not yet encoded: a partial group, then a value just put in
        for index, piece in enumerate(self.pieces):
            if index:
                carry += value
            need = -len(carry) % 3  # bytes of this piece that complete carry's last group
            if len(piece) <= need:
                carry += piece
                continue
            if carry:
                out.append(b64_encode(carry + piece[:need]))
            encoded, length = self._fixed(index, need)
            out.append(encoded)
            carry = piece[need + length :]
        if carry:
            out.append(b64_encode(carry))
        return b"".join(out)

    def _fixed(self, index: int, skip: int) -> tuple[bytes, int]:
        """The encoding of piece ``index`` from byte ``skip`` on, in whole groups, and its length."""
        key = (index, skip)
        if key not in self.cache:
            region = self.pieces[index][skip:]
            length = len(region) - len(region) % 3
            self.cache[key] = (b64_encode(region[:length]) if length else b"", length)
        return self.cache[key]


class EightBitBody:
    """An 8bit part body: the UTF-8 text itself, its long lines broken where HTML ignores it."""

    cte = "8bit"

    def __init__(self, wrapped: bytes, placeholder: bytes = _PLACEHOLDER) -> None:
        self.template = wrapped
        self.placeholder = placeholder

    def encode(self, value: bytes) -> bytes:
        return self.template.replace(self.placeholder, value)


# Lines of an 8bit body stay under SMTP's limit of 998 bytes; one that holds a placeholder
# keeps room for the URL that replaces it (an unsubscribe token grows with the address: up to
# 360 characters for the longest, 254, plus the site's URL).
EIGHT_BIT_LINE = 990
URL_ROOM = 600
# Where a line break would change what a reader sees (preformatted text; the head's CSS and
# title) or what a client reads (comments, Outlook's conditional ones among them).
_VERBATIM = rb"<(?P<name>pre|style|title|textarea|script)\b.*?</(?P=name)\s*>|<!--.*?-->"
# A tag, with its attribute values, quoted or not (a ">" inside quotes does not end it).
_TAG = rb"</?[A-Za-z][^\s/>]*(?:[^\"'>]|\"[^\"]*\"|'[^']*')*>"
_MARKUP = re.compile(rb"(?P<verbatim>" + _VERBATIM + rb")|" + _TAG, re.DOTALL | re.IGNORECASE)
_TAG_NAME = re.compile(rb"</?[A-Za-z][^\s/>]*")
_UNQUOTED_SPACE = re.compile(rb"\"[^\"]*\"|'[^']*'|( )")
# The last resort in a run of Chinese text longer than a line: a line break inside a <wbr> tag,
# between two ideographs, where a line may break anyway (so the tag changes nothing shown).
_WBR = (b"<wbr", b">")


@dataclass(frozen=True)
class _Breaks:
    """Where a line may end: ``(offset, 1)`` a space the line break replaces, ``(offset, 0)`` a
    place where one is inserted; and, in HTML, the spans that are not text (tags, verbatim)."""

    points: list[tuple[int, int]]
    markup: list[tuple[int, int]]


def wrap_8bit(
    text: str, limit: int = EIGHT_BIT_LINE, html: bool = False, placeholder: bytes = _PLACEHOLDER
) -> bytes | None:
    """The text as CRLF lines of at most ``limit`` bytes (less :data:`URL_ROOM` on a line with
    a ``placeholder``), or None where that cannot be done.

    A line break replaces an ASCII space (in HTML and in wrapped plain text it reads as the
    space it replaces). In HTML a line may also end inside a tag, after its name or between
    its attributes, which no reader sees; never inside an attribute value, a placeholder,
    a comment or verbatim text. So a break adds nothing to the text a spam filter reads (a
    comment or tag between two characters reads to SpamAssassin as a word split to hide
    it), except in a run of Chinese text longer than a line: that breaks in a ``<wbr>``.
    """
    data = text.replace("\r\n", "\n").encode("utf-8")
    breaks = _html_breaks(data) if html else _Breaks([(m.start(), 1) for m in re.finditer(b" ", data)], [])
    offsets = [offset for offset, _ in breaks.points]
    lines: list[bytes] = []

    def room(first: int, last: int) -> int:
        return limit - (URL_ROOM if data.find(placeholder, first, last) >= 0 else 0)

    start = 0
    for end in [*(m.start() for m in re.finditer(b"\n", data)), len(data)]:
        prefix = b""
        while len(prefix) + end - start > room(start, end):
            stop = start + room(start, min(end, start + limit)) - len(prefix)
            index = bisect.bisect_right(offsets, stop) - 1
            if index >= 0 and offsets[index] > start:
                cut, replaced = breaks.points[index]
                lines.append(prefix + data[start:cut])
                start, prefix = cut + replaced, b""
                continue
            cut = _between_ideographs(data, start, stop - len(_WBR[0]), breaks.markup) if html else None
            if cut is None:
                return None
            lines.append(prefix + data[start:cut] + _WBR[0])
            start, prefix = cut, _WBR[1]
        lines.append(prefix + data[start:end])
        start = end + 1
    return b"\r\n".join(lines)


def _html_breaks(data: bytes) -> _Breaks:
    """The places in an HTML text where a line break shows no difference (see :func:`wrap_8bit`)."""
    points: list[tuple[int, int]] = []
    markup: list[tuple[int, int]] = []
    text_from = 0
    for match in _MARKUP.finditer(data):
        points += [(text_from + m.start(), 1) for m in re.finditer(b" ", data[text_from : match.start()])]
        markup.append(match.span())
        text_from = match.end()
        if match.group("verbatim"):
            continue
        name_end = _TAG_NAME.match(data, match.start()).end()
        if data[name_end : name_end + 1] != b" ":
            points.append((name_end, 0))
        tag = data[match.start() : match.end()]
        points += [(match.start() + m.start(1), 1) for m in _UNQUOTED_SPACE.finditer(tag) if m.group(1)]
    points += [(text_from + m.start(), 1) for m in re.finditer(b" ", data[text_from:])]
    return _Breaks(sorted(points), markup)


def _between_ideographs(data: bytes, start: int, stop: int, markup: list[tuple[int, int]]) -> int | None:
    """The last offset in ``(start, stop]`` between two CJK ideographs of the text, or None."""
    for cut in range(stop, start + 2, -1):
        if not (_is_ideograph(data[cut - 3 : cut]) and _is_ideograph(data[cut : cut + 3])):
            continue
        index = bisect.bisect_right(markup, (cut, len(data) + 1)) - 1
        if index < 0 or not markup[index][0] < cut < markup[index][1]:
            return cut
    return None


def _is_ideograph(three: bytes) -> bool:
    """Whether these three bytes are one ideograph (U+3400–U+9FFF, U+F900–U+FAFF) in UTF-8."""
    if len(three) != 3 or not 0xE3 <= three[0] <= 0xEF:
        return False
    try:
        char = three.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def encode_body(
    text: str, eight_bit: bool = False, placeholder: str = PLACEHOLDER, html: bool = False
) -> QPBody | Base64Body | EightBitBody:
    """The smallest encoding for this text: 8bit where allowed and the lines can be kept
    short, else QP for mostly ASCII and base64 for Chinese. ``encode(value)`` on the result
    puts ``value`` wherever ``placeholder`` is; ``html`` lets long lines break inside tags."""
    mark = placeholder.encode("ascii")
    if eight_bit:
        wrapped = wrap_8bit(text, html=html, placeholder=mark)
        if wrapped is not None:
            return EightBitBody(wrapped, mark)
    raw = text.encode("utf-8")
    return QPBody(text, mark) if len(qp_encode(raw)) <= len(raw) * 4 // 3 * 78 // 76 else Base64Body(text, mark)


# the issue's message ------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueMessage:
    """An issue's serialised message; ``personalise`` gives one recipient's bytes."""

    segments: tuple[bytes, bytes, bytes]  # the serialised message around the two part bodies
    text: QPBody | Base64Body
    html: QPBody | Base64Body
    envelope: Envelope
    unsubscribe_url: Callable[[str], str]  # address → its signed one-click URL
    unsubscribe_mailto: str  # "" for none
    id_prefix: str

    def personalise(self, email: str, name: str = "") -> bytes:
        """The message for one recipient: their To, a fresh Message-ID and their unsubscribe URL."""
        url = self.unsubscribe_url(email).encode("ascii")
        head = (
            b"To: "
            + format_to(email, name)
            + b"\r\n"
            + f"Message-ID: <{self.id_prefix}.{secrets.token_hex(8)}@{self.envelope.domain}>\r\n".encode("ascii")
            + b"List-Unsubscribe: <"
            + url
            + b">"
            + (b",\r\n <" + self.unsubscribe_mailto.encode("ascii") + b">" if self.unsubscribe_mailto else b"")
            + b"\r\n"
        )
        before, between, after = self.segments
        text, html = self.text.encode(url), self.html.encode(url.replace(b"&", b"&amp;"))
        return b"".join((head, before, text, between, html, after))


def issue_message(
    *,
    subject: str,
    envelope: Envelope,
    text: str,
    html: str,
    date: datetime,
    list_id: str,
    placeholder: str,
    unsubscribe_url: Callable[[str], str],
    unsubscribe_mailto: str,
    id_prefix: str,
    eight_bit: bool = False,
) -> IssueMessage:
    """Serialise the issue's multipart/alternative message once (text/plain + text/html).

    ``placeholder`` (:func:`pipeline.mail.placeholder.unsubscribe_placeholder`) is where each recipient's unsubscribe
    URL goes in the parts; a message whose parts have none is refused, because it would reach
    readers with no way out but the List-Unsubscribe header (e.g. parts built for another
    site.url). ``eight_bit``: send UTF-8 as it is (the smallest as sent: Gmail clips an HTML
    part over ~102 KB, and base64 adds a third) to servers that accept 8BITMIME.
    """
    if placeholder not in text and placeholder not in html:
        raise ChannelError(
            f"the built email has no unsubscribe link ({placeholder} in neither part)",
            hint="run `publish build`; a template override must keep {{ unsubscribe_url }}",
        )
    bodies = encode_body(text, eight_bit, placeholder), encode_body(html, eight_bit, placeholder, html=True)
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
    for subtype, body, token in zip(("plain", "html"), bodies, _PART_TOKENS):
        part = MIMEPart(policy=policy.SMTP)
        part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
        part["Content-Transfer-Encoding"] = body.cte
        part.set_payload(token.decode("ascii"))  # the encoded body goes here, per recipient
        msg.attach(part)
    try:
        serialised = msg.as_bytes(policy=policy.SMTP)
    except (ValueError, TypeError) as exc:  # an unparsable From/Reply-To header
        raise ChannelError(f"the email headers cannot be written: {exc}") from None
    # The CRLF after each token stays: it belongs to the boundary line that follows.
    before, rest = serialised.split(_PART_TOKENS[0])
    between, after = rest.split(_PART_TOKENS[1])
    return IssueMessage(
        (before, between, after), bodies[0], bodies[1], envelope, unsubscribe_url, unsubscribe_mailto, id_prefix
    )


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


def simple_message(
    envelope: Envelope, to_addr: str, to_name: str, subject: str, text: str, html: str | None, date: datetime
) -> bytes:
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


def list_id(site_title: str, site_url: str, configured: str | None) -> ListId:
    """``List-Id`` (RFC 2919): the site title as a phrase, then the configured id or one made from site.url.

    The title is only a description, so it is written so that nothing in it can end the phrase
    early: plain words as they are, other ASCII as one quoted string, anything else as RFC 2047
    encoded words (like a display name); line breaks and control characters become spaces.
    """
    label = _configured_label(configured) if configured else _derived_label(site_url)
    title = " ".join(_CONTROL.sub(" ", site_title or "").split())
    return ListId(f"{_phrase(title)} <{label}>" if title else f"<{label}>")


class ListId(str):
    """A ``List-Id`` value in its wire form (ASCII), which the email package writes as it is.

    Given a plain string, the email package takes the header for unstructured text: it decodes
    the encoded words and re-encodes only the non-ASCII runs, which would put a title's ``<``
    or ``"`` back in the open. A value with a ``name`` is a header object to it
    (``EmailPolicy.header_store_parse``), which it asks to fold itself.
    """

    name = "List-Id"

    def fold(self, *, policy: policy.Policy) -> str:
        """The header line, folded at spaces (between encoded words, or inside the quoted string)."""
        lines = [f"{self.name}:"]
        for word in self.split(" "):
            has_word = lines[-1] not in ("", f"{self.name}:")
            if has_word and len(lines[-1]) + 1 + len(word) > _FOLD_AT:
                lines.append("")
            lines[-1] += " " + word
        return policy.linesep.join(lines) + policy.linesep


def _phrase(text: str) -> str:
    """``text`` as an RFC 5322 phrase that reads back as ``text``."""
    if not text.isascii() or any(len(word) > _FOLD_AT - 20 for word in text.split()):
        return " ".join(Header(text, "utf-8", header_name=ListId.name).encode().split())
    if _ATOMS.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _configured_label(configured: str) -> str:
    """The configured id (``digest.example.org``, also accepted as ``<…>`` or ``Name <…>``)."""
    value = configured.strip()
    if "<" in value:
        value = value.rpartition("<")[2].partition(">")[0].strip()
    if not _DOT_ATOM.fullmatch(value):
        raise ChannelError(
            f"list_id {configured!r} is not a list id",
            hint="use a dotted name without spaces or brackets, such as digest.example.org (RFC 2919)",
        )
    return value


def _derived_label(site_url: str) -> str:
    """The site's host (and path, innermost first) as a dotted label: ``digest.example.org``."""
    rest = site_url.split("://", 1)[-1]
    host, _, path = rest.partition("/")
    host = host.rpartition("@")[2].split(":")[0].lower()
    with contextlib.suppress(UnicodeError):  # else the filter below keeps what it can
        host = host.encode("idna").decode("ascii")
    words = [p for p in _NOT_LABEL.split(path) if p][::-1] + [p for p in _NOT_LABEL.split(host) if p]
    return ".".join(words) or "localhost"

"""DKIM (RFC 6376): each recipient's message signed with the sending domain's key, and what a
receiver's verdict says about it.

Gmail and Yahoo ask bulk senders for a DKIM signature whose ``d=`` aligns with the From domain,
SPF, a DMARC record and one-click unsubscribe. Every copy of an issue differs (To, Message-ID,
the unsubscribe link in both parts), so each one is signed on its own: :class:`Signer` signs the
finished bytes with dkimpy (relaxed/relaxed; rsa-sha256 or ed25519-sha256, as the key is).

The private key is a secret: it is read once, held only by :class:`DkimKey` (whose repr leaves
it out), and no message of this module quotes it or an error raised while parsing it. Parsing
and a test signature happen before the first recipient, so a bad key stops the send at once.

:func:`received_checks` reads a message as a mailbox received it: its Authentication-Results
(RFC 8601) and, when the signing key is known, the signature checked offline (the public key is
handed to dkimpy instead of a DNS answer; nothing here queries DNS).
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
from dataclasses import dataclass, field
from email.utils import getaddresses

import dkim
from dkim.crypto import parse_private_key
from dkim.util import InvalidTagValueList, parse_tag_value

from pipeline.errors import ChannelError

# What a recipient's copy carries that a forwarder or attacker must not change. Listed headers a
# copy does not have (Reply-To when unset) are signed as absent, so none can be added later;
# From is listed twice so that a second From cannot be added either.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
    b"from",
)
CANONICALIZE = (b"relaxed", b"relaxed")
MIN_RSA_BITS = 1024  # receivers ignore shorter keys (RFC 8301)
KEY_HINT = "give a PEM private key (openssl genrsa -out dkim.pem 2048), not encrypted"
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_RSA_OID = bytes.fromhex("06092a864886f70d010101")
_ED25519_OID = bytes.fromhex("06032b6570")
_TXT_STRING = 255  # the longest character-string of a TXT record


@dataclass(frozen=True)
class DkimKey:
    """A private key ready for dkimpy, and the public half that goes into DNS."""

    algorithm: bytes  # b"rsa-sha256" or b"ed25519-sha256"
    public: str  # base64, the record's p=
    bits: int
    private: bytes = field(repr=False)  # PEM (RSA) or the base64 seed (ed25519), as dkimpy takes them

    @property
    def kind(self) -> str:
        """The record's k=: rsa or ed25519."""
        return self.algorithm.split(b"-")[0].decode("ascii")

    def record(self) -> str:
        """The TXT record's text: ``v=DKIM1; k=rsa; p=…``."""
        return f"v=DKIM1; k={self.kind}; p={self.public}"


def load_key(text: str, where: str) -> DkimKey:
    """Parse a private key (PEM RSA, PKCS#1 or #8; PEM or base64-seed ed25519).

    ``where`` names the setting in messages (``channels.email.dkim.private_key``); what went
    wrong inside the key is never said, because saying it could quote the key.
    """
    text = text.strip().replace("\r\n", "\n")
    if "\\n" in text and "\n" not in text:  # a one-line environment variable with escaped newlines
        text = text.replace("\\n", "\n")
    pem = _PEM.search(text)
    try:
        if pem is None:
            return _ed25519_key(base64.b64decode(text, validate=True), where)
        label, der = pem.group(1), base64.b64decode("".join(pem.group(2).split()))
    except ValueError:
        raise ChannelError(f"{where}: the value is not a private key", hint=KEY_HINT) from None
    if "ENCRYPTED" in label:
        raise ChannelError(
            f"{where}: the private key is encrypted",
            hint="write it out without a passphrase (openssl pkey -in KEY -out dkim.pem) and keep that file private",
        )
    if "PUBLIC" in label:
        raise ChannelError(f"{where}: this is a public key", hint="give the private key; the public one goes into DNS")
    if _ED25519_OID in der[:16]:
        return _ed25519_key(der[-32:] if der[-34:-32] == b"\x04\x20" else b"", where)
    return _rsa_key(der, where)


def _rsa_key(der: bytes, where: str) -> DkimKey:
    try:
        numbers = parse_private_key(der)
        modulus, exponent = numbers["modulus"], numbers["publicExponent"]
    except Exception:  # dkimpy's parse errors may quote the key: none of them is passed on
        raise ChannelError(f"{where}: the private key cannot be read", hint=KEY_HINT) from None
    bits = modulus.bit_length()
    if bits < MIN_RSA_BITS:
        raise ChannelError(
            f"{where}: the RSA key has {bits} bits; receivers ignore keys under {MIN_RSA_BITS}",
            hint="make a 2048-bit key: openssl genrsa -out dkim.pem 2048, and publish its record (`publish doctor`)",
        )
    rsa_public = _der(0x30, _der_int(modulus) + _der_int(exponent))
    spki = _der(0x30, _der(0x30, _RSA_OID + b"\x05\x00") + _der(0x03, b"\x00" + rsa_public))
    pem = b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(der) + b"-----END PRIVATE KEY-----\n"
    return DkimKey(b"rsa-sha256", base64.b64encode(spki).decode("ascii"), bits, pem)


def _ed25519_key(seed: bytes, where: str) -> DkimKey:
    if len(seed) != 32:
        raise ChannelError(f"{where}: the value is not a private key", hint=KEY_HINT)
    try:
        import nacl.signing  # dkimpy signs ed25519 with PyNaCl, its optional dependency
    except ImportError:
        raise ChannelError(
            f"{where}: an ed25519 key needs PyNaCl, which is not installed",
            hint="pip install 'dkimpy[ed25519]', or use an RSA key (openssl genrsa -out dkim.pem 2048)",
        ) from None
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    return DkimKey(b"ed25519-sha256", base64.b64encode(public).decode("ascii"), 256, base64.b64encode(seed))


def _der(tag: int, body: bytes) -> bytes:
    """One DER element (dkimpy's encoder cannot write lengths over 127)."""
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + body


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def check_name(value: str, where: str, what: str) -> str:
    """A selector or domain as DNS takes it, or ChannelError saying what to write."""
    name = value.strip().rstrip(".").lower()
    if "@" in name:
        raise ChannelError(f"{where}: {value!r} is an address, not a {what}", hint="write the part after @")
    if not name or not all(_LABEL.match(label) for label in name.split(".")):
        raise ChannelError(
            f"{where}: {value!r} is not a {what}",
            hint="use letters, digits and - (e.g. selector s1, domain example.org)",
        )
    return name


class Signer:
    """Signs finished message bytes for ``d=domain``, ``s=selector``; checked once at creation."""

    def __init__(self, key: DkimKey, selector: str, domain: str) -> None:
        self.key, self.selector, self.domain = key, selector, domain
        self._selector, self._domain = selector.encode("ascii"), domain.encode("ascii")
        self._self_test()

    def __repr__(self) -> str:
        return f"Signer(d={self.domain}, s={self.selector}, {self.key.algorithm.decode()})"

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def sign(self, data: bytes) -> bytes:
        """The message with its DKIM-Signature header first (CRLF line ends, as on the wire)."""
        signature = dkim.DKIM(data).sign(
            self._selector,
            self._domain,
            self.key.private,
            signature_algorithm=self.key.algorithm,
            canonicalize=CANONICALIZE,
            include_headers=list(SIGNED_HEADERS),
        )
        return signature + data

    def verify(self, data: bytes) -> bool:
        """Whether the message's first signature verifies with this key (no DNS)."""
        return verify_offline(data, self.dns_name, self.key.record())

    def _self_test(self) -> None:
        """Sign and verify a small message: a key whose parts do not fit fails here, not per recipient."""
        probe = b"From: probe@" + self._domain + b"\r\nSubject: probe\r\n\r\nprobe\r\n"
        try:
            ok = self.verify(self.sign(probe))
        except Exception:  # never pass on what dkimpy says about the key
            ok = False
        if not ok:
            raise ChannelError(
                f"DKIM key for {self.dns_name} makes signatures that do not verify: the key is damaged", hint=KEY_HINT
            )


def verify_offline(data: bytes, dns_name: str, record: str) -> bool:
    """Check the first DKIM-Signature with ``record`` as the TXT record of ``dns_name``."""
    wanted = dns_name.rstrip(".").lower()

    def answer(name: bytes | str, timeout: float = 5) -> bytes | None:
        asked = name.decode("ascii") if isinstance(name, bytes) else name
        return record.encode("ascii") if asked.rstrip(".").lower() == wanted else None

    return bool(dkim.verify(crlf(data), dnsfunc=answer))


def crlf(data: bytes) -> bytes:
    """A saved message (a Maildir file has LF line ends) as it was on the wire."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def txt_record(dns_name: str, key: DkimKey) -> str:
    """The zone-file line to publish, the text split in strings of at most 255 characters."""
    text = key.record()
    strings = " ".join(f'"{text[i : i + _TXT_STRING]}"' for i in range(0, len(text), _TXT_STRING))
    return f"{dns_name} IN TXT {strings}"


# alignment ----------------------------------------------------------------------------------

# Second-level names under which registrations sit one level deeper (example.com.cn, example.co.uk):
# enough for DMARC's relaxed alignment without the whole public suffix list.
_SECOND_LEVEL = {"com", "net", "org", "edu", "gov", "ac", "co", "or", "ne", "go"}


def organisational_domain(domain: str) -> str:
    """``mail.example.org`` → ``example.org``; ``news.example.com.cn`` → ``example.com.cn``."""
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def aligned(domain: str, from_domain: str) -> bool:
    """DMARC relaxed alignment: both under the same organisational domain."""
    return bool(domain) and organisational_domain(domain) == organisational_domain(from_domain)


# a received message ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One line of `publish doctor`: ``state`` is ok, missing (required), warn, todo or info."""

    state: str
    what: str
    detail: str = ""

    @property
    def missing(self) -> bool:
        return self.state == "missing"


@dataclass(frozen=True)
class AuthResult:
    """One ``method=result`` of an Authentication-Results header, with its properties."""

    server: str
    method: str
    result: str
    properties: dict[str, str]


_RESINFO = re.compile(r'([A-Za-z0-9_.\-/]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]+)')


def authentication_results(message: email.message.Message) -> list[AuthResult]:
    """Every result of every Authentication-Results header, topmost (the last receiver's) first."""
    results = []
    for value in message.get_all("Authentication-Results") or []:
        server, *entries = _without_comments(" ".join(str(value).split())).split(";")
        for entry in entries:
            pairs = _RESINFO.findall(entry)
            if not pairs:
                continue  # "none": the server checked nothing
            (method, result), *rest = pairs
            properties = {name.lower(): value.strip('"') for name, value in rest}
            results.append(
                AuthResult(
                    server.split()[0] if server.split() else "",
                    method.split("/")[0].lower(),
                    result.lower(),
                    properties,
                )
            )
    return results


def _without_comments(text: str) -> str:
    """RFC 5322 comments (nested parentheses) removed, quoted strings kept."""
    out, depth, quoted, escaped = [], 0, False, False
    for char in text:
        if escaped:
            escaped = False
            if not depth:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
        elif char == '"' and not depth:
            quoted = not quoted
        elif char == "(" and not quoted:
            depth += 1
            continue
        elif char == ")" and not quoted and depth:
            depth -= 1
            continue
        if not depth:
            out.append(char)
    return "".join(out)


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip().strip("<>").rstrip(".").lower()


def received_checks(data: bytes, signer: Signer | None = None) -> list[Check]:
    """What a received copy says about sender authentication: SPF, DKIM, DMARC and alignment
    from its Authentication-Results, and its signature checked offline with ``signer``'s key."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    senders = getaddresses([str(v) for v in message.get_all("From") or []])
    from_domain = _domain_of(senders[0][1]) if senders else ""
    checks = [
        Check("ok" if from_domain else "missing", "From domain", from_domain or "the message has no From address")
    ]
    results = authentication_results(message)
    if not results:
        checks.append(
            Check(
                "missing",
                "Authentication-Results",
                "the message has none: save it as the receiving mailbox shows it (Gmail: Show original → Download original)",
            )
        )
    else:
        checks += [_spf(results, from_domain), _dkim(results, from_domain), _dmarc(results)]
    return [*checks, *_signature_checks(data, signer)]


def _first(results: list[AuthResult], method: str) -> list[AuthResult]:
    """The results of ``method`` from the topmost header that has any: the receiver the reader trusts."""
    found = [r for r in results if r.method == method]
    return [r for r in found if r.server == found[0].server] if found else []


def _spf(results: list[AuthResult], from_domain: str) -> Check:
    spf = _first(results, "spf")
    if not spf:
        return Check("missing", "SPF", "the receiver reported no SPF result")
    domain = _domain_of(spf[0].properties.get("smtp.mailfrom") or spf[0].properties.get("smtp.helo", ""))
    if spf[0].result != "pass":
        return Check("missing", "SPF", f"{spf[0].result} for {domain or 'the envelope sender'}")
    if aligned(domain, from_domain):
        return Check("ok", "SPF", f"pass for {domain}, aligned with From")
    return Check("warn", "SPF", f"pass for {domain}, not aligned with From {from_domain} (DMARC then rests on DKIM)")


def _dkim(results: list[AuthResult], from_domain: str) -> Check:
    found = _first(results, "dkim")
    if not found:
        return Check("missing", "DKIM", "the receiver reported no DKIM result: the message is not signed")
    passed = [
        (r, _domain_of(r.properties.get("header.d") or r.properties.get("header.i", "")))
        for r in found
        if r.result == "pass"
    ]
    for _result, domain in passed:
        if aligned(domain, from_domain):
            return Check("ok", "DKIM", f"pass for d={domain}, aligned with From")
    if passed:
        domains = ", ".join(d or "?" for _r, d in passed)
        return Check(
            "missing", "DKIM", f"pass for d={domains}, none aligned with From {from_domain}: sign with d={from_domain}"
        )
    return Check("missing", "DKIM", ", ".join(sorted({r.result for r in found})))


def _dmarc(results: list[AuthResult]) -> Check:
    found = _first(results, "dmarc")
    if not found:
        return Check("missing", "DMARC", "the receiver reported no DMARC result")
    result = found[0]
    where = result.properties.get("header.from", "")
    if result.result == "pass":
        return Check("ok", "DMARC", f"pass for {where}" if where else "pass")
    if result.result == "none":
        return Check("missing", "DMARC", f"no DMARC record found for {where or 'the From domain'}: publish one")
    return Check("missing", "DMARC", f"{result.result} for {where}" if where else result.result)


def _signature_checks(data: bytes, signer: Signer | None) -> list[Check]:
    """The message's DKIM signatures, each verified offline when it is the configured key's."""
    head, sep, body = crlf(data).partition(b"\r\n\r\n")
    fields = re.split(rb"\r\n(?![ \t])", head)
    checks = []
    for index, header in enumerate(fields):
        label, _, value = header.partition(b":")
        if label.strip().lower() != b"dkim-signature":
            continue
        try:
            tags = parse_tag_value(b" ".join(value.split()))
            name = f"{tags[b's'].decode('ascii')}._domainkey.{tags[b'd'].decode('ascii')}".lower()
        except (InvalidTagValueList, KeyError, UnicodeError):
            checks.append(Check("warn", "DKIM signature", "a DKIM-Signature header that cannot be read"))
            continue
        if signer is None or name != signer.dns_name:
            checks.append(Check("info", "DKIM signature", f"by {name}: not the configured key, not verified offline"))
        # dkimpy checks the first signature: start at this one (headers added above it are not signed)
        elif signer.verify(b"\r\n".join(fields[index:]) + sep + body):
            checks.append(Check("ok", "DKIM signature", f"by {name} verifies with the configured key"))
        else:
            checks.append(
                Check(
                    "missing",
                    "DKIM signature",
                    f"by {name} does not verify with the configured key: the message was changed on the way, "
                    "or the key in DNS is another one",
                )
            )
    return checks or [Check("info", "DKIM signature", "the message carries none")]

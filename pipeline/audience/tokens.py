"""Signed, unforgeable links: unsubscribe (no expiry) and subscription confirmation (expires).

A confirmation link carries the address and ``base64url(HMAC-SHA256(secret, purpose:email:expiry))``
truncated to 128 bits, so nobody can make a valid link for another address without the secret.

An unsubscribe link carries no address at all (``unsubscribe?u=…``): spam filters score a
link that names its recipient (SpamAssassin's GB_CUSTOM_HTM_URI), and a forwarded message
should not hand the address on. Its token is the address encrypted deterministically and
authenticated, in the manner of SIV: a 128-bit HMAC of the address is both the check and the
nonce of an HMAC-SHA256 keystream that hides it, so the endpoint reads the address back from
the token alone, with no lookup, and a token that was not made with the secret (or was
altered in one bit) reads as nothing. Links of the earlier form, ``?email=…&token=…`` with
the plain HMAC, stay valid: messages already delivered keep working.

The secret comes from the config (``${ENV}``) or, when none is set, is generated once and
kept in the state folder with owner-only permissions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlencode

from pipeline.config import Config

SECRET_FILE = "unsubscribe.key"
# The query key of an unsubscribe link's token; the earlier links used "email" and "token".
UNSUBSCRIBE_KEY = "u"
_TAG_BYTES = 16


def load_secret(config: Config) -> bytes:
    """The signing key: the email channel's ``unsubscribe_secret``, else the state folder's key file."""
    for channel in config.channels_declaring("unsubscribe_secret"):
        if "unsubscribe_secret" in channel.options:
            return channel.options.get("unsubscribe_secret").encode()
    path = config.state_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def sign(secret: bytes, purpose: str, email: str, expires: int | None = None) -> str:
    message = f"{purpose}:{email.lower()}" + (f":{expires}" if expires is not None else "")
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(secret: bytes, purpose: str, email: str, token: str, expires: int | None = None) -> bool:
    """Constant-time check of a token; an expired confirmation token is refused."""
    if expires is not None and expires < time.time():
        return False
    if not token or not token.isascii():  # compare_digest raises TypeError on non-ASCII text
        return False
    return hmac.compare_digest(sign(secret, purpose, email, expires), token)


def unsubscribe_url(config: Config, secret: bytes, email: str) -> str:
    """The per-recipient one-click unsubscribe URL under ``site.url``; it does not show the address."""
    return config.site.absolute(f"unsubscribe?{UNSUBSCRIBE_KEY}={unsubscribe_token(secret, email)}")


def unsubscribe_token(secret: bytes, email: str) -> str:
    """The address sealed with the secret: base64url of a 128-bit tag, then the encrypted address."""
    plain = email.encode("utf-8")
    tag = _keyed(secret, b"unsubscribe-tag", plain)[:_TAG_BYTES]
    sealed = tag + _xor(plain, _keystream(secret, tag, len(plain)))
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def unsubscribe_address(secret: bytes, token: str) -> str | None:
    """The address a token from :func:`unsubscribe_token` was made for, or None when it was not made so."""
    if not token.isascii() or len(token) > 1024:
        return None
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:  # binascii.Error: not base64
        return None
    if base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii") != token:
        return None  # one spelling per token: the decoder would ignore a changed pad bit or stray character
    tag, body = sealed[:_TAG_BYTES], sealed[_TAG_BYTES:]
    if len(tag) < _TAG_BYTES or not body:
        return None
    plain = _xor(body, _keystream(secret, tag, len(body)))
    if not hmac.compare_digest(_keyed(secret, b"unsubscribe-tag", plain)[:_TAG_BYTES], tag):
        return None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:  # cannot happen for a sealed address; a collision is not worth a traceback
        return None


def unsubscribe_query_address(secret: bytes, query: Mapping[str, str]) -> str | None:
    """The address an unsubscribe link's query parameters stand for: the sealed token, or the
    earlier ``email`` and ``token`` pair; None when neither verifies."""
    if query.get(UNSUBSCRIBE_KEY):
        return unsubscribe_address(secret, query[UNSUBSCRIBE_KEY])
    address, token = query.get("email", ""), query.get("token", "")
    if address and verify(secret, "unsubscribe", address, token):
        return address
    return None


def _keyed(secret: bytes, purpose: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 under a key of its own for each purpose, derived from the secret."""
    key = hmac.new(secret, purpose, hashlib.sha256).digest()
    return hmac.new(key, data, hashlib.sha256).digest()


def _keystream(secret: bytes, nonce: bytes, length: int) -> bytes:
    """``length`` bytes of HMAC-SHA256 in counter mode, under the encryption key and ``nonce``."""
    blocks = (_keyed(secret, b"unsubscribe-stream", nonce + n.to_bytes(4, "big")) for n in range(length // 32 + 1))
    return b"".join(blocks)[:length]


def _xor(data: bytes, stream: bytes) -> bytes:
    """``data`` with each byte XORed with the keystream's byte at the same place."""
    return bytes(a ^ b for a, b in zip(data, stream))


def confirm_url(config: Config, secret: bytes, email: str, ttl: int = 3 * 86400) -> str:
    """A double opt-in link that stops working after ``ttl`` seconds."""
    expires = int(time.time()) + ttl
    query = urlencode({"email": email, "expires": expires, "token": sign(secret, "confirm", email, expires)})
    return config.site.absolute(f"confirm?{query}")

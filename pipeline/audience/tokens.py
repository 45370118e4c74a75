"""Signed, unforgeable links: unsubscribe (no expiry) and subscription confirmation (expires).

A token is ``base64url(HMAC-SHA256(secret, purpose:email[:expiry]))`` truncated to 128 bits;
links carry the address and the token, so nobody can make a valid link for another address
without the secret. The secret comes from the config (``${ENV}``) or, when none is set, is
generated once and kept in the state folder with owner-only permissions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from urllib.parse import urlencode

from pipeline.config import Config

SECRET_FILE = "unsubscribe.key"


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
    """The per-recipient one-click unsubscribe URL under ``site.url``."""
    query = urlencode({"email": email, "token": sign(secret, "unsubscribe", email)})
    return config.site.absolute(f"unsubscribe?{query}")


def confirm_url(config: Config, secret: bytes, email: str, ttl: int = 3 * 86400) -> str:
    """A double opt-in link that stops working after ``ttl`` seconds."""
    expires = int(time.time()) + ttl
    query = urlencode({"email": email, "expires": expires, "token": sign(secret, "confirm", email, expires)})
    return config.site.absolute(f"confirm?{query}")

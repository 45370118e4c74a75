"""Where email goes: an SMTP relay, or a Maildir on disk (the default, needs no account).

A transport makes *sessions*; each worker thread of the send pool owns one session and
reuses it for every message (one SMTP connection, logged in once). A session's ``send``
returns the server's acceptance (the ``250`` reply) or raises one of three errors that say
what to do next:

    Temporary   4xx reply or a dropped connection: retry with backoff
    Permanent   5xx for this recipient: record it as failed, go on with the others
    Fatal       the channel cannot work (login refused, sender refused, TLS missing): stop

Secrets: the password is handed to ``smtplib.login`` and appears nowhere else — not in
labels, errors or logs.
"""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .config import Config, Options
from .errors import ChannelError


class Temporary(Exception):
    """Try again later. ``connection`` is True when the server could not be reached or hung up."""

    def __init__(self, message: str, connection: bool = False) -> None:
        super().__init__(message)
        self.connection = connection


class Permanent(Exception):
    """The server refused this recipient or this message for good (5xx)."""

    def __init__(self, message: str, code: int, stage: str) -> None:
        super().__init__(message)
        self.code = code
        self.stage = stage  # "RCPT TO" or "DATA"


class Fatal(Exception):
    """Nothing can be sent through this transport until someone fixes the settings."""


class Session(Protocol):
    def send(self, sender: str, recipient: str, data: bytes) -> str: ...

    def close(self) -> None: ...


class Transport(Protocol):
    label: str  # for messages: "smtp host:port" or "maildir PATH"; never a secret
    connections: int

    def session(self) -> Session: ...


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # none | starttls | ssl
    username: str | None
    password: str | None
    timeout: float

    def __repr__(self) -> str:  # keep the password out of any traceback or log
        return f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r}, username={self.username!r})"


class SmtpTransport:
    """An SMTP relay; ``connections`` sessions in parallel."""

    def __init__(self, settings: SmtpSettings, connections: int) -> None:
        self.settings = settings
        self.connections = max(1, connections)
        self.label = f"smtp {settings.host}:{settings.port}"

    def session(self) -> "SmtpSession":
        return SmtpSession(self.settings, self.label)


class SmtpSession:
    """One SMTP connection, opened on first use, reopened after the server drops it."""

    def __init__(self, settings: SmtpSettings, label: str) -> None:
        self.settings = settings
        self.label = label
        self.smtp: smtplib.SMTP | None = None

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        """One SMTP transaction (MAIL, RCPT, DATA); returns the server's final reply."""
        smtp = self._connect()
        try:
            self._check(smtp, "MAIL FROM", *smtp.mail(sender, self._body_options(smtp, data)), ok=(250,))
            self._check(smtp, "RCPT TO", *smtp.rcpt(recipient), ok=(250, 251))
            code, reply = smtp.data(data)
            self._check(smtp, "DATA", code, reply, ok=(250,))
        except smtplib.SMTPResponseException as exc:  # DATA not accepted (no 354)
            self._check(smtp, "DATA", exc.smtp_code, exc.smtp_error, ok=())
        except OSError as exc:  # includes SMTPServerDisconnected and timeouts
            self.close()
            raise Temporary(f"{self.label}: connection lost ({exc or type(exc).__name__})", connection=True) from None
        return _reply(code, reply)

    def _check(self, smtp: smtplib.SMTP, stage: str, code: int, reply: bytes, ok: tuple[int, ...]) -> None:
        if code in ok:
            return
        text = f"{stage}: {_reply(code, reply)}"
        if code == 421 or code < 0:  # the server is closing the connection
            self.close()
            raise Temporary(text, connection=True)
        try:
            smtp.rset()  # the connection stays usable for the next recipient
        except (OSError, smtplib.SMTPException):
            self.close()
        if 400 <= code < 500:
            raise Temporary(text)
        if stage == "MAIL FROM":
            raise Fatal(f"{self.label} refused the sender: {text}")
        raise Permanent(text, code, stage)

    def _body_options(self, smtp: smtplib.SMTP, data: bytes) -> list[str]:
        """MAIL FROM parameters: 8-bit bodies are declared, and only sent to servers that take them."""
        if data.isascii():
            return []
        if not smtp.has_extn("8bitmime"):
            raise Fatal(f"{self.label} does not accept 8-bit mail (no 8BITMIME); set eight_bit: false on the email channel")
        return ["BODY=8BITMIME"]

    def _connect(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        s = self.settings
        try:
            context = ssl.create_default_context()
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    smtp.close()
                    raise Fatal(f"{self.label} does not offer STARTTLS; set smtp.security to ssl (port 465) or none")
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                self._login(smtp)
        except ssl.SSLCertVerificationError as exc:
            raise Fatal(f"{self.label}: the server's TLS certificate is not valid ({exc.verify_message})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Temporary(f"cannot connect to {self.label} ({exc or type(exc).__name__})", connection=True) from None
        self.smtp = smtp
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.login(self.settings.username or "", self.settings.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise Fatal(f"{self.label} refused the login of {self.settings.username!r}: {_reply(exc.smtp_code, exc.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError:
            smtp.close()
            raise Fatal(f"{self.label} does not offer AUTH; remove smtp.username or use security: starttls") from None
        except (UnicodeError, ValueError, smtplib.SMTPException):  # never echo the credentials
            smtp.close()
            raise Fatal(f"{self.label}: login as {self.settings.username!r} failed") from None

    def close(self) -> None:
        if self.smtp is None:
            return
        smtp, self.smtp = self.smtp, None
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


class MaildirTransport:
    """Writes each message into a Maildir (``tmp/`` then ``new/``), readable by mutt and Thunderbird."""

    connections = 1  # writing a file is fast; one writer keeps file names unique

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"maildir {path}"

    def session(self) -> "MaildirSession":
        return MaildirSession(self.path)


class MaildirSession:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.box = mailbox.Maildir(path, factory=None, create=True)
        except OSError as exc:
            raise Fatal(f"cannot create the Maildir {path} ({exc.strerror})") from None

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        """Deliver by writing a file; mail readers expect LF line ends in a Maildir."""
        try:
            key = self.box.add(data.replace(b"\r\n", b"\n"))
        except OSError as exc:
            raise Fatal(f"cannot write to the Maildir {self.box._path} ({exc.strerror})") from None
        return f"maildir new/{key}"

    def close(self) -> None:
        return None


def transport_kind(options: Options) -> str:
    """``transport:`` as configured, else smtp when an ``smtp:`` block is given, else maildir."""
    return options.get("transport") or ("smtp" if "smtp" in options else "maildir")


def transport_label(config: Config, options: Options) -> str:
    """How the channel sends, for plans and summaries; reads no secret."""
    if transport_kind(options) == "smtp":
        smtp = options.get("smtp")
        if smtp is None:
            return "smtp (no smtp: block configured)"
        return f"smtp {smtp.get('host')}:{smtp.get('port')}"
    return f"maildir {config.root / options.get('maildir', 'outbox/maildir')}"


def open_transport(config: Config, options: Options) -> Transport:
    """The configured transport, with its settings checked (and ``${VAR}`` secrets read)."""
    if transport_kind(options) == "maildir":
        return MaildirTransport(config.root / options.get("maildir", "outbox/maildir"))
    smtp = options.get("smtp")
    if smtp is None:
        raise ChannelError(f"{options.key_path}: transport is smtp but there is no smtp: block", hint="add smtp: {host: …, port: …} or remove `transport: smtp`")
    settings = SmtpSettings(
        host=smtp.get("host"), port=int(smtp.get("port", 587)), security=smtp.get("security", "starttls"),
        username=smtp.get("username"), password=smtp.get("password"), timeout=float(smtp.get("timeout", 30)),
    )
    return SmtpTransport(settings, int(options.get("connections", 4)))


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"

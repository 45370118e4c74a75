"""Where email goes: an SMTP relay, or a Maildir on disk (the default, needs no account).

A transport makes *sessions*; each worker thread of the send pool owns one session and
reuses it for every message (one SMTP connection, logged in once). A session's ``send``
returns the server's acceptance (the ``250`` reply) or raises one of three errors that say
what to do next:

    Temporary    4xx reply, or the connection dropped mid-message: retry this recipient
    Permanent    5xx for this recipient: record it as failed, go on with the others
    Fatal        the channel cannot work (login refused, sender refused, TLS missing): stop
    Unreachable  a Fatal raised while opening the connection (refused, DNS, TLS mismatch):
                 a failure of the transport, not of a recipient; ``retry`` says whether a
                 few quick reconnects may help, and the message says what setting to check

Secrets: the password is handed to ``smtplib.login`` and appears nowhere else — not in
labels, errors or logs.
"""

from __future__ import annotations

import contextlib
import mailbox
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.config import Config, Options
from pipeline.errors import ChannelError


class Temporary(Exception):
    """Try again later. ``connection`` is True when the server could not be reached or hung up;
    ``stage`` is the command it happened at (MAIL FROM, RCPT TO, DATA), None before any."""

    def __init__(self, message: str, connection: bool = False, stage: str | None = None) -> None:
        super().__init__(message)
        self.connection = connection
        self.stage = stage


class Permanent(Exception):
    """The server refused this recipient or this message for good (5xx)."""

    def __init__(self, message: str, code: int, stage: str) -> None:
        super().__init__(message)
        self.code = code
        self.stage = stage  # "RCPT TO" or "DATA"


class Fatal(Exception):
    """Nothing can be sent through this transport until someone fixes the settings."""


class Unreachable(Fatal):
    """The connection could not be opened or set up; nothing says anything about the recipient.

    ``problem`` is what happened (for progress warnings), ``hint`` what to check;
    ``retry`` is True when the same settings may work a moment later (refused, reset, a
    4xx greeting), False when they will fail the same way every time (TLS mismatch,
    unknown host, no answer within the timeout).
    """

    def __init__(self, problem: str, hint: str, retry: bool = False) -> None:
        super().__init__(f"{problem}; {hint}")
        self.problem = problem
        self.hint = hint
        self.retry = retry


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

    def session(self) -> SmtpSession:
        return SmtpSession(self.settings, self.label)


class SmtpSession:
    """One SMTP connection, opened on first use, reopened after the server drops it."""

    def __init__(self, settings: SmtpSettings, label: str) -> None:
        self.settings = settings
        self.label = label
        self.smtp: smtplib.SMTP | None = None

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        """One SMTP transaction (MAIL, RCPT, DATA); returns the server's final reply.

        The socket timeout bounds each read and write, not the message: a server that
        trickles its answer a byte at a time would hold it for ever. ``Deadline`` cuts the
        connection when the whole transaction takes longer than MESSAGE_TIMEOUTS timeouts."""
        smtp = self._connect()
        stage = "MAIL FROM"
        deadline = Deadline(smtp, self.settings.timeout * MESSAGE_TIMEOUTS)

        def check(code: int, reply: bytes, ok: tuple[int, ...]) -> None:
            if deadline.expired:  # what was read before the cut is a fragment, not the server's answer
                raise TimeoutError("cut at the deadline")
            self._check(smtp, stage, code, reply, ok)

        try:
            check(*smtp.mail(sender, self._body_options(smtp, data)), ok=(250,))
            stage = "RCPT TO"
            check(*smtp.rcpt(recipient), ok=(250, 251))
            stage = "DATA"
            code, reply = smtp.data(data)
            check(code, reply, ok=(250,))
        except smtplib.SMTPResponseException as exc:  # DATA not accepted (no 354)
            try:
                check(exc.smtp_code, exc.smtp_error, ok=())
            except TimeoutError:
                self.close()
                raise self._overdue(stage, deadline) from None
        except OSError as exc:  # includes SMTPServerDisconnected and timeouts
            self.close()
            if deadline.expired:
                raise self._overdue(stage, deadline) from None
            raise Temporary(
                f"{stage}: {self.label}: connection lost ({exc or type(exc).__name__})", connection=True, stage=stage
            ) from None
        finally:
            deadline.cancel()
        if deadline.expired:  # cut just as the answer came: the connection is gone, the message went
            self.close()
        return _reply(code, reply)

    def _overdue(self, stage: str, deadline: Deadline) -> Temporary:
        return Temporary(
            f"{stage}: {self.label} did not finish the message within {deadline.seconds:g}s "
            f"({MESSAGE_TIMEOUTS} × smtp.timeout)",
            connection=True,
            stage=stage,
        )

    def _check(self, smtp: smtplib.SMTP, stage: str, code: int, reply: bytes, ok: tuple[int, ...]) -> None:
        if code in ok:
            return
        text = f"{stage}: {_reply(code, reply)}"
        if code == 421 or code < 0:  # the server is closing the connection
            self.close()
            raise Temporary(text, connection=True, stage=stage)
        try:
            smtp.rset()  # the connection stays usable for the next recipient
        except (OSError, smtplib.SMTPException):
            self.close()
        if 400 <= code < 500:
            raise Temporary(text, stage=stage)
        if stage == "MAIL FROM":
            raise Fatal(f"{self.label} refused the sender: {text}")
        raise Permanent(text, code, stage)

    def _body_options(self, smtp: smtplib.SMTP, data: bytes) -> list[str]:
        """MAIL FROM parameters: 8-bit bodies are declared, and only sent to servers that take them."""
        if data.isascii():
            return []
        if not smtp.has_extn("8bitmime"):
            raise Fatal(
                f"{self.label} does not accept 8-bit mail (no 8BITMIME); set eight_bit: false on the email channel"
            )
        return ["BODY=8BITMIME"]

    def _connect(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        s = self.settings
        smtp = None
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
                    raise Unreachable(
                        f"{self.label} does not offer STARTTLS (security: starttls)",
                        "set smtp.security: ssl with the server's TLS port (usually 465), or none",
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                self._login(smtp)
        except Fatal:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            if smtp is not None:
                smtp.close()
            raise connect_error(exc, s, self.label) from None
        self.smtp = smtp
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.login(self.settings.username or "", self.settings.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            problem = (
                f"{self.label} refused the login of {self.settings.username!r}: {_reply(exc.smtp_code, exc.smtp_error)}"
            )
            # 454 is "temporary authentication failure"; 535 and the like will not change by themselves
            raise Unreachable(
                problem,
                "check smtp.username and the password (its environment variable)",
                retry=400 <= exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPNotSupportedError:
            smtp.close()
            raise Unreachable(
                f"{self.label} does not offer AUTH",
                "remove smtp.username, or use security: starttls (many servers offer AUTH only over TLS)",
            ) from None
        except (UnicodeError, ValueError, smtplib.SMTPException):  # never echo the credentials
            smtp.close()
            raise Unreachable(
                f"{self.label}: login as {self.settings.username!r} failed",
                "check smtp.username and the password (its environment variable)",
            ) from None

    def close(self) -> None:
        if self.smtp is None:
            return
        smtp, self.smtp = self.smtp, None
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


MAILDIR_HINT = "check `maildir:` in the email channel (a folder this user can write) and the free disk space"


class MaildirTransport:
    """Writes each message into a Maildir (``tmp/`` then ``new/``), readable by mutt and Thunderbird."""

    connections = 1  # writing a file is fast; one writer keeps file names unique

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"maildir {path}"

    def session(self) -> MaildirSession:
        return MaildirSession(self.path)


class MaildirSession:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.box = mailbox.Maildir(path, factory=None, create=True)
        except OSError as exc:
            raise Unreachable(f"cannot create the Maildir {path} ({exc.strerror})", MAILDIR_HINT) from None

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        """Deliver by writing a file; mail readers expect LF line ends in a Maildir."""
        try:
            key = self.box.add(data.replace(b"\r\n", b"\n"))
        except OSError as exc:  # a full disk or a folder made read-only is not the recipient's doing
            raise Unreachable(f"cannot write to the Maildir {self.box._path} ({exc.strerror})", MAILDIR_HINT) from None
        return f"maildir new/{key}"

    def close(self) -> None:
        return None


MESSAGE_TIMEOUTS = 3  # the longest one message may take, in smtp.timeout units


class Deadline:
    """Shuts a connection down when one message has held it ``seconds``: the blocked read or
    write then fails at once, whatever the socket timeout."""

    def __init__(self, smtp: smtplib.SMTP, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._timer = threading.Timer(seconds, self._cut, (smtp,))
        self._timer.daemon = True
        self._timer.start()

    def _cut(self, smtp: smtplib.SMTP) -> None:
        self.expired = True
        sock = smtp.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


USUAL_PORTS = "usually port 587 with security: starttls, 465 with security: ssl, 25 with security: none"


def connect_error(exc: OSError | smtplib.SMTPException, s: SmtpSettings, label: str) -> Unreachable:
    """What went wrong while opening a connection, and which setting to check."""
    check = f"check that the SMTP server is running and that smtp.host and smtp.port are right ({USUAL_PORTS})"
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
        exc = exc.__context__  # smtplib reports a greeting that never came as a disconnection
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Unreachable(
            f"{label}: the server's TLS certificate is not valid ({exc.verify_message})",
            f"check that smtp.host is the name the certificate is for ({s.host!r})",
        )
    if isinstance(exc, ssl.SSLError):
        return _tls_error(exc, s, label)
    if isinstance(exc, socket.gaierror):
        # EAI_AGAIN: the DNS server did not answer (may pass); anything else: no such name
        return Unreachable(
            f"cannot connect to {label}: the host name {s.host!r} cannot be resolved ({exc.strerror})",
            "check smtp.host",
            retry=exc.errno == socket.EAI_AGAIN,
        )
    if isinstance(exc, ConnectionRefusedError):
        return Unreachable(f"cannot connect to {label}: connection refused", check, retry=True)
    if isinstance(exc, TimeoutError):  # a timeout already took smtp.timeout seconds: not worth repeating
        tls_first = (
            ""
            if s.security == "ssl"
            else "; if this port expects TLS from the start (usually 465), set smtp.security: ssl"
        )
        return Unreachable(
            f"cannot connect to {label}: no answer within {s.timeout:g}s", _mismatch(s) or check + tls_first
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):  # overloaded, or it waits for TLS first
        return Unreachable(
            f"{label} closed the connection before it could be used ({exc or 'no greeting'})",
            _mismatch(s) or f"check smtp.port and smtp.security ({USUAL_PORTS})",
            retry=True,
        )
    if isinstance(exc, smtplib.SMTPResponseException):  # a 4xx/5xx greeting, or a refused STARTTLS
        return Unreachable(
            f"{label} refused the connection: {_reply(exc.smtp_code, exc.smtp_error)}",
            "check the server's settings and logs",
            retry=400 <= exc.smtp_code < 500,
        )
    if isinstance(exc, OSError):  # unreachable network, reset, …
        return Unreachable(
            f"cannot connect to {label} ({exc.strerror or exc or type(exc).__name__})", check, retry=True
        )
    return Unreachable(f"cannot connect to {label} ({exc or type(exc).__name__})", check)


def _tls_error(exc: ssl.SSLError, s: SmtpSettings, label: str) -> Unreachable:
    """A TLS handshake that failed: nearly always ``security`` not matching the port."""
    reason = exc.reason or type(exc).__name__
    if s.security == "ssl":
        problem = f"cannot connect to {label} with TLS (security: ssl): the handshake failed ({reason})"
        hint = (
            "the server on this port does not start with TLS; set smtp.security: starttls (usually port 587) "
            "or none (port 25), or use the server's TLS port (usually 465) for security: ssl"
        )
    else:
        problem = f"cannot start TLS with {label} (security: starttls): the handshake failed ({reason})"
        hint = _mismatch(s) or "check the server's TLS set-up, or try smtp.security: ssl with port 465"
    return Unreachable(problem, hint)


def _mismatch(s: SmtpSettings) -> str:
    """A hint when ``security`` and the port disagree with the usual pairing, else ''."""
    if s.port == 465 and s.security != "ssl":
        return f"port 465 usually expects TLS from the start: set smtp.security: ssl (it is {s.security})"
    if s.port in (25, 587) and s.security == "ssl":
        return f"port {s.port} usually speaks plain SMTP first: set smtp.security: starttls (or none)"
    return ""


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
        raise ChannelError(
            f"{options.key_path}: transport is smtp but there is no smtp: block",
            hint="add smtp: {host: …, port: …} or remove `transport: smtp`",
        )
    settings = SmtpSettings(
        host=smtp.get("host"),
        port=int(smtp.get("port", 587)),
        security=smtp.get("security", "starttls"),
        username=smtp.get("username"),
        password=smtp.get("password"),
        timeout=float(smtp.get("timeout", 30)),
    )
    return SmtpTransport(settings, int(options.get("connections", 4)))


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"

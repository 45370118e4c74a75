"""Real servers on 127.0.0.1 for tests: an aiosmtpd SMTP server that keeps what it accepts.

Its replies can be scripted per recipient (``fail``: a permanent 550; ``defer``: a number of
451 answers before success) so that tests see exactly what a real relay would say.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class SMTPRecorder:
    """The aiosmtpd handler: records accepted messages; scripted failures per address."""

    messages: list[Received] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)  # 550 for these recipients
    defer: dict[str, int] = field(default_factory=dict)  # address → how many 451s before accepting
    delay: float = 0.0  # seconds to wait before answering DATA (to catch a process mid-send)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.fail:
            return "550 5.1.1 No such user here"
        with self.lock:
            left = self.defer.get(address, 0)
            if left > 0:
                self.defer[address] = left - 1
                return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        with self.lock:
            data = bytes(envelope.original_content or envelope.content)
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), data, list(envelope.mail_options))
            )
        return "250 2.0.0 Message accepted"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


class SMTPServer:
    """A running aiosmtpd server on 127.0.0.1 (context manager)."""

    def __init__(self, handler: SMTPRecorder | None = None, port: int | None = None) -> None:
        self.handler = handler or SMTPRecorder()
        self.port = port or free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

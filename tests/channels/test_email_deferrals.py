"""Mail that does not go through at once: a recipient the server keeps deferring (421 at
RCPT, a DATA that stalls or trickles), the backoff across runs, the limit after which it is
failed, what `publish status ID` shows of it, and a ledger that fills up or lost its list
mid-way. Against a real SMTP server on 127.0.0.1 (aiosmtpd, or a raw socket one that drips).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import NOW, REPO
from servers import SMTPRecorder, SMTPServer
from test_email_channel import ISSUE, READERS, configure, publish, write_csv

from pipeline.audience import subscribers
from pipeline.errors import LedgerError
from pipeline.ledger import Ledger
from pipeline.publish.publisher import publish_issue

SLOW = "li.na@example.net"


@pytest.fixture
def news(example):
    write_csv(example, READERS)
    return example


class StubbornRecorder(SMTPRecorder):
    """A relay that answers 421 at RCPT for some addresses and never answers DATA for others."""

    def __init__(self, closing: set[str] = frozenset(), stalling: set[str] = frozenset()) -> None:
        super().__init__()
        self.closing, self.stalling = set(closing), set(stalling)
        self.rcpts: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts.append(address)
        if address in self.closing:
            return "421 4.7.0 Too many messages for this mailbox, closing connection"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.stalling & set(envelope.rcpt_tos):
            await asyncio.sleep(20)  # far past the client's timeout: the answer never comes in time
        return await super().handle_DATA(server, session, envelope)


def delivery(config, address: str):
    with Ledger(config.state_path) as ledger:
        return ledger.delivery(ISSUE, "email", address)


def status(config, issue: str = ISSUE) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pipeline", "--config", str(config.path), "status", issue]
    return subprocess.run(command, cwd=config.path.parent, env=env, capture_output=True, text=True, timeout=60)


def test_a_recipient_always_answered_421_is_counted_each_run_and_failed_at_the_limit(news):
    with SMTPServer(StubbornRecorder(closing={SLOW})) as server:
        config = configure(news, server.port, retries=2, connections=2, max_deferrals=3)
        first = publish(config)
        assert first.status in ("partial", "failed"), first.line()
        row = delivery(config, SLOW)
        assert (row["state"], row["attempts"]) == ("pending", 1) and "421 4.7.0" in row["error"]
        shown = status(config)
        assert shown.returncode == 0, shown.stderr
        assert f"pending: {SLOW}: deferred in 1 run, last at " in shown.stdout and "RCPT TO: 421 4.7.0" in shown.stdout
        second = publish(config)
        assert second.status != "already done" and delivery(config, SLOW)["attempts"] == 2
        third = publish(config)
        assert third.status == "partial", third.line()
        assert f"{len(READERS) - 1} of {len(READERS)} sent in all, 1 failed, 0 pending" in third.detail
        row = delivery(config, SLOW)
        assert (row["state"], row["attempts"]) == ("failed", 3)
        assert publish(config).status == "already done"  # the channel has ended
        assert f"failed: {SLOW}: RCPT TO: 421 4.7.0 Too many messages" in status(config).stdout
    assert server.handler.rcpts.count(SLOW) == 3 * 2  # `retries` tries in each of the 3 runs
    assert not server.handler.to(SLOW)
    assert sorted(a for m in server.messages for a in m.rcpt_tos) == sorted(a for a, _ in READERS if a != SLOW)


def test_a_data_that_never_gets_an_answer_is_bounded_and_ends_failed(news):
    write_csv(news, [(SLOW, "李娜")])
    with SMTPServer(StubbornRecorder(stalling={SLOW})) as server:
        smtp = {"host": "127.0.0.1", "port": server.port, "security": "none", "timeout": 0.5}
        config = configure(news, server.port, smtp=smtp, retries=1, max_deferrals=2)
        started = time.monotonic()
        first = publish(config)
        assert time.monotonic() - started < 5, first.line()
        # the only message, and it never got through: that looks like the server, so the send stops
        assert first.status == "failed" and "DATA" in first.detail, first.line()
        assert (delivery(config, SLOW)["state"], delivery(config, SLOW)["attempts"]) == ("pending", 1)
        second = publish(config)
        assert second.status == "partial" and "1 failed, 0 pending" in second.detail, second.line()
        assert publish(config).status == "already done"


class TricklingServer:
    """Speaks SMTP up to the end of DATA, then drips its answer a byte every 0.1 s and never
    finishes the line: no single read waits long enough for a socket timeout."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            try:
                conn.sendall(b"220 trickle ESMTP\r\n")
                while line := lines.readline():
                    verb = line[:4].upper()
                    if verb == b"EHLO":
                        conn.sendall(b"250-trickle\r\n250 8BITMIME\r\n")
                    elif verb == b"QUIT":
                        conn.sendall(b"221 bye\r\n")
                        return
                    elif verb == b"DATA":
                        conn.sendall(b"354 go on\r\n")
                        while lines.readline() not in (b".\r\n", b""):
                            pass
                        while not self.closed.wait(0.1):
                            conn.sendall(b"2")
                        return
                    else:
                        conn.sendall(b"250 OK\r\n")
            except OSError:
                return

    def close(self) -> None:
        self.closed.set()
        # close() alone does not wake a thread blocked in accept(); shutdown() does (on Linux):
        # no thread is left running, which would keep later tests' builds in one process
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.acceptor.join(timeout=5)


def test_a_server_that_trickles_its_answer_does_not_hold_the_message_past_the_bound(news):
    write_csv(news, [(SLOW, "李娜")])
    server = TricklingServer()
    try:
        smtp = {"host": "127.0.0.1", "port": server.port, "security": "none", "timeout": 0.5}
        config = configure(news, server.port, smtp=smtp, retries=1)
        results = []
        worker = threading.Thread(target=lambda: results.append(publish(config)), daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), "the send is still held by a server dripping its answer"
        assert time.monotonic() - started < 5  # 3 × smtp.timeout, and the run's own work
    finally:
        server.close()
    [result] = results
    assert "did not finish the message within 1.5s (3 × smtp.timeout)" in result.detail, result.line()
    assert (delivery(config, SLOW)["state"], delivery(config, SLOW)["attempts"]) == ("pending", 1)


def test_a_deferred_recipient_waits_between_runs_then_is_tried_again(news):
    with SMTPServer() as server:
        config = configure(news, server.port, retries=1, defer_delay=3600)
        server.handler.defer[SLOW] = 1
        assert publish(config).status == "partial"
        second = publish(config)  # at once: the recipient's backoff is not over
        assert second.status == "partial" and "1 deferred, not tried again before" in second.detail, second.line()
        assert server.handler.defer[SLOW] == 0 and not server.handler.to(SLOW)  # not asked again
        an_hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1, seconds=5)).isoformat(timespec="seconds")
        with Ledger(config.state_path) as ledger, ledger.transaction() as db:
            db.execute("UPDATE deliveries SET updated_at=? WHERE recipient=?", (an_hour_ago, SLOW))
        assert publish(config).status == "done"
        assert len(server.handler.to(SLOW)) == 1


# ---- the ledger under the send ----------------------------------------------------------------


def test_a_ledger_that_fills_up_mid_send_loses_nothing_and_sends_little_twice(news, monkeypatch):
    many = [(f"reader{i:03d}@example.com", f"读者{i}") for i in range(150)]
    write_csv(news, many)
    snapshot = Ledger.add_pending_named

    def then_full(self, *args, **kwargs):
        added = snapshot(self, *args, **kwargs)
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count={pages}")  # SQLITE_FULL as soon as the file must grow
        return added

    with SMTPServer(SMTPRecorder(delay=0.005)) as server:
        config = configure(news, server.port, connections=2)
        monkeypatch.setattr(Ledger, "add_pending_named", then_full)
        try:  # the channel fails; recording that may fail too, and then the error reaches the caller
            result = publish(config)
            assert result.status == "failed", result.line()
            reason = result.detail
        except LedgerError as exc:
            reason = f"{exc} — {exc.hint}"
        assert "is full" in reason and "free some space" in reason, reason
        monkeypatch.setattr(Ledger, "add_pending_named", snapshot)
        with Ledger(config.state_path) as ledger:
            recorded = ledger.counts(ISSUE, "email")["sent"]
        assert recorded < len(many) and len(server.messages) <= recorded + 2 * 2  # nothing new after the fault
        assert publish(config).status == "done"
    counts: dict[str, int] = {}
    for message in server.messages:
        for address in message.rcpt_tos:
            counts[address] = counts.get(address, 0) + 1
    assert set(counts) == {a for a, _ in many}
    assert sum(n - 1 for n in counts.values()) <= 2 * 2  # at most the pool's window


def test_a_ledger_that_lost_its_subscribers_stops_the_send(news):
    with SMTPServer() as server:
        config = configure(news, server.port)
        assert publish(config).status == "done"
        with Ledger(config.state_path) as ledger:
            subscribers.unsubscribe(ledger, "chen.jing@example.com", method="one-click")  # still active in the CSV
            with ledger.transaction() as db:
                db.execute("DELETE FROM subscribers")  # the list is lost; the deliveries remain
        before = len(server.messages)
        [later] = publish_issue(config, "2024-09-30", ["email"], now=NOW)
        assert later.status == "failed" and "has no subscribers but records" in later.detail, later.line()
        assert "restore the state database from a backup" in later.detail
        assert len(server.messages) == before  # chen.jing, who unsubscribed, is not mailed again
        with Ledger(config.state_path) as ledger:
            assert ledger.run("2024-09-30", "email").state == "failed"
            assert ledger.counts("2024-09-30", "email") == {"sent": 0, "failed": 0, "pending": 0}
        dry = publish(config, dry_run=True, resend=True)
        assert dry.status == "failed" and "has no subscribers" in dry.detail

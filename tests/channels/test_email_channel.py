"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1) and a real Maildir."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import logging
import mailbox
import os
import quopri
import random
import re
import socket
import subprocess
import sys
import threading
import time
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from conftest import NOW, REPO
from servers import SMTPServer, free_port

from pipeline.audience import subscribers
from pipeline.audience.tokens import load_secret, unsubscribe_query_address
from pipeline.config import Config, load_config
from pipeline.errors import ChannelError
from pipeline.ledger import Ledger
from pipeline.mail.message import PLACEHOLDER, Base64Body, QPBody, issue_message, parse_sender
from pipeline.mail.pool import Throttle
from pipeline.mail.single import send_one
from pipeline.publish.publisher import publish_issue

ISSUE = "2024-04-28"
READERS = [
    ("zhang.wei@example.com", "张伟"),
    ("li.na@example.net", "李娜"),
    ("wang.fang@example.org", "王芳"),
    ("chen.jing@example.com", "陈静"),
    ("liu.yang@example.net", "刘洋"),
    ("ann@example.org", "Ann O'Neil, PhD"),
]


def write_csv(root: Path, rows: list[tuple[str, str]], extra: str = "") -> None:
    lines = ["email,name,status"] + [f'{addr},"{name}",active' for addr, name in rows]
    (root / "subscribers.csv").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")


def configure(root: Path, port: int | None = None, **email_options) -> Config:
    """The example newsletter with its email channel pointed at the test server (or a Maildir)."""
    data = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    channel = data["channels"]["email"]
    if port is not None:
        channel["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5}
    channel.update({"retry_delay": 0.01, "defer_delay": 0, **email_options})
    (root / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_config(root / "config.yaml")


@pytest.fixture
def news(example: Path) -> Path:
    write_csv(
        example, READERS, extra="former@example.org,已退订,unsubscribed\nZhang.Wei@EXAMPLE.com,张伟（重复）,active\n"
    )
    return example


def publish(config: Config, **kwargs):
    [result] = publish_issue(config, ISSUE, ["email"], now=NOW, **kwargs)
    return result


def test_each_subscriber_gets_one_message_with_the_list_headers(news, smtp_server):
    config = configure(news, smtp_server.port)
    result = publish(config)
    assert result.status == "done", result.line()
    assert sorted(a for m in smtp_server.messages for a in m.rcpt_tos) == sorted(a for a, _ in READERS)
    secret = load_secret(config)
    ids = set()
    for received in smtp_server.messages:
        raw_head = received.data.split(b"\r\n\r\n", 1)[0]
        raw_head.decode("ascii")  # RFC 2047, not raw UTF-8 (SMTPUTF8) headers
        assert max(len(line) for line in received.data.split(b"\r\n")) <= 998
        msg = received.message
        [address] = received.rcpt_tos
        assert msg["To"].addresses[0].addr_spec == address
        assert msg["To"].addresses[0].display_name == dict(READERS)[address]
        assert msg["Subject"] == "大模型前沿论文速递 · 第17期：长上下文、代码推理与安全"
        assert msg["From"].addresses[0].display_name == "大模型前沿论文速递"
        assert received.mail_from == "digest@example.org"
        assert msg["Reply-To"] == "editors@example.org"
        assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
        ids.add(msg["Message-ID"])
        assert msg["List-Id"].endswith("<digest.example.org>")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        [https] = [
            part.strip().strip("<>") for part in msg["List-Unsubscribe"].split(",")
        ]  # no mailto unless configured
        url = urlsplit(https)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert https.startswith("https://digest.example.org/unsubscribe?u=") and address not in https
        assert unsubscribe_query_address(secret, query) == address  # the token stands for this reader
        assert unsubscribe_query_address(b"another key", query) is None
        assert msg.get_content_type() == "multipart/alternative"
        text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
        assert https in text and "长上下文" in text and "%%" not in text
        assert f'href="{https.replace("&", "&amp;")}"' in html or f'href="{https}"' in html
        assert "%%" not in html
        # Chinese goes as 8bit (a third smaller than base64, under Gmail's clip), declared to the server
        assert msg.get_body(("html",))["Content-Transfer-Encoding"] == "8bit"
        assert "BODY=8BITMIME" in received.mail_options
    assert len(ids) == len(READERS)  # a unique Message-ID per message


def test_without_eight_bit_the_parts_go_seven_bit(news, smtp_server):
    config = configure(news, smtp_server.port, eight_bit=False)
    assert publish(config).status == "done"
    for received in smtp_server.messages:
        assert received.data.isascii() and "BODY=8BITMIME" not in received.mail_options
        html = received.message.get_body(("html",))
        assert html["Content-Transfer-Encoding"] == "base64" and "长上下文" in html.get_content()


def test_a_second_run_sends_nothing(news, smtp_server):
    config = configure(news, smtp_server.port)
    assert publish(config).status == "done"
    assert publish(config).status == "already done"
    assert len(smtp_server.messages) == len(READERS)


def test_a_4xx_reply_is_retried_until_accepted(news, smtp_server):
    config = configure(news, smtp_server.port, retries=4)
    smtp_server.handler.defer["li.na@example.net"] = 2
    assert publish(config).status == "done"
    assert len(smtp_server.handler.to("li.na@example.net")) == 1
    with Ledger(config.state_path) as ledger:
        assert ledger.delivery(ISSUE, "email", "li.na@example.net")["state"] == "sent"


def test_a_4xx_that_outlasts_the_retries_stays_pending_for_the_next_run(news, smtp_server):
    config = configure(news, smtp_server.port, retries=2)
    smtp_server.handler.defer["li.na@example.net"] = 3
    result = publish(config)
    assert result.status == "partial" and "451" in result.detail
    assert publish(config).status == "done"  # not "already done": the address was still pending
    assert len(smtp_server.handler.to("li.na@example.net")) == 1
    assert len(smtp_server.messages) == len(READERS)


def test_a_5xx_for_one_address_fails_only_that_address(news, smtp_server):
    config = configure(news, smtp_server.port)
    smtp_server.handler.fail.add("wang.fang@example.org")
    result = publish(config)
    assert result.status == "partial" and "550 5.1.1" in result.detail
    assert len(smtp_server.messages) == len(READERS) - 1
    with Ledger(config.state_path) as ledger:
        assert ledger.counts(ISSUE, "email") == {"sent": len(READERS) - 1, "failed": 1, "pending": 0}
        assert "550" in ledger.delivery(ISSUE, "email", "wang.fang@example.org")["error"]
        assert subscribers.get(ledger, "wang.fang@example.org").status == "bounced"  # a hard bounce suppresses
    assert publish(config).status == "already done"
    [other] = publish_issue(config, "2024-09-30", ["email"], now=NOW)
    assert other.status == "done" and not smtp_server.handler.to("wang.fang@example.org")


def test_failures_past_max_errors_pause_the_send(news, smtp_server):
    many = [(f"reader{i:02d}@example.com", f"读者{i}") for i in range(20)]
    write_csv(news, many)
    config = configure(news, smtp_server.port, max_errors=2, connections=1)
    smtp_server.handler.fail.update(a for a, _ in many)
    result = publish(config)
    assert result.status == "paused" and "max_errors" in result.detail
    with Ledger(config.state_path) as ledger:
        counts = ledger.counts(ISSUE, "email")
    # Past max_errors nothing new is handed out; the messages already in flight (2 per session) finish.
    assert 3 <= counts["failed"] <= 2 + 2 and counts["pending"] == 20 - counts["failed"]
    smtp_server.handler.fail.clear()
    rerun = publish(config)  # continues where it paused; the failures stay failed
    assert rerun.status == "partial" and "0 pending" in rerun.detail
    assert len(smtp_server.messages) == 20 - counts["failed"]


def test_dry_run_names_recipients_and_sends_nothing(news, smtp_server):
    config = configure(news, smtp_server.port)
    result = publish(config, dry_run=True)
    assert result.status == "would send"
    assert (
        result.plan[0]
        == f"would send to {len(READERS)} recipients via smtp 127.0.0.1:{smtp_server.port} (1 suppressed)"
    )
    assert "张伟 <zhang.wei@example.com>" in result.plan
    assert not smtp_server.messages
    with Ledger(config.state_path) as ledger:
        assert ledger.run(ISSUE, "email") is None


def test_configured_unsubscribe_mailto_joins_the_one_click_url(news, smtp_server):
    config = configure(news, smtp_server.port, unsubscribe_mailto="leave@example.org")
    assert publish(config).status == "done"
    msg = smtp_server.messages[0].message
    https, mailto = [part.strip().strip("<>") for part in msg["List-Unsubscribe"].split(",")]
    assert https.startswith("https://digest.example.org/unsubscribe?")
    assert mailto == "mailto:leave@example.org?subject=unsubscribe"


def test_dry_run_of_a_resend_counts_everyone_again(news, smtp_server):
    write_csv(news, READERS[:1])
    config = configure(news, smtp_server.port)
    assert publish(config, dry_run=True).plan[0].startswith("would send to 1 recipient via")
    write_csv(news, READERS)
    assert publish(config).status == "done"
    assert publish(config, dry_run=True).status == "already done"
    plan = publish(config, dry_run=True, resend=True).plan[0]
    assert plan.startswith(f"would send to {len(READERS)} recipients via") and "already sent" not in plan
    assert len(smtp_server.messages) == len(READERS)  # the dry runs sent nothing


def test_test_to_sends_one_copy_and_records_nothing(news, smtp_server):
    config = configure(news, smtp_server.port)
    result = publish(config, test_to="Editor@Example.org")
    assert result.status == "done" and "nothing recorded" in result.detail
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["editor@example.org"]
    link = re.search(r"<(https://[^>]+)>", received.message["List-Unsubscribe"]).group(1)
    query = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    assert "editor" not in link and unsubscribe_query_address(load_secret(config), query) == "editor@example.org"
    with Ledger(config.state_path) as ledger:
        assert ledger.run(ISSUE, "email") is None and ledger.counts(ISSUE, "email")["sent"] == 0
    assert publish(config).status == "done"  # the real send is not affected
    assert len(smtp_server.messages) == 1 + len(READERS)


def test_a_suppression_in_the_ledger_beats_an_active_csv_row(news, smtp_server):
    config = configure(news, smtp_server.port)
    with Ledger(config.state_path) as ledger:
        subscribers.unsubscribe(ledger, "chen.jing@example.com", method="one-click")
    assert publish(config).status == "done"
    assert not smtp_server.handler.to("chen.jing@example.com")
    assert len(smtp_server.messages) == len(READERS) - 1


def test_a_bad_csv_row_names_file_and_line_and_nothing_is_sent(news, smtp_server):
    write_csv(news, READERS, extra="not-an-address,坏行,active\n")
    config = configure(news, smtp_server.port)
    result = publish(config)
    assert result.status == "failed"
    assert f"subscribers.csv:{len(READERS) + 2}:" in result.detail and "not-an-address" in result.detail
    assert not smtp_server.messages
    with Ledger(config.state_path) as ledger:
        assert ledger.counts(ISSUE, "email") == {"sent": 0, "failed": 0, "pending": 0}


def test_database_subscribers_are_the_active_rows_of_the_ledger(news, smtp_server):
    config = configure(news, smtp_server.port, subscribers="database")
    with Ledger(config.state_path) as ledger:
        subscribers.add(ledger, "reader@example.org", "读者")
        subscribers.add(ledger, "gone@example.org", "离开")
        subscribers.unsubscribe(ledger, "gone@example.org", method="cli")
    assert publish(config).status == "done"
    assert [m.rcpt_tos for m in smtp_server.messages] == [["reader@example.org"]]


def test_the_default_maildir_gets_messages_mail_readers_can_open(news):
    config = configure(news)  # the example has no smtp: block
    result = publish(config)
    assert result.status == "done" and "maildir" in result.detail
    box = mailbox.Maildir(news / "outbox" / "maildir", factory=None, create=False)
    messages = [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.keys()]
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == sorted(a for a, _ in READERS)
    assert all(b"\r\n" not in box.get_bytes(key) for key in box.keys())  # LF, as mutt expects
    assert all(
        m.get_body(("plain",)).get_content().count("https://digest.example.org/unsubscribe?") == 1 for m in messages
    )


def test_stop_finishes_the_messages_in_flight_and_records_them(news, smtp_server):
    many = [(f"reader{i:02d}@example.com", f"读者{i}") for i in range(30)]
    write_csv(news, many)
    config = configure(news, smtp_server.port, connections=2)
    smtp_server.handler.delay = 0.02
    stop = threading.Event()

    def progress(channel: str, done: int, total: int) -> None:
        if done >= 5:
            stop.set()

    result = publish(config, stop=stop, progress=progress)
    assert result.status == "stopped"
    with Ledger(config.state_path) as ledger:
        counts = ledger.counts(ISSUE, "email")
    assert counts["sent"] == len(smtp_server.messages) < 30  # every accepted message is recorded
    assert counts["pending"] == 30 - counts["sent"]
    assert publish(config).status == "done"
    assert sorted(a for m in smtp_server.messages for a in m.rcpt_tos) == sorted(a for a, _ in many)


@pytest.mark.parametrize("filler, encoding", [("长", "base64"), ("long ", "quoted-printable")])
def test_the_substituted_url_is_exact_in_both_parts(filler, encoding):
    long_url = "https://digest.example.org/a/very/long/path/" + "x" * 90 + "/unsubscribe?email=a%40b.cn&token=abc=="
    html = "<p>" + filler * 3000 + '<a href="%%UNSUBSCRIBE_URL%%">退订</a>' + "文" * 5 + "</p>"
    text = filler * 40 + "\n退订：%%UNSUBSCRIBE_URL%% 结束\n"
    message = issue_message(
        subject="测试",
        envelope=parse_sender("速递 <d@example.org>"),
        text=text,
        html=html,
        placeholder=PLACEHOLDER,
        date=NOW,
        list_id="速递 <example.org>",
        unsubscribe_url=lambda e: long_url + e,
        unsubscribe_mailto="mailto:d@example.org",
        id_prefix="x",
    )
    data = message.personalise("zhou=jie@example.cn", "周杰")
    head, body = data.split(b"\r\n\r\n", 1)
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # 7-bit lines, even around the long URL
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    msg = email.message_from_bytes(data, policy=email.policy.default)
    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain["Content-Transfer-Encoding"] == rich["Content-Transfer-Encoding"] == encoding
    assert plain.get_content().replace("\r\n", "\n") == text.replace(
        "%%UNSUBSCRIBE_URL%%", long_url + "zhou=jie@example.cn"
    )
    escaped = long_url.replace("&", "&amp;")  # the URL sits in an HTML attribute
    assert rich.get_content() == html.replace("%%UNSUBSCRIBE_URL%%", escaped + "zhou=jie@example.cn")


def test_part_bodies_decode_to_the_text_with_the_value_for_any_alignment():
    rng = random.Random(7)
    for _ in range(1500):
        pieces = [
            "".join(rng.choice("ab中文\n=&. ") for _ in range(rng.randint(0, 9))) for _ in range(rng.randint(1, 4))
        ]
        text, value = PLACEHOLDER.join(pieces), ("x=" * 60)[: rng.randint(1, 120)].encode()
        expected = text.encode().replace(PLACEHOLDER.encode(), value)
        encoded = Base64Body(text).encode(value)
        assert base64.b64decode(encoded) == expected.replace(b"\n", b"\r\n")
        assert b"=" not in encoded.rstrip(b"\r\n=")  # padding only at the very end
        encoded = QPBody(text).encode(value)
        decoded = quopri.decodestring(encoded.replace(b"\r\n", b"\n"))
        assert decoded == expected
        assert max(len(line) for line in encoded.split(b"\r\n")) <= 76


def test_send_one_delivers_a_transactional_message(news, smtp_server):
    config = configure(news, smtp_server.port)
    send_one(
        config,
        "email",
        "New.Reader@Example.org",
        "新读者",
        "请确认订阅",
        "点击链接确认：https://digest.example.org/confirm?x=1",
        "<p>确认</p>",
    )
    [received] = smtp_server.messages
    msg = received.message
    assert received.rcpt_tos == ["new.reader@example.org"]
    assert msg["Subject"] == "请确认订阅" and msg["To"].addresses[0].display_name == "新读者"
    assert "confirm?x=1" in msg.get_body(("plain",)).get_content()
    with pytest.raises(ChannelError):
        send_one(config, "email", "not an address", "", "x", "y")


def test_a_refused_login_fails_the_channel_without_showing_the_password(news, smtp_server, monkeypatch):
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret-密码")
    data = yaml.safe_load((news / "config.yaml").read_text(encoding="utf-8"))
    data["channels"]["email"]["smtp"] = {
        "host": "127.0.0.1",
        "port": smtp_server.port,
        "security": "none",
        "username": "digest",
        "password": "${TEST_SMTP_PASSWORD}",
    }
    (news / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(news / "config.yaml")
    result = publish(config)
    assert result.status == "failed" and "AUTH" in result.detail
    assert "s3cret" not in result.detail
    assert b"s3cret" not in config.state_path.read_bytes() and not smtp_server.messages
    with Ledger(config.state_path) as ledger:
        assert ledger.counts(ISSUE, "email")["pending"] == len(READERS)  # nobody burnt: all still pending


# ---- a server that cannot be reached: the transport's failure, not the recipients' -------


def pending_only(config: Config) -> bool:
    with Ledger(config.state_path) as ledger:
        return ledger.counts(ISSUE, "email") == {"sent": 0, "failed": 0, "pending": len(READERS)}


def test_a_refused_connection_stops_the_send_in_seconds_and_a_rerun_continues(news, caplog):
    port = free_port()  # bound and released: nothing listens there
    config = configure(news, port, retry_delay=2)  # a recipient's 4xx backoff must not apply to reconnecting
    caplog.set_level(logging.INFO, logger="pipeline")
    started = time.monotonic()
    result = publish(config)
    elapsed = time.monotonic() - started
    assert result.status == "failed" and elapsed < 5, (elapsed, result.line())
    assert f"127.0.0.1:{port}: connection refused (gave up after 3 attempts)" in result.detail
    assert "smtp.host and smtp.port" in result.detail and "465 with security: ssl" in result.detail
    assert result.detail.endswith("again to continue")
    assert pending_only(config)  # nobody marked failed, nobody deferred: the rerun sends to all
    retries = [r for r in caplog.records if "trying again" in r.getMessage()]
    # one warning per reconnect (not per worker, not per recipient), none saying a recipient failed
    assert [(r.levelno, "connection refused" in r.getMessage()) for r in retries] == [(logging.WARNING, True)] * 2
    assert not any("not delivered" in r.getMessage() or "temporary failure" in r.getMessage() for r in caplog.records)
    with SMTPServer(port=port) as server:
        assert publish(config).status == "done"
        assert sorted(a for m in server.messages for a in m.rcpt_tos) == sorted(a for a, _ in READERS)


def test_ssl_against_a_plain_server_is_not_retried_and_says_to_change_security(news, smtp_server, caplog):
    config = configure(
        news, smtp_server.port, smtp={"host": "127.0.0.1", "port": smtp_server.port, "security": "ssl", "timeout": 5}
    )
    caplog.set_level(logging.INFO, logger="pipeline")
    started = time.monotonic()
    result = publish(config)
    assert result.status == "failed" and time.monotonic() - started < 3
    assert (
        f"127.0.0.1:{smtp_server.port} with TLS (security: ssl)" in result.detail
        and "WRONG_VERSION_NUMBER" in result.detail
    )
    assert "set smtp.security: starttls (usually port 587) or none (port 25)" in result.detail
    assert not any("trying again" in r.getMessage() for r in caplog.records)  # the same settings fail the same way
    assert pending_only(config) and not smtp_server.messages


class SilentServer:
    """Accepts TCP connections and never says a word, like a TLS port reached with plain SMTP."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        try:
            while True:
                self.held.append(self.sock.accept()[0])
        except OSError:  # closed by close()
            return

    def close(self) -> None:
        # close() alone does not wake a thread blocked in accept(); shutdown() does (on Linux):
        # no thread is left running, which would keep later tests' builds in one process
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.acceptor.join(timeout=5)
        for conn in self.held:
            conn.close()


def test_a_server_that_never_greets_points_at_security_ssl(news):
    server = SilentServer()
    try:
        smtp = {"host": "127.0.0.1", "port": server.port, "security": "starttls", "timeout": 0.5}
        config = configure(news, server.port, smtp=smtp, connections=2)
        started = time.monotonic()
        result = publish(config)
        assert result.status == "failed" and time.monotonic() - started < 3  # a timeout is not repeated
    finally:
        server.close()
    assert f"cannot connect to smtp 127.0.0.1:{server.port}: no answer within 0.5s" in result.detail
    assert "expects TLS from the start (usually 465), set smtp.security: ssl" in result.detail
    assert pending_only(config)


def test_a_server_that_goes_away_mid_send_leaves_the_rest_pending(news):
    many = [(f"reader{i:02d}@example.com", f"读者{i}") for i in range(20)]
    write_csv(news, many)
    server = SMTPServer()
    config = configure(news, server.port, connections=2)
    server.handler.delay = 0.02
    running = threading.Event()

    def progress(channel: str, done: int, total: int) -> None:
        if done >= 4 and running.is_set():
            running.clear()
            server.controller.stop()  # the relay is shut down while messages are on the wire

    server.controller.start()
    running.set()
    started = time.monotonic()
    try:
        result = publish(config, progress=progress)
    finally:
        if running.is_set():
            server.controller.stop()
    assert result.status == "failed" and time.monotonic() - started < 10
    assert "connection refused (gave up after 3 attempts)" in result.detail
    with Ledger(config.state_path) as ledger:
        counts = ledger.counts(ISSUE, "email")
    assert counts["failed"] == 0 and counts["sent"] + counts["pending"] == 20 and counts["pending"] > 0
    with SMTPServer(port=server.port) as again:
        assert publish(config).status == "done"
    reached = {a for m in server.messages + again.messages for a in m.rcpt_tos}
    assert reached == {a for a, _ in many}


def test_a_maildir_that_cannot_be_created_stops_the_send_with_what_to_check(news):
    config = configure(news, maildir="subscribers.csv/maildir")  # under a file: no folder can be made there
    result = publish(config)
    assert result.status == "failed" and "cannot create the Maildir" in result.detail
    assert "check `maildir:` in the email channel" in result.detail and pending_only(config)


def test_send_one_to_a_refused_port_fails_fast_with_what_to_check(news):
    config = configure(news, free_port())
    started = time.monotonic()
    with pytest.raises(ChannelError, match="connection refused") as caught:
        send_one(config, "email", "new.reader@example.org", "新读者", "请确认订阅", "确认")
    assert time.monotonic() - started < 5 and "smtp.port" in (caught.value.hint or "")


def test_warnings_name_the_address_and_the_command_line_shows_them_as_warnings(news, smtp_server):
    config = configure(news, smtp_server.port, retries=2, connections=1)
    smtp_server.handler.defer["li.na@example.net"] = 3
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "--config",
        str(news / "config.yaml"),
        "issue",
        ISSUE,
        "--channel",
        "email",
    ]
    done = subprocess.run(command, cwd=news, env=env, capture_output=True, text=True, timeout=60)
    assert "warning: temporary failure for li.na@example.net (attempt 1 of 2): RCPT TO: 451 4.3.0" in done.stderr
    assert (
        "warning: not delivered to li.na@example.net (still pending: the next run tries again): RCPT TO: 451"
        in done.stderr
    )
    assert "zhang.wei@example.com" not in done.stderr  # only the address concerned
    with Ledger(config.state_path) as ledger:
        assert ledger.delivery(ISSUE, "email", "li.na@example.net")["state"] == "pending"


# ---- who is not mailed, counted over the whole list ----------------------------------------


def test_the_plan_and_the_summary_count_every_suppressed_address(news, smtp_server):
    write_csv(news, READERS, extra="former@example.org,已退订,unsubscribed\nnew@example.org,待确认,pending\n")
    config = configure(news, smtp_server.port)
    with Ledger(config.state_path) as ledger:
        for i in range(3):  # left through the website: in the ledger only, not in the CSV
            subscribers.add(ledger, f"left{i}@example.com", "")
            subscribers.unsubscribe(ledger, f"left{i}@example.com", method="one-click")
        subscribers.suppress(ledger, "bounced@example.com", "bounced", method="bounce")
        subscribers.unsubscribe(ledger, "chen.jing@example.com", method="one-click")  # active in the CSV
    # 4 in the ledger only + chen.jing + former (the CSV's own unsubscribe)
    expected = "6 suppressed, 1 not confirmed"
    plan = publish(config, dry_run=True).plan[0]
    assert plan.endswith(f"({expected})") and plan.startswith(f"would send to {len(READERS) - 1} recipients via")
    result = publish(config)
    assert result.status == "done" and result.detail.endswith(expected)
    assert len(smtp_server.messages) == len(READERS) - 1
    resend = publish(config, dry_run=True, resend=True).plan[0]
    assert resend.endswith(f"({expected})")  # the same count once the CSV is merged


def test_database_subscribers_show_their_suppressed_count_too(news, smtp_server):
    config = configure(news, smtp_server.port, subscribers="database")
    with Ledger(config.state_path) as ledger:
        subscribers.add(ledger, "reader@example.org", "读者")
        for address in ("gone@example.org", "left@example.org"):
            subscribers.add(ledger, address, "")
            subscribers.unsubscribe(ledger, address, method="cli")
    assert publish(config, dry_run=True).plan[0].endswith(f"via smtp 127.0.0.1:{smtp_server.port} (2 suppressed)")
    assert publish(config).detail.endswith("2 suppressed")


def test_the_throttle_spaces_sends_and_keeps_an_hourly_window():
    stop = threading.Event()
    throttle = Throttle(per_second=50)
    started = time.monotonic()
    for _ in range(11):
        assert throttle.wait(stop)
    assert time.monotonic() - started >= 0.19
    full = Throttle(per_hour=3, history=[time.monotonic() - 10] * 3)  # the quota was used 10 s ago
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert full.wait(stop) is False  # it would wait ~59 minutes; stop ends the wait
    assert 0.15 < time.monotonic() - started < 5


# ---- the unsubscribe placeholder: only the template places it -----------------------------

LEGACY = "%%UNSUBSCRIBE_URL%%"  # the placeholder of earlier versions, now plain text
WEB_UNSUBSCRIBE = "https://digest.example.org/subscribe#unsubscribe"  # the placeholder itself


class Links(HTMLParser):
    """Every href of an HTML part, and its text with character references decoded."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.hrefs += [value for name, value in attrs if tag == "a" and name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def plant_placeholders(root: Path) -> str:
    """Put both placeholder strings in the issue's title, summary, intro and a paper; the title."""
    both = f"{LEGACY} 与 {WEB_UNSUBSCRIBE}"
    folder = root / "issues" / ISSUE
    meta = yaml.safe_load((folder / "issue.yaml").read_text(encoding="utf-8"))
    meta.update(
        title=f"第17期 {both}",
        summary=f"摘要：{both}",
        intro=f"导语：[旧占位]({LEGACY}) [网页版退订]({WEB_UNSUBSCRIBE}) `{LEGACY}`\n",
    )
    (folder / "issue.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    paper = next(folder.glob("01-*.md"))
    head, body = paper.read_text(encoding="utf-8").split("\n---\n", 1)
    head = head.replace('title: "SnapKV:', f'title: "{LEGACY} SnapKV:')
    paper.write_text(f"{head}\n---\n正文提到 {both}。\n\n```\n{both}\n```\n\n{body}", encoding="utf-8")
    return meta["title"]


def assert_only_the_footer_is_personal(msg, address: str) -> None:
    """Each part has exactly one unsubscribe link, the reader's own, where the footer puts it;
    the planted strings read as they were written."""
    secret_url = list_unsubscribe_url(msg)
    assert urlsplit(secret_url).query.startswith("u=") and address not in secret_url  # no address in any URL
    text, html = (msg.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))
    assert text.count("/unsubscribe?") == 1 and text.rstrip().endswith("退订：\n" + secret_url)
    # title, intro's code span, paper title, lead, code block (the intro's link shows its target %-encoded)
    assert text.count(LEGACY) == 5
    # title, intro's link, lead, code block: the same page, a fragment spelt differently
    assert WEB_UNSUBSCRIBE not in text and text.count(WEB_UNSUBSCRIBE.replace("#u", "#%75")) == 4
    links = Links(html)
    assert [h for h in links.hrefs if "/unsubscribe?" in h] == [secret_url] and links.hrefs[-1] == secret_url
    assert html.count("/unsubscribe?") == 1 and WEB_UNSUBSCRIBE not in html  # content's copies are escaped ...
    shown = "".join(links.text)
    # ... and read the same: <title>, preheader, <h1>, lead, code block (+ intro's and paper's title for LEGACY)
    assert shown.count(WEB_UNSUBSCRIBE) == 5 and shown.count(LEGACY) == 7
    assert WEB_UNSUBSCRIBE in links.hrefs  # the intro's link still leads where it said


def list_unsubscribe_url(msg) -> str:
    return next(part.strip().strip("<>") for part in msg["List-Unsubscribe"].split(",") if "https://" in part)


def test_content_cannot_choose_where_the_unsubscribe_link_goes(news, smtp_server):
    title = plant_placeholders(news)
    config = configure(news, smtp_server.port)
    assert publish(config).status == "done"
    assert len(smtp_server.messages) == len(READERS)
    for received in smtp_server.messages:
        msg = received.message
        assert msg["Subject"] == title  # headers are never substituted
        assert_only_the_footer_is_personal(msg, received.rcpt_tos[0])


def test_content_cannot_choose_where_the_unsubscribe_link_goes_seven_bit_maildir(news):
    plant_placeholders(news)
    config = configure(news, eight_bit=False)
    assert publish(config).status == "done"
    box = mailbox.Maildir(news / "outbox" / "maildir", factory=None, create=False)
    for key in box.keys():
        msg = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        assert msg.get_body(("html",))["Content-Transfer-Encoding"] == "base64"
        assert_only_the_footer_is_personal(msg, msg["To"].addresses[0].addr_spec)


def test_the_public_copies_unsubscribe_link_works_on_the_web(news, smtp_server):
    """email.html and email.txt are served with the archive: 退订 there leads to the signup page."""
    import requests

    from pipeline.web.endpoint import create_app, make_server

    config = configure(news, smtp_server.port)
    publish(config)
    folder = config.output_dir / "issues" / ISSUE
    html, text = (folder / "email.html").read_text("utf-8"), (folder / "email.txt").read_text("utf-8")
    [footer] = [h for h in Links(html).hrefs if h.endswith("#unsubscribe")]
    assert footer == WEB_UNSUBSCRIBE and text.rstrip().endswith("退订：\n" + WEB_UNSUBSCRIBE)
    assert "%%" not in html + text
    server = make_server(create_app(config), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/"
        page = requests.get(base + footer.removeprefix(config.site.url), timeout=5)
        assert (
            page.status_code == 200
            and 'action="./subscribe"' in page.text
            and "订阅「大模型前沿论文速递」" in page.text
        )
        assert requests.get(base + f"issues/{ISSUE}/email.html", timeout=5).text == html
    finally:
        server.shutdown()
        server.server_close()


def test_parts_without_the_placeholder_are_not_sent():
    with pytest.raises(ChannelError, match="no unsubscribe link"):
        issue_message(
            subject="测试",
            envelope=parse_sender("速递 <d@example.org>"),
            text=f"退订：{LEGACY}\n",
            html=f'<a href="{LEGACY}">退订</a>',
            placeholder=WEB_UNSUBSCRIBE,
            date=NOW,
            list_id="速递 <example.org>",
            unsubscribe_url=lambda e: "https://digest.example.org/unsubscribe?x",
            unsubscribe_mailto="mailto:d@example.org",
            id_prefix="x",
        )

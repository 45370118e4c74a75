"""Bounce (RFC 3464) and complaint (RFC 5965) reports read from a real Maildir."""

from __future__ import annotations

import mailbox
from pathlib import Path
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from pipeline.audience import subscribers
from pipeline.audience.bounces import SOFT_LIMIT, process_maildir
from pipeline.audience.tokens import load_secret, sign, unsubscribe_url
from pipeline.cli import cli
from pipeline.config import load_config
from pipeline.ledger import Ledger

BOUNCES = FIXTURES / "bounces"


def fixture(name: str) -> str:
    return (BOUNCES / name).read_text(encoding="utf-8")


@pytest.fixture
def maildir(tmp_path: Path):
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    yield box
    box.close()


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger(tmp_path / "state.db") as opened:
        for address, name in [
            ("wang.fang@example.com", "王芳"),
            ("li.na@example.net", "李娜"),
            ("liu.yang@example.net", "刘洋"),
            ("chen.jing@example.com", "陈静"),
        ]:
            subscribers.add(opened, address, name)
        yield opened


def put(box: mailbox.Maildir, text: str) -> None:
    box.add(text.encode("utf-8"))  # bytes: the returned messages carry 8-bit Chinese text


def run(ledger: Ledger, box: mailbox.Maildir, secret: bytes | None = None):
    return process_maildir(ledger, Path(box._path), secret)


def status(ledger: Ledger, address: str) -> str:
    return subscribers.get(ledger, address).status


def test_a_postfix_user_unknown_dsn_suppresses_the_address(ledger, maildir):
    put(maildir, fixture("postfix-user-unknown.eml"))
    report = run(ledger, maildir)
    assert (report.messages, report.hard, report.soft, report.complaints) == (1, 1, 0, 0)
    assert status(ledger, "wang.fang@example.com") == "bounced"
    sub = subscribers.get(ledger, "wang.fang@example.com")
    assert "5.1.1" in sub.status_reason and "User unknown" in sub.status_reason
    assert report.suppressed[0].startswith("wang.fang@example.com: bounced 5.1.1")
    assert status(ledger, "li.na@example.net") == "active"


def test_an_exim_dsn_with_the_returned_message_suppresses_the_address(ledger, maildir):
    put(maildir, fixture("exim-mailbox-gone.eml"))
    report = run(ledger, maildir)
    assert report.hard == 1 and status(ledger, "li.na@example.net") == "bounced"
    assert "disabled" in subscribers.get(ledger, "li.na@example.net").status_reason
    assert [e["method"] for e in subscribers.events(ledger, "li.na@example.net")][-1] == "bounce"


def test_a_hard_bounce_for_an_unknown_address_is_still_remembered(tmp_path, maildir):
    with Ledger(tmp_path / "empty.db") as empty:
        put(maildir, fixture("postfix-user-unknown.eml"))
        run(empty, maildir)
        assert status(empty, "wang.fang@example.com") == "bounced"  # so no later CSV import can add it back


def test_an_arf_complaint_suppresses_the_complainer(ledger, maildir):
    put(maildir, fixture("arf-complaint.eml"))
    report = run(ledger, maildir)
    assert report.complaints == 1 and status(ledger, "liu.yang@example.net") == "complained"
    assert "abuse report from ExampleFBL/2.1" in subscribers.get(ledger, "liu.yang@example.net").status_reason


def redacted_complaint(list_unsubscribe: str) -> str:
    """The ARF fixture as providers that hide the recipient send it: no Original-Rcpt-To, To redacted."""
    text = fixture("arf-complaint.eml").replace("Original-Rcpt-To: <liu.yang@example.net>\n", "")
    text = text.replace(
        "To: =?utf-8?b?5YiY5rSL?= <liu.yang@example.net>",
        "To: redacted@feedback.example.com, other@feedback.example.com",
    )
    start = text.index("List-Unsubscribe: ")
    end = text.index("List-Unsubscribe-Post")
    return text[:start] + f"List-Unsubscribe: <{list_unsubscribe}>\n" + text[end:]


def test_a_redacted_complaint_is_traced_through_the_signed_unsubscribe_link(example, maildir):
    config = load_config(example / "config.yaml")
    secret = load_secret(config)
    with Ledger(config.state_path) as ledger:
        subscribers.add(ledger, "liu.yang@example.net")
        subscribers.add(ledger, "zhao@example.org")
        # A link of the earlier form with another address put in, and a sealed token altered.
        earlier = "unsubscribe?" + urlencode(
            {"email": "zhao@example.org", "token": sign(secret, "unsubscribe", "zhao@example.org")}
        )
        forged = config.site.absolute(earlier).replace("zhao%40example.org", "liu.yang%40example.net")
        sealed = unsubscribe_url(config, secret, "liu.yang@example.net")
        altered = sealed[:-10] + ("A" if sealed[-10] != "A" else "B") + sealed[-9:]
        for n, url in enumerate((forged, altered)):
            put(maildir, redacted_complaint(url).replace("Message-ID: <arf-", f"Message-ID: <forged{n}-arf-"))
        report = run(ledger, maildir, secret)
        assert report.complaints == 0 and len(report.ignored) == 2, report
        assert all("names no recipient" in line for line in report.ignored), report
        put(maildir, redacted_complaint(unsubscribe_url(config, secret, "liu.yang@example.net")))
        report = run(ledger, maildir, secret)
        assert report.complaints == 1 and status(ledger, "liu.yang@example.net") == "complained"
        assert status(ledger, "zhao@example.org") == "active"


def delay_for(issue: str, serial: int) -> str:
    """The 4.2.2 delay notice, about the message of ``issue``, with its own Message-ID."""
    text = fixture("postfix-delayed.eml")
    text = text.replace(
        "<2024-04-28.c0ffee1234567890@example.org>", f"<{issue}.c0ffee12345678{serial:02x}@example.org>"
    )
    return text.replace("<20240428040009.4VQqMb0Wc5z9sXb@mail.example.org>", f"<delay-{serial}@mail.example.org>")


def test_soft_bounces_are_counted_and_suppress_after_consecutive_issues(ledger, maildir):
    issues = ["2024-04-28", "2024-05-05", "2024-05-12"]
    assert len(issues) == SOFT_LIMIT
    put(maildir, delay_for(issues[0], 1))
    put(maildir, delay_for(issues[0], 2))  # a second warning about the same issue counts once
    report = run(ledger, maildir)
    assert report.soft == 2 and status(ledger, "chen.jing@example.com") == "active"
    assert report.counted[-1] == "chen.jing@example.com: soft bounce 4.2.2 (1 of 3 consecutive issues)"
    put(maildir, delay_for(issues[1], 3))
    run(ledger, maildir)
    assert subscribers.get(ledger, "chen.jing@example.com").soft_bounces == 2
    put(maildir, delay_for(issues[2], 4))
    report = run(ledger, maildir)
    assert status(ledger, "chen.jing@example.com") == "bounced"
    assert "soft bounces on 3 consecutive issues" in report.suppressed[0]


def test_an_issue_delivered_without_a_bounce_breaks_the_streak(ledger, maildir):
    issues = ["2024-04-28", "2024-05-05", "2024-05-12", "2024-05-19"]
    for issue in issues:
        ledger.record(issue, "email", "chen.jing@example.com", "sent", response="250 OK")
    for serial, issue in enumerate([issues[0], issues[1], issues[3]]):  # 2024-05-12 arrived fine
        put(maildir, delay_for(issue, serial))
    run(ledger, maildir)
    assert status(ledger, "chen.jing@example.com") == "active"
    assert subscribers.get(ledger, "chen.jing@example.com").soft_bounces == 1
    put(maildir, delay_for(issues[2], 9))  # …until the report about it turns up after all
    run(ledger, maildir)
    assert status(ledger, "chen.jing@example.com") == "bounced"


def test_running_again_on_the_same_maildir_changes_nothing(ledger, maildir):
    for name in ("postfix-user-unknown.eml", "exim-mailbox-gone.eml", "postfix-delayed.eml", "arf-complaint.eml"):
        put(maildir, fixture(name))
    put(
        maildir,
        "From: friend@example.com\nTo: digest@example.org\nSubject: 你好\nMessage-ID: <hello@example.com>\n\n谢谢你们的速递！\n",
    )
    first = run(ledger, maildir)
    assert (first.hard, first.soft, first.complaints, len(first.suppressed), len(first.ignored)) == (2, 1, 1, 3, 1)
    assert "not a multipart/report" in first.ignored[0]
    history = {
        a: subscribers.events(ledger, a) for a in ("wang.fang@example.com", "li.na@example.net", "liu.yang@example.net")
    }
    second = run(ledger, maildir)
    assert (second.messages, second.already, second.hard, second.soft, second.complaints) == (5, 5, 0, 0, 0)
    assert second.suppressed == second.ignored == []
    assert subscribers.get(ledger, "chen.jing@example.com").soft_bounces == 1
    assert history == {a: subscribers.events(ledger, a) for a in history}


def test_the_cli_prints_what_it_did_and_refuses_a_folder_that_is_not_a_maildir(example, maildir, tmp_path):
    put(maildir, fixture("postfix-user-unknown.eml"))
    put(maildir, fixture("postfix-delayed.eml"))
    args = ["--config", str(example / "config.yaml"), "subscribers", "bounces", maildir._path]
    output = CliRunner().invoke(cli, args, catch_exceptions=False).output
    assert "suppressed wang.fang@example.com: bounced 5.1.1" in output
    assert "counted chen.jing@example.com: soft bounce 4.2.2" in output
    assert (
        "2 message(s), 0 already processed: 1 hard bounce(s), 1 soft, 0 complaint(s); 1 address(es) suppressed"
        in output
    )
    again = CliRunner().invoke(cli, args, catch_exceptions=False).output
    assert "2 message(s), 2 already processed" in again and "suppressed wang" not in again
    (tmp_path / "plain").mkdir()
    result = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "plain")])
    assert result.exit_code != 0 and "not a Maildir" in str(result.exception)

"""A confirmation link confirms a signup, never undoes a suppression made after it was mailed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.audience import subscribers
from pipeline.ledger import Ledger


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger(tmp_path / "state.db") as opened:
        yield opened


def backdate(ledger, email: str, seconds: int) -> None:
    """Move the row's last change into the past, as if it happened ``seconds`` ago."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - seconds))
    with ledger.transaction() as db:
        db.execute("UPDATE subscribers SET updated_at=? WHERE email=?", (stamp, email))


def suppress(ledger, email: str, status: str) -> None:
    if status == "unsubscribed":
        subscribers.unsubscribe(ledger, email, "one-click")
    else:
        subscribers.suppress(ledger, email, status, method=status)


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_a_link_made_before_a_suppression_never_reactivates_the_address(ledger, status):
    assert subscribers.request_signup(ledger, "li.na@example.net", "李娜") == "confirm"
    mailed = time.time() - 120  # the link went out two minutes ago
    assert subscribers.confirm(ledger, "li.na@example.net", requested_at=mailed)
    suppress(ledger, "li.na@example.net", status)
    backdate(ledger, "li.na@example.net", 60)
    assert not subscribers.confirm(ledger, "li.na@example.net", requested_at=mailed)  # the replayed link
    assert not subscribers.confirm(ledger, "li.na@example.net")  # and with no time at all
    assert subscribers.get(ledger, "li.na@example.net").status == status
    assert [e["event"] for e in subscribers.events(ledger, "li.na@example.net")] == ["pending", "active", status]


@pytest.mark.parametrize("status", ["unsubscribed", "bounced"])
def test_a_fresh_signup_confirmed_after_the_suppression_brings_the_address_back(ledger, status):
    subscribers.add(ledger, "zhou.jie@example.cn", "周杰")
    suppress(ledger, "zhou.jie@example.cn", status)
    backdate(ledger, "zhou.jie@example.cn", 60)
    assert subscribers.request_signup(ledger, "zhou.jie@example.cn") == "confirm"  # mails a new link
    assert subscribers.get(ledger, "zhou.jie@example.cn").status == status  # until that link is followed
    assert subscribers.confirm(ledger, "zhou.jie@example.cn", requested_at=time.time())
    assert subscribers.get(ledger, "zhou.jie@example.cn").status == "active"


def test_a_complaint_is_final_and_a_link_in_the_same_second_counts_as_older(ledger):
    subscribers.suppress(ledger, "spam@example.org", "complained", method="complaint")
    backdate(ledger, "spam@example.org", 60)
    assert not subscribers.confirm(ledger, "spam@example.org", requested_at=time.time())
    subscribers.unsubscribe(ledger, "left@example.org", "page")
    assert not subscribers.confirm(ledger, "left@example.org", requested_at=time.time())
    assert subscribers.get(ledger, "spam@example.org").status == "complained"
    assert subscribers.get(ledger, "left@example.org").status == "unsubscribed"


def test_an_erased_or_unknown_address_is_not_created_by_a_link(ledger):
    subscribers.request_signup(ledger, "gone@example.org")
    assert subscribers.forget(ledger, "gone@example.org")
    assert not subscribers.confirm(ledger, "gone@example.org", requested_at=time.time())
    assert not subscribers.confirm(ledger, "never@example.org", requested_at=time.time())
    assert subscribers.get(ledger, "gone@example.org") is None
    assert subscribers.get(ledger, "never@example.org") is None

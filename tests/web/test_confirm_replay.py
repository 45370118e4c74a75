"""An old confirmation link, replayed over HTTP, never brings back an address that left."""

from __future__ import annotations

import re
import time

import pytest
import requests
from test_web_app import ONE_CLICK, configure, local, serving, signup, status, text

from pipeline.audience import subscribers
from pipeline.audience.tokens import confirm_url, load_secret, unsubscribe_url
from pipeline.ledger import Ledger

ADDRESS = "li.na@example.net"
HIDDEN = ("退信", "投诉", "bounce", "complain", "已退订", ADDRESS)  # the page names neither the reason nor the address


@pytest.fixture
def site(example, smtp_server):
    config = configure(example, smtp_server.port)
    with serving(config) as (app, base):
        yield config, app, base


def mailed_link(app, smtp_server, address: str) -> str:
    """The confirmation link of the latest mail to ``address``."""
    app.wait_for_mail()
    mail = smtp_server.handler.to(address)[-1]
    return re.search(r"https://\S+/confirm\?\S+", mail.message.get_body(("plain",)).get_content()).group(0)


def backdate(config, email: str, seconds: int) -> None:
    """Move the address's last change into the past, as if it happened ``seconds`` ago."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - seconds))
    with Ledger(config.state_path) as ledger, ledger.transaction() as db:
        db.execute("UPDATE subscribers SET updated_at=? WHERE email=?", (stamp, email))


def suppress(config, base: str, status_: str) -> None:
    """Unsubscribe through the one-click link, or record a bounce or a complaint."""
    if status_ == "unsubscribed":
        url = local(unsubscribe_url(config, load_secret(config), ADDRESS), config, base)
        assert requests.post(url, data="List-Unsubscribe=One-Click", headers=ONE_CLICK, timeout=10).status_code == 200
    else:
        with Ledger(config.state_path) as ledger:
            subscribers.suppress(ledger, ADDRESS, status_, method=status_)


@pytest.mark.parametrize("status_", ["unsubscribed", "bounced", "complained"])
def test_a_replayed_confirmation_link_leaves_a_suppressed_address_suppressed(site, smtp_server, status_):
    config, app, base = site
    assert signup(base, ADDRESS, "李娜").status_code == 200
    link = local(mailed_link(app, smtp_server, ADDRESS), config, base)
    assert requests.post(link, timeout=10).status_code == 200 and status(config, ADDRESS) == "active"
    suppress(config, base, status_)
    for method in ("GET", "POST", "POST"):  # the page, then its button pressed twice
        page = requests.request(method, link, timeout=10)
        assert page.status_code == 403, method
        assert "这个地址没有订阅" in page.text and "重新提交" in page.text and 'name="email"' in page.text
        assert "订阅成功" not in page.text and 'action="confirm?' not in page.text
        assert not [word for word in HIDDEN if word in text(page)]
    assert status(config, ADDRESS) == status_
    with Ledger(config.state_path) as ledger:
        assert [e["event"] for e in subscribers.events(ledger, ADDRESS)][-2:] == ["active", status_]


def test_the_page_is_the_same_whatever_the_suppression(example, smtp_server):
    config = configure(example, smtp_server.port)
    secret = load_secret(config)
    pages = []
    with serving(config) as (app, base):
        for number, status_ in enumerate(["unsubscribed", "bounced", "complained"]):
            address = f"reader{number}@example.org"
            subscribers.suppress(app.ledger, address, status_, method=status_)
            link = local(confirm_url(config, secret, address, ttl=app.confirm_ttl - 600), config, base)
            pages.append(requests.get(link, timeout=10).text)
    assert pages[0] == pages[1] == pages[2]


def test_after_unsubscribing_a_fresh_signup_and_its_new_link_subscribe_again(site, smtp_server):
    config, app, base = site
    secret = load_secret(config)
    subscribers.add(app.ledger, ADDRESS, "李娜")
    # A link mailed ten minutes ago, then the unsubscribe five minutes ago.
    old = local(confirm_url(config, secret, ADDRESS, ttl=app.confirm_ttl - 600), config, base)
    suppress(config, base, "unsubscribed")
    backdate(config, ADDRESS, 300)
    assert requests.post(old, timeout=10).status_code == 403 and status(config, ADDRESS) == "unsubscribed"
    assert signup(base, ADDRESS, "李娜").status_code == 200
    assert status(config, ADDRESS) == "unsubscribed"  # until the person follows the new link
    new = local(mailed_link(app, smtp_server, ADDRESS), config, base)
    page = requests.get(new, timeout=10)
    assert page.status_code == 200 and 'action="confirm?' in page.text
    confirmed = requests.post(new, timeout=10)
    assert confirmed.status_code == 200 and "订阅成功" in confirmed.text
    assert status(config, ADDRESS) == "active"
    assert requests.post(old, timeout=10).status_code == 200  # active now: the old link changes nothing
    with Ledger(config.state_path) as ledger:
        assert [e["event"] for e in subscribers.events(ledger, ADDRESS)] == ["active", "unsubscribed", "active"]


def test_a_complained_address_gets_no_new_link_and_no_old_one_works(site, smtp_server):
    config, app, base = site
    old = local(confirm_url(config, load_secret(config), ADDRESS, ttl=app.confirm_ttl - 600), config, base)
    subscribers.suppress(app.ledger, ADDRESS, "complained", method="complaint")
    backdate(config, ADDRESS, 300)
    assert signup(base, ADDRESS).status_code == 200
    app.wait_for_mail()
    assert smtp_server.handler.to(ADDRESS) == []
    assert requests.post(old, timeout=10).status_code == 403 and status(config, ADDRESS) == "complained"

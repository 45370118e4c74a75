"""The signup form, the confirmation page and the unsubscribe page in a real headless Chromium.

Playwright for Python drives Debian's chromium package (no browser download). Each page is
kept as a screenshot at phone size in tests/artifacts/ for a person to look at.
CI installs: apt `chromium fonts-noto-cjk`, pip `playwright`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chromium import playwright_or_skip
from conftest import REPO
from test_web_app import configure, local, serving, status

from pipeline.audience.tokens import load_secret, unsubscribe_url

ARTIFACTS = REPO / "tests" / "artifacts"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}

sync_api = playwright_or_skip()


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fits_the_screen(page) -> bool:
    """Nothing wider than the phone: no sideways scrolling."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_signup_form_and_confirmation_page_in_a_phone_browser(example, smtp_server, phone):
    config = configure(example, smtp_server.port)
    with serving(config) as (app, base):
        phone.goto(f"{base}/")
        form = phone.locator("form.subscribe-form")
        form.scroll_into_view_if_needed()
        assert phone.locator("#subscribe-email").get_attribute("type") == "email"
        assert phone.get_by_label("邮箱地址").is_visible() and phone.get_by_role("button", name="订阅").is_visible()
        phone.get_by_label("邮箱地址").fill("zhou.jie@example.cn")
        phone.get_by_label("称呼（选填）").fill("周杰")
        shot(phone, "1-archive-signup-form")
        assert fits_the_screen(phone)
        phone.get_by_role("button", name="订阅").click()
        phone.wait_for_url(re.compile(r"/subscribe$"))
        assert phone.get_by_role("heading", name="请查收确认邮件").is_visible()
        shot(phone, "2-check-your-inbox")
        assert fits_the_screen(phone)

        app.wait_for_mail()
        [mail] = smtp_server.handler.to("zhou.jie@example.cn")
        link = re.search(r"https://\S+/confirm\?\S+", mail.message.get_body(("plain",)).get_content()).group(0)
        phone.goto(local(link, config, base))
        assert phone.get_by_role("heading", name="确认订阅").is_visible()
        assert phone.locator(".address").inner_text() == "zhou.jie@example.cn"
        shot(phone, "3-confirm-page")
        assert fits_the_screen(phone) and status(config, "zhou.jie@example.cn") == "pending"
        phone.get_by_role("button", name="确认订阅").click()
        phone.get_by_role("heading", name="订阅成功").wait_for()
        shot(phone, "4-confirmed")
        assert status(config, "zhou.jie@example.cn") == "active"


def test_unsubscribe_page_in_a_phone_browser(example, smtp_server, phone):
    config = configure(example, smtp_server.port)
    address = "a.very.long.address.for.wrapping.checks@mail.example-university.edu.cn"
    with serving(config) as (_, base):
        phone.goto(local(unsubscribe_url(config, load_secret(config), address), config, base))
        assert phone.get_by_role("heading", name="退订邮件").is_visible()
        assert phone.locator(".address").inner_text() == address
        button = phone.get_by_role("button", name="确认退订")
        box = button.bounding_box()
        assert box["width"] >= 200 and box["height"] >= 40  # a comfortable thumb target
        shot(phone, "5-unsubscribe-page")
        assert fits_the_screen(phone) and status(config, address) is None
        button.click()
        phone.get_by_role("heading", name="已退订").wait_for()
        shot(phone, "6-unsubscribed")
        assert fits_the_screen(phone) and status(config, address) == "unsubscribed"


def test_artifacts_folder_is_ignored_by_git():
    assert "/tests/artifacts/" in (REPO / ".gitignore").read_text(encoding="utf-8")

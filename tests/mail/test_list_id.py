"""List-Id (RFC 2919): whatever the site title holds, the header stays one header with the list's id."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timezone
from email.header import decode_header, make_header

import pytest

from pipeline.errors import ChannelError
from pipeline.mail.message import PLACEHOLDER, Envelope, issue_message, list_id

TITLES = [
    "大模型前沿论文速递",
    "Weekly Papers",
    "A.B. Weekly",
    'Say "hi"',
    "速递 <evil.example.com>",
    "Papers <evil.example.com>, more; and \\ this",
    "Papers\r\nBcc: victim@example.com",
    "速递\r\nBcc: victim@example.com\r\n\r\nbody",
    '论文 "速递", <x> ; 第\n二行',
    "很长的标题" * 40,
    "x" * 300,
]
# A phrase as RFC 5322 writes one: atoms, quoted strings and RFC 2047 encoded words.
PHRASE = re.compile(r'(?:[^\s"<>()@,;:\\]+|"(?:[^"\\\r\n]|\\.)*"|\s+)*?')
HEADER = re.compile(rf"List-Id: ({PHRASE.pattern})\s*<([^<>\s]+)>")


def message_for(title: str, configured: str | None = None) -> email.message.EmailMessage:
    """An issue's message for one recipient, read back with the email package's default policy."""
    message = issue_message(
        subject="第17期",
        envelope=Envelope(header="速递 <digest@example.org>", address="digest@example.org"),
        text=f"正文\n退订：{PLACEHOLDER}\n",
        html=f'<p>正文</p><a href="{PLACEHOLDER}">退订</a>',
        date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        list_id=list_id(title, "https://digest.example.org/", configured),
        placeholder=PLACEHOLDER,
        unsubscribe_url=lambda address: f"https://digest.example.org/unsubscribe?email={address}",
        unsubscribe_mailto="",
        id_prefix="2026-01-01",
    )
    data = message.personalise("reader@example.org", "读者")
    head = data.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # RFC 2047, never raw UTF-8, in headers
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    parsed.raw_head = head.decode("ascii")
    return parsed


def read_list_id(msg) -> tuple[str, str]:
    """(description, id) as a list-id reader takes them from the raw header: one phrase, then ``<id>``."""
    line = next(h for h in re.sub(r"\r\n[ \t]", " ", msg.raw_head).split("\r\n") if h.startswith("List-Id:"))
    match = HEADER.fullmatch(line)
    assert match, line
    phrase, label = match.group(1).strip(), match.group(2)
    description = str(make_header(decode_header(phrase)))
    if phrase.startswith('"'):
        description = re.sub(r"\\(.)", r"\1", description[1:-1])
    return description, label


@pytest.mark.parametrize("title", TITLES)
def test_the_title_is_a_phrase_and_the_id_survives(title):
    msg = message_for(title)
    assert msg.keys() == [
        "To",
        "Message-ID",
        "List-Unsubscribe",
        "From",
        "Subject",
        "Date",
        "List-Id",
        "List-Unsubscribe-Post",
        "MIME-Version",
        "Content-Type",
    ]
    assert "Bcc" not in msg and len(msg.get_all("List-Id")) == 1
    assert msg["List-Id"].endswith(" <digest.example.org>")
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert body == "正文\n退订：https://digest.example.org/unsubscribe?email=reader@example.org\n"
    assert read_list_id(msg) == (" ".join(title.split()), "digest.example.org")


def test_plain_titles_stay_readable():
    assert list_id("Weekly Papers", "https://digest.example.org/", None) == "Weekly Papers <digest.example.org>"
    assert list_id('Say "hi"', "https://digest.example.org/", None) == '"Say \\"hi\\"" <digest.example.org>'
    assert list_id("", "https://example.org/digest/", None) == "<digest.example.org>"
    assert list_id("速递", "https://example.org/", None) == "=?utf-8?b?6YCf6YCS?= <example.org>"


@pytest.mark.parametrize("configured", ["news.example.org", "<news.example.org>", "速递 <news.example.org>"])
def test_a_configured_id_is_used_as_it_is(configured):
    msg = message_for("速递 <evil.example.com>", configured)
    assert read_list_id(msg) == ("速递 <evil.example.com>", "news.example.org")


@pytest.mark.parametrize("configured", ["news", "news example.org", "news.example.org>\r\nBcc: x@example.com", "a<b>"])
def test_a_configured_id_that_is_no_list_id_is_refused(configured):
    with pytest.raises(ChannelError, match="list_id") as caught:
        list_id("速递", "https://digest.example.org/", configured)
    assert "digest.example.org" in caught.value.hint

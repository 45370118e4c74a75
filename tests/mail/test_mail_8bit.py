"""8bit bodies: long lines broken where HTML shows no difference, the text left exactly as it was."""

from __future__ import annotations

import email
import email.policy
from html.parser import HTMLParser

from pipeline.mail.message import EIGHT_BIT_LINE, EightBitBody, encode_body, wrap_8bit


class TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible(html: str) -> str:
    """The text a browser shows, with runs of whitespace folded as HTML folds them."""
    parser = TextOf()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


PAGE = (
    "<html><head><title>标题</title><style>p { margin: 0 } .c { color: #333 }</style></head><body>"
    "<!--[if mso]><table><tr><td>旧版客户端</td></tr></table><![endif]-->"
    f"<p>{'长段落没有任何空格' * 120}</p>"
    f"<p>{'mixed 中文 and English ' * 80}</p>"
    f"<pre>{'代码 ' * 5}</pre>"
    f'<p><a href="%%UNSUBSCRIBE_URL%%" style="color:#555">退订</a>{"尾" * 400}&amp;{"字" * 300}</p>'
    "</body></html>"
)


def test_lines_are_short_and_the_visible_text_unchanged():
    wrapped = wrap_8bit(PAGE)
    assert wrapped is not None
    lines = wrapped.split(b"\r\n")
    assert max(len(line) for line in lines) <= EIGHT_BIT_LINE
    assert visible(wrapped.decode()) == visible(PAGE)
    assert b"%%UNSUBSCRIBE_URL%%" in wrapped and b"&amp;" in wrapped
    assert "<pre>代码 代码 代码 代码 代码 </pre>" in wrapped.decode()  # verbatim text untouched


def test_comment_breaks_never_nest_or_enter_tags():
    wrapped = wrap_8bit(PAGE).decode()
    assert wrapped.count("<!--") == wrapped.count("-->")
    assert "<!--[if mso]><table><tr><td>旧版客户端</td></tr></table><![endif]-->" in wrapped
    for line in wrapped.split("\r\n"):
        assert line.count("<") - line.count("<!--") >= 0


def test_unbreakable_text_falls_back_to_seven_bit():
    body = encode_body("<pre>" + "代码" * 400 + "</pre>", eight_bit=True)
    assert not isinstance(body, EightBitBody)
    assert isinstance(encode_body(PAGE, eight_bit=True), EightBitBody)
    assert not isinstance(encode_body(PAGE, eight_bit=False), EightBitBody)


def test_an_eight_bit_part_parses_back_to_the_same_html():
    body = encode_body(PAGE, eight_bit=True)
    url = b"https://digest.example.org/unsubscribe?email=a%40example.org&amp;token=abc"
    raw = b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' + body.encode(url)
    part = email.message_from_bytes(raw, policy=email.policy.default)
    html = part.get_content()
    assert visible(html) == visible(PAGE.replace("%%UNSUBSCRIBE_URL%%", url.decode()))
    assert f'href="{url.decode()}"' in html

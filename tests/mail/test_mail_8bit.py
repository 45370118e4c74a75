"""8bit bodies: long lines broken where HTML shows no difference, the text left exactly as it was."""

from __future__ import annotations

import email
import email.policy
import re
from html.parser import HTMLParser

from pipeline.mail.message import EIGHT_BIT_LINE, URL_ROOM, EightBitBody, encode_body, wrap_8bit


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


class Chunks(HTMLParser):
    """The runs of text as a parser meets them between markup, whitespace folded; tags by name."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.items.append(f"<{tag} {attrs}>")

    def handle_endtag(self, tag: str) -> None:
        self.items.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        folded = " ".join(data.split())
        if self.items and not self.items[-1].startswith("<"):
            self.items[-1] = " ".join((self.items[-1] + " " + folded).split())
        elif folded:
            self.items.append(folded)

    def handle_comment(self, data: str) -> None:
        self.items.append(f"<!--{data}-->")


def test_lines_are_short_and_the_visible_text_unchanged():
    wrapped = wrap_8bit(PAGE, html=True)
    assert wrapped is not None
    lines = wrapped.split(b"\r\n")
    assert max(len(line) for line in lines) <= EIGHT_BIT_LINE
    [linked] = [line for line in lines if b"%%UNSUBSCRIBE_URL%%" in line]
    assert len(linked) <= EIGHT_BIT_LINE - URL_ROOM  # room for the URL that replaces it
    assert visible(wrapped.decode()) == visible(PAGE)
    assert b"%%UNSUBSCRIBE_URL%%" in wrapped and b"&amp;" in wrapped
    assert "<pre>代码 代码 代码 代码 代码 </pre>" in wrapped.decode()  # verbatim text untouched


def test_breaks_add_no_comment_and_split_no_text_between_tags():
    """A spam filter reads a comment or tag between two characters as a word split on purpose."""
    page = (
        "<html><head><title>标题</title></head><body>"
        + (
            '<p class="m" style="color:#666;font-size:14px">作者：<strong>张三</strong>，'
            '<a href="https://example.org/a b" title="一 二 三">链接</a>。</p>'
        )
        * 40
        + "</body></html>"
    )
    wrapped = wrap_8bit(page, html=True).decode()
    assert wrapped.count("<!--") == 0 and "<wbr" not in wrapped
    assert len(wrapped.split("\r\n")) > 5
    assert Chunks(wrapped).items == Chunks(page).items  # attribute values kept, spaces and all


def test_a_run_of_chinese_longer_than_a_line_breaks_in_a_wbr_between_ideographs():
    wrapped = wrap_8bit(PAGE, html=True).decode()
    assert wrapped.count("<!--") == PAGE.count("<!--")
    assert "<!--[if mso]><table><tr><td>旧版客户端</td></tr></table><![endif]-->" in wrapped
    assert re.findall(r"(.)<wbr\r\n>(.)", wrapped) and all(
        "\u4e00" <= a <= "\u9fff" and "\u4e00" <= b <= "\u9fff" for a, b in re.findall(r"(.)<wbr\r\n>(.)", wrapped)
    )
    without = wrapped.replace("<wbr\r\n>", "")
    run = without[without.index("长段落") : without.index("</p")]
    assert run == "长段落没有任何空格" * 120  # the long paragraph: broken only in its wbr tags


def test_plain_text_breaks_only_at_spaces():
    text = "退订：\n" + "长段落" * 300 + "\n" + "word " * 300
    assert wrap_8bit(text) is None  # no space to break at: the part goes 7-bit
    wrapped = wrap_8bit(text.split("\n", 1)[0] + "\n" + "a <b> " * 200)
    assert b"<b\r\n>" not in wrapped and b"<wbr" not in wrapped


def test_unbreakable_text_falls_back_to_seven_bit():
    body = encode_body("<pre>" + "代码" * 400 + "</pre>", eight_bit=True)
    assert not isinstance(body, EightBitBody)
    assert isinstance(encode_body(PAGE, eight_bit=True, html=True), EightBitBody)
    assert not isinstance(encode_body(PAGE, eight_bit=True), EightBitBody)  # as text: no tag to break in
    assert not isinstance(encode_body(PAGE, eight_bit=False), EightBitBody)


def test_an_eight_bit_part_parses_back_to_the_same_html():
    body = encode_body(PAGE, eight_bit=True, html=True)
    url = b"https://digest.example.org/unsubscribe?u=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    raw = b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' + body.encode(url)
    part = email.message_from_bytes(raw, policy=email.policy.default)
    html = part.get_content()
    assert visible(html) == visible(PAGE.replace("%%UNSUBSCRIBE_URL%%", url.decode()))
    assert f'href="{url.decode()}"' in html

"""The article's HTML as draft/add takes it: within the limits, counted on the string as sent.

The API wants ``content`` "少于2万字符，小于1M": fewer than 20,000 characters of the HTML
string, tags and inline styles included, and under 1 MB. The build already fits the article
at a paper boundary and keeps its 引用链接 list; :func:`fit_content` is the last guard, for an
article that the uploaded images' URLs made longer than the build measured.
"""

from __future__ import annotations

import html as htmllib
from html.parser import HTMLParser
from typing import Any

from pipeline.render.wechat import WECHAT_LIMITS

CUT_NOTE = '<p style="margin:1em 0;color:#595959">（全文较长，余下内容请点击“阅读原文”查看。）</p>'


def fit_content(content: str) -> tuple[str, bool]:
    """The content within draft/add's limits ("fewer than"), counted on the HTML string as sent: ``(html, cut)``.

    The build already fits the article at a paper boundary, keeping its 引用链接; this cut only
    acts when the uploaded images' URLs made it longer than the build measured, and keeps the
    start of the article."""
    return shorten_html(content, WECHAT_LIMITS["content_chars"] - 1, WECHAT_LIMITS["content_bytes"] - 1, CUT_NOTE)


class _Cutter(HTMLParser):
    """Copies HTML until a budget of characters (of the HTML, tags included) or bytes runs out, keeping
    tags balanced."""

    VOID = {"br", "img", "hr", "wbr", "input", "meta", "source"}

    def __init__(self, max_chars: int, max_bytes: int) -> None:
        super().__init__(convert_charrefs=True)
        self.max_chars, self.max_bytes = max_chars, max_bytes
        self.out: list[str] = []
        self.stack: list[str] = []
        self.chars = self.size = 0
        self.full = False

    def _emit(self, text: str) -> None:
        closing = sum(len(tag) + 3 for tag in self.stack) + 1024  # room to close what is open, and the note
        if (
            self.full
            or self.chars + len(text) + closing > self.max_chars
            or self.size + len(text.encode()) + closing > self.max_bytes
        ):
            self.full = True
            return
        self.out.append(text)
        self.chars += len(text)
        self.size += len(text.encode())

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._emit(self.get_starttag_text() or f"<{tag}>")
        if not self.full and tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self._emit(self.get_starttag_text() or f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if not self.full and tag in self.stack:
            self._emit(f"</{tag}>")
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self._emit(htmllib.escape(data, quote=False))


def shorten_html(markup: str, max_chars: int, max_bytes: int, note: str) -> tuple[str, bool]:
    """``markup`` cut to at most ``max_chars`` characters and ``max_bytes`` bytes of HTML, ``note`` appended
    inside the outermost element; ``(markup, False)`` when it already fits."""
    if len(markup) <= max_chars and len(markup.encode()) <= max_bytes:
        return markup, False
    cutter = _Cutter(max_chars, max_bytes)
    cutter.feed(markup)
    cutter.close()
    inner, outer = cutter.stack[1:], cutter.stack[:1]
    tail = "".join(f"</{tag}>" for tag in reversed(inner)) + note + "".join(f"</{tag}>" for tag in outer)
    return "".join(cutter.out) + tail + "\n", True


def preview_page(body: dict[str, Any]) -> str:
    """article.html: the content as a page, to look at before uploading."""
    title = htmllib.escape(body["title"])
    return (
        f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n</head>\n'
        f'<body style="max-width:677px;margin:0 auto;padding:16px;">\n<h1 style="font-size:22px;">{title}</h1>\n'
        f"{body['content']}</body>\n</html>\n"
    )

"""WeChat's limits on an article, counted the way the draft API counts them.

``draft/add`` takes ``content`` under 20,000 characters and under 1 MB, both counted on the
HTML string as sent: tags and inline styles included, and each image's src as the URL that
``uploadimg`` answered with (the channel swaps them in). An article is measured before it is
sent, so each image counts as IMAGE_URL_ALLOWANCE characters long, and CONTENT_ROOM and
BYTES_ROOM are kept free under the limits: the channel's last safety net, which cuts what is
still over, then never has anything to do for an article the build fitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit

from markdown_it.common.utils import escapeHtml

WECHAT_LIMITS = {"title": 32, "author": 16, "digest": 128, "content_chars": 20000, "content_bytes": 1_000_000}
# uploadimg answers with about http://mmbiz.qpic.cn/mmbiz_png/<60 characters>/0?wx_fmt=png
IMAGE_URL_ALLOWANCE = 130
CONTENT_ROOM = 200  # characters kept free under the limit, for uploaded URLs longer than the allowance
BYTES_ROOM = 4096


class Article(Protocol):
    """What the checks read of an article (render.wechat.WechatArticle, which imports this module)."""

    title: str
    digest: str
    papers_kept: int
    papers_total: int
    whole_size: tuple[int, int] | None

    @property
    def was_cut(self) -> bool: ...

    def sent_size(self) -> tuple[int, int]: ...


def size_limits() -> tuple[int, int]:
    """The most characters and bytes of HTML an article may have as sent, room kept free."""
    return WECHAT_LIMITS["content_chars"] - CONTENT_ROOM, WECHAT_LIMITS["content_bytes"] - BYTES_ROOM


def fits_limits(chars: int, size: int) -> bool:
    """Whether HTML of ``chars`` characters and ``size`` bytes (as sent) is within the limits."""
    most_chars, most_bytes = size_limits()
    return chars <= most_chars and size <= most_bytes


def check_limits(article: Article, author: str | None = None) -> list[str]:
    """Warnings for what the WeChat draft API would refuse (empty when everything fits).

    The API documents content as "少于2万字符，小于1M" and counts both on the HTML string as
    sent, tags and inline styles included (it answers 45002 otherwise). An article over them
    even when cut to no paper has an introduction too long for WeChat.
    """
    warnings = []
    if not article.title.strip():
        warnings.append("title is empty; WeChat requires one")
    for name, value in (("title", article.title), ("digest", article.digest), ("author", author or "")):
        if len(value) > WECHAT_LIMITS[name]:
            warnings.append(f"{name} is {len(value)} characters; WeChat allows {WECHAT_LIMITS[name]}")
    chars, size = article.sent_size()
    most_chars, most_bytes = size_limits()
    if chars > most_chars:
        warnings.append(
            f"content is {chars:,} characters of HTML as sent, with no paper in it; WeChat takes fewer than {WECHAT_LIMITS['content_chars']:,} ({most_chars:,} with room for image URLs): shorten the introduction"
        )
    if size > most_bytes:
        warnings.append(
            f"content is {size:,} bytes of HTML as sent; WeChat takes less than {WECHAT_LIMITS['content_bytes']:,}"
        )
    return warnings


def size_summary(article: Article) -> str:
    """The article's size as sent against WeChat's limits, and what was cut to fit (for reports)."""
    chars, size = article.sent_size()
    limit_chars, limit_bytes = WECHAT_LIMITS["content_chars"], WECHAT_LIMITS["content_bytes"]
    text = f"WeChat HTML {chars:,} characters, {size:,} bytes as sent (limits {limit_chars:,} and {limit_bytes:,})"
    return f"{text}; {cut_summary(article)}" if article.was_cut else text


def cut_summary(article: Article) -> str:
    """What a cut article left out, e.g. "27,178 characters of HTML; only papers 1–3 of 6 fit
    under 20,000; the rest is behind 阅读原文" (empty when nothing was cut)."""
    if not article.was_cut:
        return ""
    whole_chars, whole_bytes = article.whole_size or article.sent_size()
    kept, total = article.papers_kept, article.papers_total
    over = f"{whole_chars:,} characters of HTML"
    if whole_bytes >= WECHAT_LIMITS["content_bytes"]:
        over += f" ({whole_bytes:,} bytes)"
    fit = {0: f"none of its {total} papers fits", 1: f"only paper 1 of {total} fits"}.get(
        kept, f"only papers 1–{kept} of {total} fit"
    )
    return f"{over}; {fit} under {WECHAT_LIMITS['content_chars']:,}; the rest is behind 阅读原文"


def sent_size(markup: str, image_urls: Iterable[str] = ()) -> tuple[int, int]:
    """Characters and UTF-8 bytes of ``markup`` once the channel has put uploaded images in it:
    each image src (as in ``markup``) counted as IMAGE_URL_ALLOWANCE long, unless it is on
    WeChat already and stays as it is."""
    chars, size = len(markup), len(markup.encode("utf-8"))
    for url in set(image_urls):
        if on_wechat(url):
            continue
        written = escapeHtml(url)
        count = markup.count(f'src="{written}"')
        chars += count * (IMAGE_URL_ALLOWANCE - len(written))
        size += count * (IMAGE_URL_ALLOWANCE - len(written.encode("utf-8")))
    return chars, size


def on_wechat(url: str) -> bool:
    """Images on WeChat's servers (qpic.cn) are sent as they are, not uploaded again."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host == "qpic.cn" or host.endswith(".qpic.cn")

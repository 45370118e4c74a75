"""The paste page: the WeChat article as an editor copies it into the mp.weixin.qq.com editor.

Accounts without the draft API (personal and unverified ones) publish by pasting: this page
shows the article at phone width exactly as ``wechat.html`` renders, and its button
「复制到公众号」 puts that HTML on the clipboard as ``text/html`` (with ``text/plain``). Next
to it: title, author, digest, 原文链接 and cover with their own copy buttons and WeChat's limits.

Images: the editor's paste fetches each ``<img src>`` from its servers, which works only for
public URLs. With a public ``site.url`` the copied HTML keeps the site's absolute image URLs;
otherwise each local image becomes a visible 「在此处上传图片」 line in the copied HTML and the
page lists the files to upload by hand. The page shows every image from its local file either
way, so it works offline, from ``file://`` as from a web server.

The build writes it as ``issues/<id>/wechat-paste.html`` (next to the issue's images) for each
issue a WeChat channel takes; export mode writes it into the outbox with its copied images.
Everything from the issue is escaped: text by the template, the copied HTML as JSON in a
``<script type="application/json">`` (``<`` written as ``\\u003c``). The page loads nothing
from elsewhere and allows only its own script (CSP with the script's hash).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from markdown_it.common.utils import escapeHtml
from markupsafe import Markup

from pipeline.config import ChannelConfig, Config
from pipeline.errors import ConfigError, RenderError
from pipeline.markdown import is_relative_path
from pipeline.model import Issue
from pipeline.render.context import RenderContext, cover_href

TEMPLATE = "wechat_paste.html"
ARTICLE_OPTION = "author"  # declared by the channels that send the article (see wechat_channel)
SCRIPT = "wechat_paste.js"
# Hosts the editor's servers cannot fetch from: this machine, private networks, names kept for
# documentation and testing (RFC 2606, RFC 6761), and names without a dot (an intranet's).
PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home", ".test", ".invalid", ".example")
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
# A span shown as a block: images sit inside paragraphs, where a <p> may not go
PLACEHOLDER = (
    '<span style="display:block;margin:1em 0;padding:12px;border:1px dashed #b00020;color:#b00020;text-align:center;">'
    "【在此处上传图片 {number}：{name}，然后删除这一行】</span>"
)


class Article(Protocol):
    """What the page reads of a WeChat article: :class:`pipeline.render.wechat.WechatArticle`,
    which imports this module to add the page to the build's outputs."""

    @property
    def title(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def source_url(self) -> str: ...
    @property
    def images(self) -> list[tuple[str, str]]: ...  # (src as written, file or URL)
    @property
    def image_urls(self) -> dict[str, str]: ...  # src as written → src in html
    @property
    def cover(self) -> tuple[str, str] | None: ...


@dataclass(frozen=True)
class PasteImage:
    """One image of the article as the page handles it."""

    number: int  # 图 n, in order of first use
    shown: str  # where the page loads it from (relative to the page, or its URL)
    alt: str
    by_hand: bool  # the editor uploads it (no public URL the editor's paste can fetch)


@dataclass(frozen=True)
class Field:
    """A text the editor copies into a field of the editor, with WeChat's limit."""

    key: str
    label: str
    value: str
    limit: int | None

    @property
    def length(self) -> int:
        return len(self.value)  # code points: what the editor counts for Chinese text

    @property
    def over(self) -> int:
        return max(0, self.length - self.limit) if self.limit else 0


def render_paste_page(
    article: Article,
    ctx: RenderContext,
    *,
    author: str,
    limits: Mapping[str, int],
    html: str | None = None,
    local_srcs: Mapping[str, str] | None = None,
    cover_src: str | None = None,
    default_cover: str = "",
) -> bytes:
    """The paste page for ``article``, as UTF-8 bytes.

    ``html`` is the article as it will be sent, image srcs as in ``wechat.html``
    (``article.image_urls``); by default ``article.html``. ``local_srcs`` maps each local image
    (src as written in the issue) to where the page finds its file, relative to the page; by
    default the src as written (the build's copy next to ``issues/<id>/``). ``cover_src`` is
    where the page finds the cover (by default as written; given without an issue cover, the
    default cover the channel copied next to the page). ``default_cover`` names the channel's
    default cover for an issue without one, when the page cannot show it. Local images the site
    does not serve publicly become upload-by-hand lines in the copied HTML.
    """
    html = article.html if html is None else html
    public = is_public_site(ctx.site.url)
    shown_html, copied_html, images = _image_versions(article, html, local_srcs, public)
    cover = cover_src or (article.cover[0] if article.cover else None)
    fields = _fields(article, author, limits)
    script = _script(ctx)
    page = _render(
        ctx,
        article=article,
        preview=Markup(shown_html),  # the renderer's own escaped markup
        data=_json_block({"html": copied_html, "fields": {f.key: f.value for f in fields}}),
        fields=fields,
        author=author,
        cover=cover_href(cover) if cover else None,  # a file name: `#` or a space in it as an href
        cover_name=cover,
        default_cover=default_cover,
        images=images,
        public=public,
        site_url=ctx.site.url,
        size=_size(copied_html, limits),
        script=Markup(script),
        csp=_csp(script),
    )
    return page


def render_issue_page(
    issue: Issue, ctx: RenderContext, article: Article, limits: Mapping[str, int]
) -> dict[str, bytes]:
    """``{"issues/<id>/wechat-paste.html": bytes}`` when a WeChat channel takes the issue, else ``{}``."""
    channel = wechat_channel(issue, ctx.config)
    if channel is None:
        return {}
    author, default_cover = _option(channel, "author") or ctx.site.author, _option(channel, "default_cover")
    page = render_paste_page(article, ctx, author=author, limits=limits, default_cover=default_cover)
    return {f"issues/{issue.id}/wechat-paste.html": page}


def wechat_channel(issue: Issue, config: Config) -> ChannelConfig | None:
    """The first channel that takes the issue and sends an article under an author's name
    (it declares ``author``: the WeChat channel); None when there is none. Asked by option,
    as every stage below the channels asks, so that no type name is branched on here."""
    for channel in config.channels_declaring(ARTICLE_OPTION):
        if issue.channels is None or channel.name in issue.channels:
            return channel
    return None


def _option(channel: ChannelConfig, key: str) -> str:
    if not channel.declares(key):
        return ""
    try:
        return str(channel.options.get(key) or "")
    except ConfigError:  # from a ${VAR} not set here: the channel says so when it sends
        return ""


def is_public_site(url: str) -> bool:
    """Whether the editor's servers can fetch images from ``url``: http(s) on a public host."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass  # a name, not an address
    if "." not in host or host == "localhost" or host.endswith(PRIVATE_SUFFIXES):
        return False
    return not any(host == domain or host.endswith("." + domain) for domain in EXAMPLE_DOMAINS)


def _image_versions(
    article: Article, html: str, local_srcs: Mapping[str, str] | None, public: bool
) -> tuple[str, str, list[PasteImage]]:
    """(HTML the page shows, HTML it copies, the images): the page shows local files; the copy
    keeps public URLs and marks where the editor uploads the others."""
    shown, copied, images = html, html, []
    for src, _ in article.images:
        sent = article.image_urls.get(src, src)
        tag = _img_tag(sent)
        found = tag.search(html)
        if found is None:
            continue  # not in this HTML (cut to fit the limit)
        if is_relative_path(src):
            where, fetchable = (local_srcs or {}).get(src, src), public
        else:  # a URL in the issue: shown from there, pasted as it is when the editor can fetch it
            where, fetchable = sent, is_public_site(sent)
        number = len(images) + 1
        shown = shown.replace(f'src="{escapeHtml(sent)}"', f'src="{escapeHtml(where)}"')
        if not fetchable:
            note = PLACEHOLDER.format(number=number, name=escapeHtml(where))
            copied = tag.sub(lambda _, note=note: note, copied)  # a function: the note is no pattern
        images.append(PasteImage(number, where, _alt(found.group(0)), by_hand=not fetchable))
    return shown, copied, images


def _img_tag(src: str) -> re.Pattern[str]:
    """The whole ``<img>`` with this src: attribute values are escaped, so no ``>`` inside."""
    return re.compile(r'<img\b[^>]*?\ssrc="' + re.escape(escapeHtml(src)) + r'"[^>]*>')


def _alt(img: str) -> str:
    alt = re.search(r'\salt="([^"]*)"', img)
    return Markup(alt.group(1)).unescape() if alt else ""


def _fields(article: Article, author: str, limits: Mapping[str, int]) -> list[Field]:
    return [
        Field("title", "标题", article.title, limits["title"]),
        Field("author", "作者", author, limits["author"]),
        Field("digest", "摘要", article.digest, limits["digest"]),
        Field("source_url", "原文链接", article.source_url, None),
    ]


def _size(html: str, limits: Mapping[str, int]) -> dict[str, Any]:
    """The HTML's length as the API counts it (characters of the string as sent) and its bytes."""
    chars, size = len(html), len(html.encode("utf-8"))
    limit_chars, limit_bytes = limits["content_chars"], limits["content_bytes"]
    return {"chars": chars, "bytes": size, "limit": limit_chars, "over": chars >= limit_chars or size >= limit_bytes}


def _script(ctx: RenderContext) -> str:
    """The page's script, as a newsletter's templates/ may replace it; never a template itself."""
    import jinja2

    try:
        source, _, _ = ctx.templates.loader.get_source(ctx.templates, SCRIPT)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {SCRIPT} not found") from exc
    if "</script" in source.lower():
        raise RenderError(f"template {SCRIPT}: the script must not contain </script")
    return source


def _json_block(value: Any) -> Markup:
    """JSON to put inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` as
    ``\\u`` escapes, so no text of the issue can close the element or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _csp(script: str) -> str:
    """Only this script runs; styles inline (the article is inline-styled); images from anywhere
    the article names; nothing else is fetched but the page's own files (the cover to copy)."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        "img-src * data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'"
    )


def _render(ctx: RenderContext, **values: Any) -> bytes:
    import jinja2

    try:
        return ctx.templates.get_template(TEMPLATE).render(**values).encode("utf-8")
    except jinja2.TemplateError as exc:
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise RenderError(f"template {TEMPLATE}{where}: {exc}") from exc

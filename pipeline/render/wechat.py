"""The WeChat Official Account article: ``wechat.md`` for doocs/md-style editors, ``wechat.html``
for the draft API, and ``wechat.json``: what else the WeChat channel sends (title, digest,
阅读原文 URL, the images and cover to upload), so that it delivers the built article as it is.

WeChat articles cannot open outside links, so every link becomes its text plus a numbered
marker, and a closing "引用链接" list gives ``[n] title: URL`` (numbered by first use, one
number per URL), as doocs/md and mdnice do. The HTML carries inline ``style`` attributes
only: the editor and the API drop ``<style>``, classes, ids and scripts. Image ``src`` values
are absolute; the WeChat channel uploads each image and swaps in the returned URL with
:meth:`WechatArticle.html_with_images`, without rendering again.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token

from pipeline.markdown import StyledRenderer, image_sources, is_relative_path, iter_inline, parser
from pipeline.model import Issue, Markdown, Paper
from pipeline.render.context import RenderContext, paper_links, source_line
from pipeline.render.mdout import MarkdownWriter, escape, escape_meta, heading, matching_open, one_line, plain_text

WECHAT_LIMITS = {"title": 32, "author": 16, "digest": 128, "content_chars": 20000, "content_bytes": 1_000_000}

ACCENT = "#1f4e79"
WRAPPER = (
    "font-size:16px;line-height:1.75;color:#333;letter-spacing:0.5px;word-break:break-word;overflow-wrap:anywhere;"
)
STYLES = {
    "p": "margin:1em 0;",
    "h1": f"margin:1.5em 0 0.75em;font-size:20px;font-weight:bold;color:{ACCENT};",
    "h2": f"margin:2em 0 0.5em;padding-bottom:4px;font-size:19px;font-weight:bold;color:{ACCENT};border-bottom:2px solid {ACCENT};",
    "h3": f"margin:1.5em 0 0.5em;padding-left:8px;font-size:17px;font-weight:bold;color:{ACCENT};border-left:4px solid {ACCENT};",
    "h4": "margin:1.2em 0 0.4em;font-size:16px;font-weight:bold;color:#333;",
    "h5": "margin:1em 0 0.4em;font-size:15px;font-weight:bold;color:#333;",
    "h6": "margin:1em 0 0.4em;font-size:15px;font-weight:bold;color:#666;",
    "ul": "margin:0.5em 0;padding-left:1.5em;list-style-type:disc;",
    "ol": "margin:0.5em 0;padding-left:1.5em;list-style-type:decimal;",
    "blockquote": "margin:1em 0;padding:0.5em 1em;color:#666;background:#f7f7f7;border-left:4px solid #ddd;",
    "code": "font-family:Menlo,Consolas,monospace;font-size:90%;color:#c7254e;background:#f6f6f6;padding:2px 4px;border-radius:3px;",
    "pre": "margin:1em 0;padding:1em;background:#f6f8fa;border-radius:4px;overflow-x:auto;",
    "code_block": "font-family:Menlo,Consolas,monospace;font-size:13px;color:#333;",
    "img": "display:block;max-width:100%;margin:1em auto;",
    "hr": "margin:2em 0;border:0;border-top:1px solid #ddd;",
}
LINK = f"color:{ACCENT};"
SUP = f"font-size:75%;color:{ACCENT};"
PAPER = "margin:0 0 2em;"
TRANSLATED = "margin:0 0 0.75em;font-size:16px;font-weight:bold;color:#555;"
META = "margin:0.75em 0;font-size:14px;color:#666;"
STARS = "color:#f5a623;"
NOTES = "margin:1em 0;font-size:13px;line-height:1.6;color:#888;word-break:break-all;"


@dataclass(frozen=True)
class WechatArticle:
    """One issue as a WeChat article, with what the channel needs to upload it."""

    title: str
    digest: str
    markdown: str
    html: str
    images: list[tuple[str, str]]  # (src as written, local file path or URL to fetch), first use order
    links: list[tuple[int, str, str]]  # (number, title, URL) of the 引用链接 list
    source_url: str = ""  # the issue's web page ("阅读原文")
    cover: tuple[str, str] | None = None  # (cover as written, local file path or URL)
    image_urls: dict[str, str] = field(default_factory=dict, repr=False)  # src as written → src in html

    def metadata(self) -> dict[str, Any]:
        """What ``wechat.json`` holds: the article less its two texts; images by src as written."""
        return {
            "title": self.title,
            "digest": self.digest,
            "source_url": self.source_url,
            "images": [src for src, _ in self.images],
            "cover": self.cover[0] if self.cover else None,
            "image_urls": self.image_urls,
            "links": [list(link) for link in self.links],
        }

    @classmethod
    def from_built(cls, folder: Path) -> WechatArticle:
        """The article as the build wrote it in ``folder`` (``public/issues/<id>/``): a local
        image is read from the build's copy of it there, not from the issue folder."""
        meta = json.loads((folder / "wechat.json").read_text("utf-8"))
        cover = meta["cover"]
        return cls(
            title=meta["title"],
            digest=meta["digest"],
            markdown=(folder / "wechat.md").read_text("utf-8"),
            html=(folder / "wechat.html").read_text("utf-8"),
            images=[(src, _location(folder, src)) for src in meta["images"]],
            links=[(number, title, url) for number, title, url in meta["links"]],
            source_url=meta["source_url"],
            cover=(cover, _location(folder, cover)) if cover else None,
            image_urls=meta["image_urls"],
        )

    def html_with_images(self, uploaded: Mapping[str, str]) -> str:
        """The HTML with each image's src (keyed by the src as written) replaced by its uploaded URL."""
        out = self.html
        for original, new in uploaded.items():
            current = self.image_urls.get(original)
            if current is not None:
                out = out.replace(f'src="{escapeHtml(current)}"', f'src="{escapeHtml(new)}"')
        return out


class Citations:
    """The 引用链接 list: one number per distinct URL, in order of first use."""

    def __init__(self, resolve: Callable[[str], str]) -> None:
        self.resolve = resolve
        self._numbers: dict[str, int] = {}
        self.entries: list[tuple[int, str, str]] = []
        # id(link_open token) → (token, marker): the Markdown and the HTML writer both ask
        self._markers: dict[int, tuple[Token, str]] = {}

    def number(self, url: str, title: str) -> int:
        """The URL's number, assigned on first use (the first title is the one listed)."""
        if url not in self._numbers:
            self._numbers[url] = len(self._numbers) + 1
            self.entries.append((self._numbers[url], title, url))
        return self._numbers[url]

    def marker(self, token: Token, siblings: Sequence[Token], idx: int) -> str:
        """The number for a link_open token (shared by the Markdown and HTML writers)."""
        known = self._markers.get(id(token))
        if known is not None and known[0] is token:
            return known[1]  # a second call would number the same URL again: the same result
        url = self.resolve(str(token.attrGet("href") or ""))
        close = next((i for i in range(idx + 1, len(siblings)) if siblings[i].type == "link_close"), len(siblings))
        title = str(token.attrGet("title") or "") or plain_text(siblings[idx + 1 : close]).strip()
        marker = str(self.number(url, title or url))
        self._markers[id(token)] = (token, marker)
        return marker


class WechatRenderer(StyledRenderer):
    """HTML with inline styles, links as text + ``<sup>[n]</sup>``, headings moved under the paper's."""

    def __init__(
        self, citations: Citations, rewrite_src: Callable[[str], str], heading_min: int = 1, heading_add: int = 0
    ) -> None:
        super().__init__(rewrite_src, STYLES)
        self.citations = citations
        self.heading_min = heading_min
        self.heading_add = heading_add

    def link_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return "" if tokens[idx].markup == "autolink" else f'<span style="{LINK}">'

    def link_close(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        opening = matching_open(tokens, idx)
        if opening is None or tokens[opening].markup == "autolink":
            return ""  # an autolink shows its URL already
        number = self.citations.marker(tokens[opening], tokens, opening)
        return f"</span>{_sup(number)}"

    def tag_of(self, token: Token) -> str:
        """Headings moved down by ``heading_add``, to no higher than ``heading_min``."""
        if token.type in ("heading_open", "heading_close"):
            return f"h{min(6, max(self.heading_min, int(token.tag[1]) + self.heading_add))}"
        return token.tag

    def _table_key(self) -> tuple:
        # the moved heading tags are cached with the other tags of this output
        return (*super()._table_key(), self.heading_min, self.heading_add)

    def _pre(self, content: str) -> str:
        # The WeChat editor collapses whitespace inside <pre>, so lines and indents are explicit
        lines = escapeHtml(content.rstrip("\n").replace("\t", "    ")).split("\n")
        body = "<br>".join(line.replace(" ", "&nbsp;") for line in lines)
        return f'<pre style="{STYLES["pre"]}"><code style="{STYLES["code_block"]}">{body}</code></pre>\n'


def resolve_link(issue: Issue, ctx: RenderContext, href: str) -> str:
    """A link target as a full URL: the reader sees it in 引用链接 and cannot follow a relative one."""
    if href.startswith("#"):
        return ctx.issue_url(issue.id) + href
    if href.startswith("/") and not href.startswith("//"):
        return ctx.site.absolute(href)
    return ctx.asset_url(issue, href)


class _Writer:
    """Builds the Markdown and the HTML side by side, so both number links the same way."""

    def __init__(self, issue: Issue, ctx: RenderContext) -> None:
        self.issue = issue
        self.ctx = ctx
        # a function of the issue, not a method: Citations holding the writer would be a
        # reference cycle, keeping the issue alive until a full garbage collection
        self.citations = Citations(partial(resolve_link, issue, ctx))
        self.md: list[str] = []
        self.html: list[str] = []
        # (heading_min, heading_add) → the HTML renderer of the fragments that move headings so;
        # they see image URLs through the context, not the writer, to hold no reference to it
        self._renderers: dict[tuple[int, int], WechatRenderer] = {}

    def image_src(self, src: str) -> str:
        return self.ctx.asset_url(self.issue, src)

    def fragment(self, fragment: Markdown | None, heading_min: int = 1, heading_add: int = 0) -> None:
        """Body Markdown: its structure kept, links turned into numbered markers."""
        if fragment is None or fragment.is_empty:
            return
        writer = MarkdownWriter(self.citations.marker, self.image_src, heading_min, heading_add)
        self.md.append(writer.render(fragment.tokens).rstrip("\n"))
        renderer = self._renderers.get((heading_min, heading_add))
        if renderer is None:
            renderer = WechatRenderer(self.citations, partial(self.ctx.asset_url, self.issue), heading_min, heading_add)
            self._renderers[(heading_min, heading_add)] = renderer
        self.html.append(renderer.render(fragment.tokens, parser().options, {}).rstrip("\n"))

    def paper(self, number: int, paper: Paper) -> None:
        self.md.append(heading(2, f"{number}. {paper.title}"))
        self.html.append(f'<section style="{PAPER}">')
        self.html.append(f'<h2 style="{STYLES["h2"]}">{number}. {_h(paper.title)}</h2>')
        if paper.title_translated:
            self.md.append(f"**{escape_meta(paper.title_translated, line_start=False)}**")
            self.html.append(f'<p style="{TRANSLATED}">{_h(paper.title_translated)}</p>')
        self._meta(paper)
        self.fragment(paper.lead, heading_min=4, heading_add=1)
        for section in paper.sections:
            self.md.append(heading(3, section.title))
            self.html.append(f'<h3 style="{STYLES["h3"]}">{_h(section.title)}</h3>')
            self.fragment(section.body, heading_min=4, heading_add=1)
        self.html.append("</section>")

    def _meta(self, paper: Paper) -> None:
        """Authors, venue, arXiv id, score and the paper's own links, one per line."""
        md_lines: list[str] = []
        html_lines: list[str] = []

        def line(label: str, value: str) -> None:
            md_lines.append(escape_meta(label + value))
            html_lines.append(_h(label + value))

        if paper.authors:
            line("作者：", paper.authors_line)
        source = source_line(paper)  # word for word as in the email and the feeds
        if source:
            line("来源：", source)
        if paper.rating is not None:
            stars = _stars(paper.rating)
            md_lines.append(f"推荐阅读指数 {paper.rating}/10 {stars}")
            html_lines.append(f'推荐阅读指数 {paper.rating}/10 <span style="{STARS}">{stars}</span>')
        links = []
        for label, url in paper_links(paper):
            links.append((label, self.citations.number(url, paper.title + (" (PDF)" if label == "PDF" else ""))))
        if links:
            md_lines.append("链接：" + " · ".join(f"{escape(label)}\\[{n}\\]" for label, n in links))
            html_lines.append("链接：" + " · ".join(_marked(_h(label), n) for label, n in links))
        if md_lines:
            self.md.append("  \n".join(md_lines))
            self.html.append(f'<p style="{META}">' + "<br>".join(html_lines) + "</p>")

    def source_note(self) -> None:
        """A re-posted issue names where it first appeared."""
        if self.issue.source:
            n = self.citations.number(self.issue.source, "原文")
            self.md.append(f"本期首发于原文\\[{n}\\]")
            self.html.append(f'<p style="{STYLES["p"]}">本期首发于{_marked("原文", n)}</p>')

    def notes(self) -> None:
        """The closing 引用链接 list: ``[n] title: URL`` (the title left out when it is the URL)."""
        if not self.citations.entries:
            return
        self.md.append("### 引用链接")
        self.html.append(f'<h3 style="{STYLES["h3"]}">引用链接</h3>')
        lines = []
        for n, title, url in self.citations.entries:
            named = title != url
            self.md.append(f"\\[{n}\\] " + (f"{escape_meta(title, line_start=False)}: " if named else "") + escape(url))
            lines.append(f"[{n}] " + (f"{_h(title)}: " if named else "") + _h(url))
        self.html.append(f'<p style="{NOTES}">' + "<br>".join(lines) + "</p>")


def article(issue: Issue, ctx: RenderContext) -> WechatArticle:
    """The issue as a WeChat article: intro, numbered papers, outro, then 引用链接."""
    out = _Writer(issue, ctx)
    out.fragment(issue.intro, heading_min=3)
    for number, paper in enumerate(issue.papers, 1):
        out.paper(number, paper)
    out.fragment(issue.outro, heading_min=3)
    out.source_note()
    out.notes()
    markdown = "\n\n".join(part for part in out.md if part) + "\n"
    body = "\n".join(out.html)
    images = _image_srcs(issue)
    return WechatArticle(
        title=issue.title,
        digest=_digest(issue),
        markdown=markdown,
        html=f'<section style="{WRAPPER}">\n{body}\n</section>\n',
        images=[(src, _location(issue.folder, src)) for src in images],
        links=list(out.citations.entries),
        source_url=ctx.issue_url(issue.id),
        cover=(issue.cover, _location(issue.folder, issue.cover)) if issue.cover else None,
        image_urls={src: ctx.asset_url(issue, src) for src in images},
    )


def render_issue(issue: Issue, ctx: RenderContext) -> dict[str, bytes]:
    """``issues/<id>/wechat.md``, ``issues/<id>/wechat.html`` and ``issues/<id>/wechat.json``."""
    result = article(issue, ctx)
    # orjson: UTF-8 as it is, and unlike json's indenting encoder, no reference cycles to collect
    metadata = orjson.dumps(result.metadata(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    return {
        f"issues/{issue.id}/wechat.md": result.markdown.encode("utf-8"),
        f"issues/{issue.id}/wechat.html": result.html.encode("utf-8"),
        f"issues/{issue.id}/wechat.json": metadata,
    }


def check_limits(article: WechatArticle, author: str | None = None) -> list[str]:
    """Warnings for what the WeChat draft API would refuse (empty when everything fits).

    The API documents content as "少于2万字符，小于1M": the character limit is read as the
    article's text (what the editor counts as 字数), the byte limit as the HTML with its markup;
    a 20,000-character limit on the HTML itself would make the 1 MB one unreachable.
    """
    warnings = []
    if not article.title.strip():
        warnings.append("title is empty; WeChat requires one")
    for name, value in (("title", article.title), ("digest", article.digest), ("author", author or "")):
        if len(value) > WECHAT_LIMITS[name]:
            warnings.append(f"{name} is {len(value)} characters; WeChat allows {WECHAT_LIMITS[name]}")
    chars, size = text_length(article.html), len(article.html.encode("utf-8"))
    if chars >= WECHAT_LIMITS["content_chars"]:
        warnings.append(f"content text is {chars} characters; WeChat needs fewer than {WECHAT_LIMITS['content_chars']}")
    if size >= WECHAT_LIMITS["content_bytes"]:
        warnings.append(f"content is {size} bytes of HTML; WeChat needs less than {WECHAT_LIMITS['content_bytes']}")
    return warnings


def text_length(markup: str) -> int:
    """Characters of visible text in an HTML fragment (entities count as one)."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    return sum(len(part) for part in collector.parts) - collector.newlines


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.newlines = 0

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.newlines += data.count("\n")  # line breaks between tags are layout, not text


def _sup(number: int | str) -> str:
    return f'<sup style="{SUP}">[{number}]</sup>'


def _marked(text_html: str, number: int) -> str:
    """Link text as WeChat shows it: coloured, not clickable, with its reference number."""
    return f'<span style="{LINK}">{text_html}</span>{_sup(number)}'


def _h(text: str) -> str:
    text = one_line(text)
    # most metadata (Chinese titles, names) has nothing to escape: membership tests are cheaper
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return html.escape(text, quote=True)
    return text


def _stars(rating: int) -> str:
    full = (max(0, min(10, rating)) + 1) // 2  # out of five, halves rounded up
    return "★" * full + "☆" * (5 - full)


def _digest(issue: Issue) -> str:
    """The summary, or else the start of the intro as plain text."""
    if issue.summary:
        return re.sub(r"\s+", " ", issue.summary).strip()
    if issue.intro is None:
        return ""
    text = re.sub(r"\s+", " ", plain_text(list(iter_inline(issue.intro.tokens)))).strip()
    limit = WECHAT_LIMITS["digest"] - 8
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _image_srcs(issue: Issue) -> list[str]:
    fragments = [issue.intro]
    for paper in issue.papers:
        fragments.append(paper.lead)
        fragments.extend(section.body for section in paper.sections)
    fragments.append(issue.outro)
    seen: dict[str, None] = {}
    for fragment in fragments:
        if fragment is not None:
            for src, _ in image_sources(fragment):
                seen.setdefault(src, None)
    return list(seen)


def _location(folder: Path, src: str) -> str:
    """Where the channel reads the image: the file in ``folder`` (the issue's, or the build's
    copy of it), or the URL."""
    # Markdown image targets arrive percent-encoded ("fig%201.png"); the file name is not
    return str(folder / unquote(src)) if is_relative_path(src) else src

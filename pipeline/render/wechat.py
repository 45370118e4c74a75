"""The WeChat Official Account article: ``wechat.md`` for doocs/md-style editors, ``wechat.html``
for the draft API, and ``wechat.json``: what else the WeChat channel sends (title, digest,
阅读原文 URL, the images and cover to upload), so that it delivers the built article as it is.

WeChat articles open links to other WeChat articles only (``https://mp.weixin.qq.com/…``):
those stay links; every other link becomes its text plus a numbered marker, and a closing
"引用链接" list gives ``[n] title: URL`` (numbered by first use, one number per URL), as
doocs/md and mdnice do. The HTML carries inline ``style`` attributes only (the editor and the
API drop ``<style>``, classes, ids and scripts), kept short (see ``wechat_style.py``). Image
``src`` values are absolute; the WeChat channel uploads each image and swaps in the returned URL
with :meth:`WechatArticle.html_with_images`, without rendering again.

The draft API takes fewer than 20,000 characters of content, counted on the HTML string as
sent, and less than 1 MB. An issue over that is cut after the last paper that fits, each
image counted with the length of an uploaded image's URL; the 引用链接 list then holds the
links of what remains, and a note sends the reader to 阅读原文 (the issue's web page). The
built ``wechat.html`` is what is sent; ``wechat.json`` says how many papers it holds.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token

from pipeline.markdown import StyledRenderer, image_sources, is_relative_path, iter_inline, parser
from pipeline.model import Issue, Markdown, Paper
from pipeline.render.context import RenderContext, paper_links, source_line
from pipeline.render.mdout import (
    MarkdownWriter,
    escape,
    escape_meta,
    heading,
    link_destination,
    matching_open,
    one_line,
    plain_text,
    url_text,
)
from pipeline.render.wechat_limits import WECHAT_LIMITS, fits_limits, sent_size
from pipeline.render.wechat_style import LINK, MARKED, META, NOTE, REFERENCES, ROOT, STARS, STYLES, TRANSLATED

CUT_NOTE = "全文较长，余下内容请点击“阅读原文”查看。"
SHORT_TAGS = {"strong": "b", "em": "i"}


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
    papers_kept: int = 0  # the first papers_kept of papers_total are in the article
    papers_total: int = 0
    whole_size: tuple[int, int] | None = None  # (characters, bytes) as sent of the whole issue, when cut

    @property
    def was_cut(self) -> bool:
        """Whether papers were left out to fit WeChat's limit (they are behind 阅读原文)."""
        return self.papers_kept < self.papers_total

    def sent_size(self) -> tuple[int, int]:
        """Characters and UTF-8 bytes of the HTML as the channel sends it, images at uploaded URLs' length."""
        return sent_size(self.html, self.image_urls.values())

    def fits(self) -> bool:
        """Whether the draft API takes the content as sent (see wechat_limits.fits_limits)."""
        return fits_limits(*self.sent_size())

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
            "papers_kept": self.papers_kept,
            "papers_total": self.papers_total,
            "sent_size": list(self.sent_size()),
            "whole_size": list(self.whole_size or self.sent_size()),
        }

    @classmethod
    def from_built(cls, folder: Path) -> WechatArticle:
        """The article as the build wrote it in ``folder`` (``public/issues/<id>/``): a local
        image is read from the build's copy of it there, not from the issue folder."""
        meta = json.loads((folder / "wechat.json").read_text("utf-8"))
        cover = meta["cover"]
        whole = meta.get("whole_size")  # the keys after image_urls are absent from older builds
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
            papers_kept=meta.get("papers_kept", 0),
            papers_total=meta.get("papers_total", 0),
            whole_size=(whole[0], whole[1]) if whole else None,
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

    def first(self, count: int) -> Citations:
        """The list as it was when it held ``count`` numbers."""
        other = Citations(self.resolve)
        other.entries = self.entries[:count]
        other._numbers = {url: n for n, _title, url in other.entries}
        other._markers = {key: known for key, known in self._markers.items() if int(known[1]) <= count}
        return other

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
    """HTML with inline styles, links as text + ``<sup>[n]</sup>`` (links to WeChat articles
    kept), headings moved under the paper's."""

    def __init__(
        self, citations: Citations, rewrite_src: Callable[[str], str], heading_min: int = 1, heading_add: int = 0
    ) -> None:
        super().__init__(rewrite_src, STYLES)
        self.citations = citations
        self.keep_link = partial(kept_link, citations.resolve)
        self.heading_min = heading_min
        self.heading_add = heading_add

    def link_open(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        kept = self.keep_link(tokens[idx])
        if kept:
            return f'<a href="{escapeHtml(kept)}" style="{LINK}">'
        return "" if tokens[idx].markup == "autolink" else f'<span style="{MARKED}">'

    def link_close(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        opening = matching_open(tokens, idx)
        if opening is None:
            return ""
        if self.keep_link(tokens[opening]):
            return "</a>"
        if tokens[opening].markup == "autolink":
            return ""  # an autolink shows its URL already
        number = self.citations.marker(tokens[opening], tokens, opening)
        return f"{_sup(number)}</span>"

    def tag_of(self, token: Token) -> str:
        """Headings moved down by ``heading_add``, to no higher than ``heading_min``; ``<b>`` and
        ``<i>`` for strong and em: 12 and 8 characters less a phrase against WeChat's limit,
        shown the same (WeChat's own editor turns them into ``<strong>`` and ``<em>``)."""
        if token.type in ("heading_open", "heading_close"):
            return f"h{min(6, max(self.heading_min, int(token.tag[1]) + self.heading_add))}"
        return SHORT_TAGS.get(token.tag, token.tag)

    def _table_key(self) -> tuple:
        # the moved heading tags are cached with the other tags of this output
        return (*super()._table_key(), self.heading_min, self.heading_add)

    def _pre(self, content: str) -> str:
        # The WeChat editor collapses whitespace inside <pre>, so lines and indents are explicit
        lines = escapeHtml(content.rstrip("\n").replace("\t", "    ")).split("\n")
        body = "<br>".join(line.replace(" ", "&nbsp;") for line in lines)
        return f'<pre style="{STYLES["pre"]}"><code style="{STYLES["code_block"]}">{body}</code></pre>\n'


def stays_link(url: str) -> bool:
    """Whether ``url`` is a WeChat article, the one kind of link a WeChat article can open."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.hostname == "mp.weixin.qq.com"
    except ValueError:  # "http://[x": not a URL anyone can open
        return False


def kept_link(resolve: Callable[[str], str], token: Token) -> str | None:
    """The URL of a link_open token that stays a link, or None for one that becomes a reference."""
    url = resolve(str(token.attrGet("href") or ""))
    return url if stays_link(url) else None


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
        self.fragments: list[Markdown] = []  # in the order written, for the images to upload
        # (heading_min, heading_add) → the HTML renderer of the fragments that move headings so;
        # they see image URLs through the context, not the writer, to hold no reference to it
        self._renderers: dict[tuple[int, int], WechatRenderer] = {}

    def image_src(self, src: str) -> str:
        return self.ctx.asset_url(self.issue, src)

    def mark(self) -> tuple[int, int, int, int]:
        """Where the writer is: what :meth:`rewound` goes back to."""
        return len(self.md), len(self.html), len(self.fragments), len(self.citations.entries)

    def rewound(self, mark: tuple[int, int, int, int]) -> _Writer:
        """A writer as this one was at ``mark``, as if it had written nothing after (what it
        writes depends only on what came before: links are numbered in order of use)."""
        md, html, fragments, citations = mark
        other = _Writer(self.issue, self.ctx)
        other.md, other.html, other.fragments = self.md[:md], self.html[:html], self.fragments[:fragments]
        other.citations = self.citations.first(citations)
        return other

    def fragment(self, fragment: Markdown | None, heading_min: int = 1, heading_add: int = 0) -> None:
        """Body Markdown: its structure kept, links turned into numbered markers."""
        if fragment is None or fragment.is_empty:
            return
        self.fragments.append(fragment)
        keep = partial(kept_link, self.citations.resolve)
        writer = MarkdownWriter(self.citations.marker, self.image_src, heading_min, heading_add, keep)
        self.md.append(writer.render(fragment.tokens).rstrip("\n"))
        renderer = self._renderers.get((heading_min, heading_add))
        if renderer is None:
            renderer = WechatRenderer(self.citations, partial(self.ctx.asset_url, self.issue), heading_min, heading_add)
            self._renderers[(heading_min, heading_add)] = renderer
        self.html.append(renderer.render(fragment.tokens, parser().options, {}).rstrip("\n"))

    def paper(self, number: int, paper: Paper) -> None:
        self.md.append(heading(2, f"{number}. {paper.title}"))
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
            # plain labels: the line is muted already, and a coloured span each costs 29 characters
            html_lines.append("链接：" + " · ".join(_h(label) + _sup(n) for label, n in links))
        if md_lines:
            self.md.append("  \n".join(md_lines))
            self.html.append(f'<p style="{META}">' + "<br>".join(html_lines) + "</p>")

    def source_note(self) -> None:
        """A re-posted issue names where it first appeared (a link when that is a WeChat article)."""
        source = self.issue.source
        if not source:
            return
        if stays_link(source):
            self.md.append(f"本期首发于[原文]({link_destination(source)})")
            self.html.append(f'<p style="{STYLES["p"]}">本期首发于<a href="{_h(source)}" style="{LINK}">原文</a></p>')
            return
        n = self.citations.number(source, "原文")
        self.md.append(f"本期首发于原文\\[{n}\\]")
        self.html.append(f'<p style="{STYLES["p"]}">本期首发于{_marked("原文", n)}</p>')

    def cut_note(self) -> None:
        """Where the papers left out are: the issue's web page, behind 阅读原文."""
        self.md.append(CUT_NOTE)
        self.html.append(f'<p style="{NOTE}">{CUT_NOTE}</p>')

    def notes(self) -> None:
        """The closing 引用链接 list: ``[n] title: URL`` (the title left out when it is the URL).

        In Markdown the URL is an autolink, which editors show as it is; in HTML it breaks
        where it would overflow (the root's overflow-wrap), titles between words."""
        if not self.citations.entries:
            return
        self.md.append("### 引用链接")
        self.html.append(f'<h3 style="{STYLES["h3"]}">引用链接</h3>')
        lines = []
        for n, title, url in self.citations.entries:
            named = title != url
            self.md.append(
                f"\\[{n}\\] " + (f"{escape_meta(title, line_start=False)}: " if named else "") + url_text(url)
            )
            lines.append(f"[{n}] " + (f"{_h(title)}: " if named else "") + _h(url))
        self.html.append(f'<p style="{REFERENCES}">' + "<br>".join(lines) + "</p>")

    def image_srcs(self) -> list[str]:
        """The images of the fragments written, by src as written, in order of first use."""
        seen: dict[str, None] = {}
        for fragment in self.fragments:
            for src, _ in image_sources(fragment):
                seen.setdefault(src, None)
        return list(seen)


def article(issue: Issue, ctx: RenderContext) -> WechatArticle:
    """The issue as a WeChat article: intro, numbered papers, outro, then 引用链接; when the whole
    issue is over WeChat's limits, only the papers that fit, the note on 阅读原文, then 引用链接."""
    out = _Writer(issue, ctx)
    out.fragment(issue.intro, heading_min=3)
    marks = [out.mark()]  # after the intro and after each paper: the articles that keep fewer
    for number, paper in enumerate(issue.papers, 1):
        out.paper(number, paper)
        marks.append(out.mark())
    whole = _finish(out.rewound(marks[-1]), len(issue.papers))
    if whole.fits() or not issue.papers:
        return whole
    shorter = _most_that_fit(lambda kept: _finish(out.rewound(marks[kept]), kept), len(issue.papers) - 1)
    return replace(shorter, whole_size=whole.sent_size())


def _most_that_fit(compose: Callable[[int], WechatArticle], most: int) -> WechatArticle:
    """The article with the most papers, at most ``most``, that fits (bisected: each paper adds
    to the size); with none when not even the first fits. The papers are written once (a long
    issue was written five times over, ~20 ms each at ten papers)."""
    low, high = 0, most
    best = none = None
    while low <= high:
        middle = (low + high) // 2
        candidate = compose(middle)
        if candidate.fits():
            best, low = candidate, middle + 1
        else:
            high = middle - 1
            none = candidate if middle == 0 else none
    return best or none or compose(0)


def _compose(issue: Issue, ctx: RenderContext, kept: int) -> WechatArticle:
    """The article with the first ``kept`` papers, written from the start."""
    out = _Writer(issue, ctx)
    out.fragment(issue.intro, heading_min=3)
    for number, paper in enumerate(issue.papers[:kept], 1):
        out.paper(number, paper)
    return _finish(out, kept)


def _finish(out: _Writer, kept: int) -> WechatArticle:
    """The article of a writer that has written the intro and the first ``kept`` papers: the
    outro only when it holds them all, else the note on 阅读原文."""
    issue, ctx = out.issue, out.ctx
    if kept < len(issue.papers):
        out.cut_note()
    else:
        out.fragment(issue.outro, heading_min=3)
    out.source_note()
    out.notes()
    markdown = "\n\n".join(part for part in out.md if part) + "\n"
    body = "\n".join(out.html)
    images = out.image_srcs()
    return WechatArticle(
        title=issue.title,
        digest=_digest(issue),
        markdown=markdown,
        html=f'<section style="{ROOT}">\n{body}\n</section>\n',
        images=[(src, _location(issue.folder, src)) for src in images],
        links=list(out.citations.entries),
        source_url=ctx.issue_url(issue.id),
        cover=(issue.cover, _location(issue.folder, issue.cover)) if issue.cover else None,
        image_urls={src: ctx.asset_url(issue, src) for src in images},
        papers_kept=kept,
        papers_total=len(issue.papers),
    )


def render_issue(issue: Issue, ctx: RenderContext) -> dict[str, bytes]:
    """``issues/<id>/wechat.md``, ``issues/<id>/wechat.html`` and ``issues/<id>/wechat.json``,
    and ``issues/<id>/wechat-paste.html`` when a WeChat channel takes the issue."""
    from pipeline.render.wechat_paste import render_issue_page  # next to its only use

    result = article(issue, ctx)
    # orjson: UTF-8 as it is, and unlike json's indenting encoder, no reference cycles to collect
    metadata = orjson.dumps(result.metadata(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    return {
        f"issues/{issue.id}/wechat.md": result.markdown.encode("utf-8"),
        f"issues/{issue.id}/wechat.html": result.html.encode("utf-8"),
        f"issues/{issue.id}/wechat.json": metadata,
        **render_issue_page(issue, ctx, result, WECHAT_LIMITS),
    }


def _sup(number: int | str) -> str:
    return f"<sup>[{number}]</sup>"  # in the link text's <span>, whose colour it takes


def _marked(text_html: str, number: int) -> str:
    """Link text as WeChat shows it: coloured, not clickable, with its reference number."""
    return f'<span style="{MARKED}">{text_html}{_sup(number)}</span>'


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


def _location(folder: Path, src: str) -> str:
    """Where the channel reads the image: the file in ``folder`` (the issue's, or the build's
    copy of it), or the URL."""
    # Markdown image targets arrive percent-encoded ("fig%201.png"); the file name is not
    return str(folder / unquote(src)) if is_relative_path(src) else src

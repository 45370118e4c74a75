"""Paper feeds: ``papers.xml`` (Atom 1.0) and ``papers.json`` (JSON Feed 1.1).

One item per paper of the newest public issues (as many issues as the issue feeds carry),
linking to the paper's anchor on its issue page. An arXiv paper's item id is its abstract
page without version (``https://arxiv.org/abs/2409.14274``): it stays the same when a later
issue features the paper again or arXiv adds a version, so readers never see it twice; the
newest appearance is the one kept. Other papers are identified by their anchor URL.

The Atom document is written with lxml directly, as the issue feeds are; every value passes through lxml's escaping with the characters XML forbids
removed, and nothing depends on the clock, so the same cards give the same bytes. A title or
summary holding a ``<`` or a ``&`` is declared ``type="html"`` and HTML-escaped, as in the
issue feeds (:func:`pipeline.render.feeds.atom_text`); the others stay plain text.

Each entry's ``updated`` is its paper's own date as the build remembers it (publish time plus
the paper's index in seconds until the paper is edited, see
:func:`pipeline.build.state.date_card`), made distinct across the feed, because validators warn
when entries share one and readers take equal times for one change. Besides one ``<author>``
per author, an entry names them all, joined, in ``dc:creator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from pipeline.model import ARXIV_ID, Markdown, Paper
from pipeline.render.context import Card, RenderContext
from pipeline.render.feeds import (
    ATOM_TEXT_CONSTRUCTS,
    EPOCH,
    atom_text,
    distinct_times,
    feed_settings,
    json_feed_document,
    xml_text,
)

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SUMMARY_CHARS = 280  # of a paper's lead paragraph kept in the build's cards


@dataclass(frozen=True)
class PaperItem:
    """One paper of one issue, format-neutral."""

    guid: str
    url: str  # the paper's anchor on its issue page
    title: str
    text: str
    published: datetime
    updated: datetime
    authors: list[str]
    tags: list[str]
    paper_url: str | None
    pdf: str | None
    arxiv: str | None


def plain_text(fragment: Markdown | None, limit: int = SUMMARY_CHARS) -> str | None:
    """The text of a Markdown fragment, markup dropped, cut at ``limit`` characters."""
    if fragment is None:
        return None
    words: list[str] = []
    for token in fragment.tokens:
        for child in token.children or ():
            if child.type in ("text", "code_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
        if token.type in ("paragraph_close", "heading_close", "list_item_close"):
            words.append(" ")
    text = " ".join("".join(words).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def paper_summary(paper: Paper) -> str | None:
    """The lead paragraph's text, or the first section's when there is no lead (new entries)."""
    return plain_text(paper.lead) or (plain_text(paper.sections[0].body) if paper.sections else None)


def render_site(cards: list[Card], ctx: RenderContext) -> dict[str, bytes]:
    """``papers.xml`` and ``papers.json`` from the public cards, newest first."""
    newest = sorted(cards, key=lambda c: (c.published, c.id), reverse=True)[: feed_settings(ctx).items]
    items = paper_items(newest, ctx)
    return {"papers.xml": atom_feed(items, ctx), "papers.json": json_feed(items, ctx)}


def paper_items(cards: Sequence[Card], ctx: RenderContext) -> list[PaperItem]:
    """Items in issue order (newest issue first), each paper once, no two updated alike."""
    items: list[PaperItem] = []
    seen: set[str] = set()
    for card in cards:
        for index, paper in enumerate(card.papers):
            item = _item(card, index, paper, ctx)
            if item.guid not in seen:
                seen.add(item.guid)
                items.append(item)
    updated = distinct_times((item.guid, item.updated) for item in items)
    return [replace(item, updated=updated[item.guid]) for item in items]


def _paper_updated(card: Card, index: int, paper: dict[str, Any]) -> datetime:
    """The paper's remembered date; for a card the build has not dated, what it would give."""
    if paper.get("updated_at"):
        return max(card.published, datetime.fromisoformat(paper["updated_at"]))
    return card.published + timedelta(seconds=index)


def _item(card: Card, index: int, paper: dict[str, Any], ctx: RenderContext) -> PaperItem:
    arxiv = paper.get("arxiv")
    match = ARXIV_ID.match(arxiv or "")
    url = f"{ctx.issue_url(card.id)}#{paper['anchor']}"
    title = paper.get("title_translated") or paper["title"]
    lines = []
    if paper.get("title_translated"):
        lines.append(paper["title"])
    facts = [f"推荐阅读指数 {paper['rating']}/10"] if paper.get("rating") is not None else []
    facts.append(f"收录于《{card.title}》")
    lines.append(" · ".join(facts))
    if paper.get("summary"):
        lines.append(paper["summary"])
    return PaperItem(
        guid=f"https://arxiv.org/abs/{match.group(1)}" if match else url,
        url=url,
        title=title,
        text="\n\n".join(lines),
        published=card.published,
        updated=_paper_updated(card, index, paper),
        authors=list(paper.get("authors") or []),
        tags=list(paper.get("tags") or []),
        paper_url=paper.get("url"),
        pdf=paper.get("pdf"),
        arxiv=arxiv,
    )


def _feed_title(ctx: RenderContext) -> str:
    return f"{ctx.site.title} · 论文"


def atom_feed(items: list[PaperItem], ctx: RenderContext) -> bytes:
    """The Atom document, pretty-printed, UTF-8."""
    site = ctx.site
    feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS, "dc": DC_NS})
    feed.set(XML_LANG, site.language)
    atom_element(feed, "id", site.absolute("papers.xml"))
    atom_element(feed, "title", _feed_title(ctx))
    atom_element(feed, "subtitle", "每期入选的论文，一篇一条。")
    atom_element(feed, "updated", max((item.updated for item in items), default=EPOCH).isoformat())
    author = atom_element(feed, "author")
    atom_element(author, "name", site.author or site.title)
    atom_link(feed, site.absolute("papers.xml"), "self", "application/atom+xml")
    atom_link(feed, site.url, "alternate", "text/html")
    for item in items:
        atom_entry(feed, item)
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def atom_entry(feed: etree._Element, item: PaperItem) -> None:
    entry = atom_element(feed, "entry")
    atom_element(entry, "id", item.guid)
    atom_element(entry, "title", item.title)
    atom_link(entry, item.url, "alternate", "text/html")
    if item.paper_url:
        atom_link(entry, item.paper_url, "related", "text/html")
    if item.pdf:
        atom_link(entry, item.pdf, "related", "application/pdf")
    atom_element(entry, "published", item.published.isoformat())
    atom_element(entry, "updated", item.updated.isoformat())
    for name in item.authors:
        atom_element(atom_element(entry, "author"), "name", name)
    if item.authors:
        # Readers built on feedparser show one author per entry, the last <author>: all of them
        # in one dc:creator is what they show instead.
        etree.SubElement(entry, f"{{{DC_NS}}}creator").text = xml_text(", ".join(item.authors))
    for tag in item.tags:
        atom_element(entry, "category").set("term", xml_text(tag))
    summary = atom_element(entry, "summary", item.text)
    if summary.get("type") is None:
        summary.set("type", "text")


def atom_element(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    """An Atom element; a text construct's text is written by :func:`atom_text` (HTML when it must)."""
    element = etree.SubElement(parent, f"{{{ATOM_NS}}}{name}")
    if text is not None and name in ATOM_TEXT_CONSTRUCTS:
        atom_text(element, xml_text(text))
    elif text is not None:
        element.text = xml_text(text)
    return element


def atom_link(parent: etree._Element, href: str, rel: str, kind: str) -> None:
    link = atom_element(parent, "link")
    link.set("rel", rel)
    link.set("type", kind)
    link.set("href", xml_text(href))


def json_feed(items: list[PaperItem], ctx: RenderContext) -> bytes:
    """JSON Feed 1.1 of the papers."""
    return json_feed_document(
        ctx, _feed_title(ctx), "papers.json", "每期入选的论文，一篇一条。", [_json_item(i) for i in items]
    )


def _json_item(item: PaperItem) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.guid,
        "url": item.url,
        "title": item.title,
        "content_text": item.text,
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
    }
    if item.authors:  # JSON Feed 1.1: "one or more" authors, so none is no key at all
        data["authors"] = [{"name": name} for name in item.authors]
    data["tags"] = item.tags
    if item.paper_url:
        data["external_url"] = item.paper_url
    if item.arxiv:
        # JSON Feed extensions are objects under a key that starts with "_".
        data["_arxiv"] = {
            "about": "https://info.arxiv.org/help/arxiv_identifier.html",
            "id": item.arxiv,
            "pdf": item.pdf,
        }
    return data

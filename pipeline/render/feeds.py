"""Feeds: ``rss.xml`` (RSS 2.0), ``atom.xml`` (Atom 1.0) and ``feed.json`` (JSON Feed 1.1).

One item per public issue, newest first, carrying the issue's full HTML
(:func:`item_content`, rendered once per issue by the build) and its summary.

The XML is written with lxml directly (feedgen 1.0 wrote it until its defaults needed more
work-arounds than the feeds have elements, and importing it with dateutil cost ~25 ms of every
rebuild after an edit). What readers need of each feed, and validators check:

- a ``rel="self"`` link (an ``atom:link`` in RSS) and the site as the alternate link;
- Atom content is ``type="html"`` (escaped text, so ``]]>`` in an issue cannot end a CDATA
  section); an entry's link is its page (``rel="alternate"``, Atom's default); the cover is a
  ``rel="enclosure"`` link of its own, with its image type; a WebSub hub, when the feed channel
  names one, is an ``atom:link rel="hub"`` in both formats;
- an enclosure's ``length`` is the cover file's size in bytes (RSS 2.0 requires it); for a
  cover elsewhere, whose size we do not know, it is 0, the usual convention;
- ``updated``/``lastBuildDate`` never come from the clock: an item's ``updated`` (JSON Feed's
  ``date_modified``) is the time the build first saw its issue's content as it is now (the
  card's ``updated_at``, see :func:`pipeline.build.state.date_card`), the feed's is the latest
  of them, so two builds from the same input give byte-identical feeds and an edit moves them.
  No two entries share an ``updated`` (:func:`distinct_times`);
- RSS ``<description>`` is HTML to every reader: the plain summary is written HTML-escaped
  (so escaped twice in the XML source), or ``</title>`` or ``<b>`` in it would be markup and
  text lost. An issue without a summary has its content as the description;
- an Atom text construct (title, subtitle, summary, rights) is ``type="text"`` by default, and
  validators warn that ``</title>`` or ``&amp;`` in one looks like undeclared HTML. One whose text
  holds a ``<`` or a ``&`` is written as ``type="html"``, HTML-escaped (:func:`atom_text`), the
  validator's documented remedy; readers unescape it back to the editor's text. Others keep
  the default, so their bytes do not change;
- RSS plain-text elements (``<title>``, ``dc:creator``, ``<category>``) carry ``&``, ``<`` and
  ``>`` as hexadecimal character references (``&#x26;``), as the RSS Best Practices Profile
  advises; lxml cannot write them, so the serialized feed is rewritten (:func:`rss_hex_refs`).
  A literal end tag such as ``</b>`` in such an element is still flagged by validators, whatever
  its escaping: `publish check` warns about it instead of the feed changing the text;
- RSS has no author element without an email address: ``dc:creator`` carries the author, at
  channel level and per item (RSS only: Atom has ``<author>``, written per entry as well, since
  readers do not show an entry the feed's);
- lxml refuses control characters in text: they are dropped before they reach it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import orjson
from jinja2 import TemplateError
from lxml import etree
from markupsafe import Markup

from pipeline import __version__
from pipeline.errors import RenderError
from pipeline.markdown import to_html
from pipeline.model import Issue, Paper
from pipeline.render.context import Card, RenderContext, paper_links, source_line

ITEM_TEMPLATE = "feed_item.html"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
GENERATOR = "paper-digest-publish"
RSS_DOCS = "http://www.rssboard.org/rss-specification"
DEFAULT_ITEMS = 20
# An empty feed still needs an <updated>; a fixed date keeps it reproducible.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Characters XML 1.0 forbids (control characters, lone surrogates, U+FFFE/U+FFFF), listed
# rather than as the complement of those allowed: that class took ~10 ms to compile, at every
# start of a build that renders.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Atom's text constructs (see atom_text).
ATOM_TEXT_CONSTRUCTS = frozenset({"title", "subtitle", "summary", "rights"})
# RSS elements whose text is plain text, as lxml writes them (with the ``dc`` prefix); not
# ``description`` nor ``content:encoded``, which are HTML.
_RSS_PLAIN_TEXT = re.compile(
    rb"(?P<open><(?P<name>title|dc:creator|category)(?:\s[^<>]*)?>)(?P<text>[^<]*)(?P<close></(?P=name)>)"
)
_CDATA = re.compile(rb"(<!\[CDATA\[.*?\]\]>)", re.DOTALL)
_ESCAPES = re.compile(rb"&(?:amp|lt|gt);")
_HEX_REFS = {b"&amp;": b"&#x26;", b"&lt;": b"&#x3C;", b"&gt;": b"&#x3E;"}
# The cover is an image by contract; readers show only image/* enclosures.
_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".avif": "image/avif",
}


# ---------------------------------------------------------------- item content


def item_content(issue: Issue, ctx: RenderContext) -> str:
    """The full HTML of one issue as a feed item carries it; images point at absolute URLs."""
    rewrite = lambda src: ctx.asset_url(issue, src)  # noqa: E731
    try:
        template = ctx.templates.get_template(ITEM_TEMPLATE)
        return template.render(
            issue=issue,
            issue_link=ctx.issue_url(issue.id),
            intro_html=Markup(to_html(issue.intro, rewrite_src=rewrite)),
            outro_html=Markup(to_html(issue.outro, rewrite_src=rewrite)),
            papers=[_paper_view(paper, rewrite) for paper in issue.papers],
        )
    except TemplateError as exc:  # a broken override template is the user's to fix
        raise RenderError(f"{ITEM_TEMPLATE}: {exc}") from exc


def _paper_view(paper: Paper, rewrite: Callable[[str], str]) -> dict[str, Any]:
    """What the item template shows of one paper; Markdown already rendered (and safe)."""
    # The email's 来源 line, word for word. Imported here: a build that renders issues has the
    # email module loaded already, and one that only renders the feeds does not need it.

    return {
        "anchor": paper.anchor,
        "title": paper.title,
        "title_translated": paper.title_translated,
        "authors": paper.authors_line,
        "source": source_line(paper),
        "rating": f"{paper.rating}/10" if paper.rating is not None else None,
        "lead_html": Markup(to_html(paper.lead, rewrite_src=rewrite)),
        "sections": [{"title": s.title, "html": Markup(to_html(s.body, rewrite_src=rewrite))} for s in paper.sections],
        "links": paper_links(paper),
    }


# ---------------------------------------------------------------- site feeds


@dataclass(frozen=True)
class FeedSettings:
    """The feed channel's options (first channel of type ``feed``; defaults without one)."""

    items: int = DEFAULT_ITEMS
    hub: str | None = None


@dataclass(frozen=True)
class _Item:
    """One feed item, format-neutral."""

    url: str  # also the GUID / Atom id / JSON Feed id: stable across edits of the issue
    title: str
    summary: str | None
    content: str
    published: datetime
    updated: datetime
    author: str
    tags: list[str]
    image: str | None
    image_length: int = 0  # bytes; 0 when unknown


def feed_settings(ctx: RenderContext) -> FeedSettings:
    """Read ``items`` and ``websub_hub`` from the channel that declares them (the feed channel)."""
    for channel in ctx.config.channels_declaring("websub_hub"):
        items = channel.options.get("items", DEFAULT_ITEMS)
        return FeedSettings(items=max(0, int(items)), hub=channel.options.get("websub_hub") or None)
    return FeedSettings()


def render_site(cards: list[Card], ctx: RenderContext) -> dict[str, bytes]:
    """``rss.xml``, ``atom.xml`` and ``feed.json`` of the newest public issues."""
    settings = feed_settings(ctx)
    newest = sorted(cards, key=lambda c: (c.published, c.id), reverse=True)[: settings.items]
    updated = distinct_times((card.id, card.updated) for card in newest)
    items = [_item(card, updated[card.id], ctx) for card in newest]
    xml_items = [_xml_item(item) for item in items]  # cleaned once for both XML feeds (~2 MB of HTML)
    return {
        "rss.xml": rss_hex_refs(_rss(xml_items, ctx, settings)),
        "atom.xml": _atom(xml_items, ctx, settings),
        "feed.json": _json_feed(items, ctx, settings),
    }


def distinct_times(dated: Iterable[tuple[str, datetime]]) -> dict[str, datetime]:
    """Each id's time, moved on by whole seconds where needed so that no two are equal.

    Feed validators warn when two entries share an ``updated`` (two issues on one day at the
    default publish time, or edited in one build). Taken in order of time then id, each time is
    kept or set one second after the one before; the same input always gives the same times.
    """
    result: dict[str, datetime] = {}
    last: datetime | None = None
    for key, when in sorted(dated, key=lambda pair: (pair[1], pair[0])):
        if last is not None and when <= last:
            when = last + timedelta(seconds=1)
        result[key] = last = when
    return result


def _item(card: Card, updated: datetime, ctx: RenderContext) -> _Item:
    return _Item(
        url=ctx.issue_url(card.id),
        title=card.title,
        summary=card.summary or None,
        content=ctx.feed_content(card.id),
        published=card.published,
        updated=updated,
        author=_author(ctx),
        tags=list(card.tags),
        image=card.cover_url,
        image_length=_cover_size(card, ctx),
    )


def _cover_size(card: Card, ctx: RenderContext) -> int:
    """The size of a cover that is a file of the issue's folder; 0 for a URL elsewhere.

    The feeds are rendered again whenever an issue they show changes (the build keys them on
    the issues' folder hashes), so the size cannot go stale.
    """
    prefix = ctx.site.absolute(f"issues/{card.id}/")
    if not card.cover_url or not card.cover_url.startswith(prefix):
        return 0
    folder = (ctx.config.issues_dir / card.id).resolve()
    path = (folder / unquote(card.cover_url[len(prefix) :])).resolve()  # the href of a file name
    try:
        return path.stat().st_size if path.is_relative_to(folder) and path.is_file() else 0
    except OSError:
        return 0


def _description(ctx: RenderContext) -> str:
    return ctx.site.description or ctx.site.title


def _author(ctx: RenderContext) -> str:
    return ctx.site.author or ctx.site.title


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (lxml refuses them)."""
    return _NOT_XML.sub("", text)


def _xml_item(item: _Item) -> _Item:
    """The item with the characters XML forbids removed from its text (lxml refuses them)."""
    return replace(
        item,
        title=xml_text(item.title),
        summary=xml_text(item.summary) if item.summary else item.summary,
        content=xml_text(item.content),
        author=xml_text(item.author),
        tags=[xml_text(tag) for tag in item.tags],
    )


def _rss(items: list[_Item], ctx: RenderContext, settings: FeedSettings) -> bytes:
    """RSS 2.0 with the content, Atom and Dublin Core modules (see the module docstring), of
    items made by :func:`_xml_item`."""
    site = ctx.site
    rss = etree.Element("rss", nsmap={"dc": DC_NS, "atom": ATOM_NS, "content": CONTENT_NS})
    rss.set("version", "2.0")
    channel = _sub(rss, "channel")
    _sub(channel, "title", xml_text(site.title))
    _sub(channel, "link", site.url)
    _sub(channel, "description", html.escape(xml_text(_description(ctx)), quote=False))  # HTML to every reader
    _sub(channel, f"{{{ATOM_NS}}}link", href=site.absolute("rss.xml"), rel="self", type="application/rss+xml")
    _sub(channel, "docs", RSS_DOCS)
    _sub(channel, "generator", f"{GENERATOR} {__version__}")
    if site.language:
        _sub(channel, "language", site.language)
    _sub(channel, "lastBuildDate", rfc822_date(_newest(items)))
    if settings.hub:
        _sub(channel, f"{{{ATOM_NS}}}link", href=settings.hub, rel="hub")
    _sub(channel, f"{{{DC_NS}}}creator", xml_text(_author(ctx)))
    for item in items:
        _rss_item(channel, item)
    return etree.tostring(rss, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _rss_item(channel: etree._Element, item: _Item) -> None:
    element = _sub(channel, "item")
    _sub(element, "title", item.title)
    _sub(element, "link", item.url)
    if item.summary:
        _sub(element, "description", html.escape(item.summary, quote=False))
        _sub(element, f"{{{CONTENT_NS}}}encoded", item.content)
    else:  # the content is the description
        _sub(element, "description", item.content)
    _sub(element, "guid", item.url, isPermaLink="true")
    for tag in item.tags:
        _sub(element, "category", tag)
    _sub(element, "pubDate", rfc822_date(item.published))
    if item.image:  # RSS requires a length: the size in bytes, 0 when it is not known
        _sub(element, "enclosure", url=item.image, length=str(item.image_length), type=_image_type(item.image))
    _sub(element, f"{{{DC_NS}}}creator", item.author)


def _atom(items: list[_Item], ctx: RenderContext, settings: FeedSettings) -> bytes:
    """Atom 1.0 (see the module docstring), of items made by :func:`_xml_item`."""
    site = ctx.site
    feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
    if site.language:
        feed.set(XML_LANG, site.language)
    _atom_sub(feed, "id", site.url)
    atom_text(_atom_sub(feed, "title"), xml_text(site.title))
    _atom_sub(feed, "updated", _newest(items).isoformat())
    _atom_sub(_atom_sub(feed, "author"), "name", xml_text(_author(ctx)))
    _atom_sub(feed, "link", href=site.absolute("atom.xml"), rel="self", type="application/atom+xml")
    _atom_sub(feed, "link", href=site.url, rel="alternate")
    _atom_sub(feed, "generator", GENERATOR, version=__version__)
    atom_text(_atom_sub(feed, "subtitle"), xml_text(_description(ctx)))
    if settings.hub:
        _atom_sub(feed, "link", href=settings.hub, rel="hub")
    for item in items:
        _atom_entry(feed, item)
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _atom_entry(feed: etree._Element, item: _Item) -> None:
    entry = _atom_sub(feed, "entry")
    _atom_sub(entry, "id", item.url)
    atom_text(_atom_sub(entry, "title"), item.title)
    _atom_sub(entry, "updated", item.updated.isoformat())
    _atom_sub(_atom_sub(entry, "author"), "name", item.author)  # readers show it per entry
    _atom_sub(entry, "content", item.content or None, type="html")  # empty: <content type="html"/>
    _atom_sub(entry, "link", href=item.url)  # rel="alternate" is Atom's default
    if item.summary:
        atom_text(_atom_sub(entry, "summary"), item.summary)
    for tag in item.tags:
        _atom_sub(entry, "category", term=tag)
    _atom_sub(entry, "published", item.published.isoformat())
    if item.image:  # Atom's length is optional: only when known
        link = _atom_sub(entry, "link", href=item.image, rel="enclosure", type=_image_type(item.image))
        if item.image_length:
            link.set("length", str(item.image_length))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _atom_sub(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    return _sub(parent, f"{{{ATOM_NS}}}{name}", text, **attributes)


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc822_date(moment: datetime) -> str:
    """RSS's date format (RFC 822, four-digit years): what email.utils.format_datetime writes,
    without importing the email package (~13 ms) into every build that renders a feed."""
    zone = moment.strftime("%z") if moment.tzinfo is not None else "-0000"
    return (
        f"{_WEEKDAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {zone}"
    )


def _newest(items: list[_Item]) -> datetime:
    """The feed's own time: its newest item's ``updated`` (never the build's clock)."""
    return max((item.updated for item in items), default=EPOCH)


def atom_text(element: etree._Element, text: str) -> etree._Element:
    """Set an Atom text construct's text: as it is (the default ``type="text"``), or, when it holds
    a ``<`` or a ``&``, HTML-escaped with ``type="html"``, which validators do not take for
    undeclared markup and readers unescape back to ``text``."""
    if "<" in text or "&" in text:
        element.set("type", "html")
        element.text = html.escape(text, quote=False)
    else:
        element.text = text
    return element


def rss_hex_refs(document: bytes) -> bytes:
    """``document`` (RSS as lxml serializes it) with ``&``, ``<`` and ``>`` in the text of its
    plain-text elements written ``&#x26;``, ``&#x3C;`` and ``&#x3E;``; the text they stand for is
    the same. Descriptions and ``content:encoded`` are HTML and keep lxml's entities; CDATA sections
    are left as they are. In lxml's output a ``<`` outside CDATA always starts markup (text and
    attribute values carry it as ``&lt;``), so a plain-text element is matched whole by
    :data:`_RSS_PLAIN_TEXT`, with its attributes, which this never changes.
    """
    parts = _CDATA.split(document)  # the CDATA sections are the odd parts
    for index in range(0, len(parts), 2):
        parts[index] = _RSS_PLAIN_TEXT.sub(_hex_refs_in_text, parts[index])
    return b"".join(parts)


def _hex_refs_in_text(match: re.Match[bytes]) -> bytes:
    text = _ESCAPES.sub(lambda entity: _HEX_REFS[entity.group()], match.group("text"))
    return match.group("open") + text + match.group("close")


def _image_type(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    for suffix, kind in _IMAGE_TYPES.items():
        if path.endswith(suffix):
            return kind
    return "image/jpeg"


def _json_feed(items: list[_Item], ctx: RenderContext, settings: FeedSettings) -> bytes:
    return json_feed_document(
        ctx, ctx.site.title, "feed.json", _description(ctx), [_json_item(i) for i in items], settings.hub
    )


def json_feed_document(
    ctx: RenderContext, title: str, name: str, description: str, items: list[dict[str, Any]], hub: str | None = None
) -> bytes:
    """A JSON Feed 1.1 document at ``site.url + name``; keys sorted, so the same input gives the same bytes."""
    site = ctx.site
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": title,
        "home_page_url": site.url,
        "feed_url": site.absolute(name),
        "description": description,
        "language": site.language,
        "authors": [{"name": _author(ctx)}],
        "items": items,
    }
    if hub:
        feed["hubs"] = [{"type": "WebSub", "url": hub}]
    # The bytes json.dumps(ensure_ascii=False, sort_keys=True, indent=2) gives, 8x faster (~12 ms
    # per feed of 20 issues). Text holds no lone surrogate, which both refuse: the loader rejects it.
    return orjson.dumps(feed, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _json_item(item: _Item) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.url,
        "url": item.url,
        "title": item.title,
        "content_html": item.content,
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
        "tags": item.tags,
    }
    if item.summary:
        data["summary"] = item.summary
    if item.image:
        data["image"] = item.image
    return data

"""Feeds: ``rss.xml`` (RSS 2.0), ``atom.xml`` (Atom 1.0) and ``feed.json`` (JSON Feed 1.1).

One item per public issue, newest first, carrying the issue's full HTML
(:func:`item_content`, rendered once per issue by the build) and its summary.

feedgen 1.0 writes the XML, but several of its defaults give feeds that readers show broken;
each is worked around here:

- no ``rel="self"`` link unless one is added, and RSS writes only the first one: we add it;
- the RSS channel ``<link>`` is whichever link was added last: the alternate link goes last;
- ``content(type='CDATA')`` writes ``<content type="CDATA">``, which is not Atom: we use
  ``type='html'`` (escaped text, so ``]]>`` in an issue cannot end a CDATA section either);
- entry links lose their ``rel``/``type`` in Atom (a loop variable is shadowed), so an
  enclosure becomes a second alternate link: enclosures and hubs are written by our own
  extension (:class:`_Extras`) instead of ``link()``. feedgen declares Atom's namespace as
  the default with an ``xmlns`` attribute rather than in the element's nsmap, so lxml does
  not know it is the default: an element made as ``{Atom}link`` would come out as
  ``<ns0:link xmlns:ns0=…>``. In the Atom feed the extension makes plain ``link`` elements,
  which the ``xmlns`` puts in the Atom namespace, as feedgen does for its own;
- an enclosure's ``length`` is the cover file's size in bytes (RSS 2.0 requires it); for a
  cover elsewhere, whose size we do not know, it is 0, the usual convention;
- ``updated``/``lastBuildDate`` default to "now": an item's ``updated`` (JSON Feed's
  ``date_modified``) is the time the build first saw its issue's content as it is now (the
  card's ``updated_at``, see :func:`pipeline.build.state.date_card`), the feed's is the latest
  of them, so two builds from the same input give byte-identical feeds and an edit moves them.
  No two entries share an ``updated`` (:func:`distinct_times`);
- RSS ``<description>`` is HTML to every reader, but feedgen writes the plain summary as is:
  ``</title>`` or ``<b>`` in it would be markup, and text lost. The extensions write it
  HTML-escaped instead (so escaped twice in the XML source);
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
  channel level and per item (feedgen's ``dc`` extension, for RSS only: Atom has ``<author>``,
  written per entry as well, since readers do not show an entry the feed's);
- lxml refuses control characters in text: they are dropped before they reach it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from jinja2 import TemplateError
from lxml import etree
from markupsafe import Markup

from pipeline.errors import RenderError
from pipeline.markdown import to_html
from pipeline.model import Issue, Paper
from pipeline.render.context import Card, RenderContext, paper_links, source_line

ITEM_TEMPLATE = "feed_item.html"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_NS = "http://www.w3.org/2005/Atom"
DEFAULT_ITEMS = 20
# An empty feed still needs an <updated>; a fixed date keeps it reproducible.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Characters XML 1.0 forbids (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Atom's text constructs that feedgen writes (in no namespace: see the module docstring).
ATOM_TEXT_CONSTRUCTS = frozenset({"title", "subtitle", "summary", "rights"})
# RSS elements whose text is plain text, as lxml writes them (feedgen's ``dc`` prefix); not
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
    return {
        "rss.xml": rss_hex_refs(_feedgen(items, ctx, settings, "rss.xml").rss_str(pretty=True)),
        "atom.xml": _feedgen(items, ctx, settings, "atom.xml").atom_str(pretty=True),
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
    path = (folder / card.cover_url[len(prefix) :]).resolve()
    try:
        return path.stat().st_size if path.is_relative_to(folder) and path.is_file() else 0
    except OSError:
        return 0


def _description(ctx: RenderContext) -> str:
    return ctx.site.description or ctx.site.title


def _author(ctx: RenderContext) -> str:
    return ctx.site.author or ctx.site.title


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def _feedgen(items: list[_Item], ctx: RenderContext, settings: FeedSettings, self_path: str) -> FeedGenerator:
    """A FeedGenerator with every field set explicitly (see the module docstring)."""
    site = ctx.site
    fg = FeedGenerator()
    fg.register_extension("extras", _Extras, _EntryExtras)  # before add_entry, which copies it
    fg.load_extension("dc", atom=False, rss=True)
    fg.extras.hub = settings.hub
    fg.extras.description_html = html.escape(_xml(_description(ctx)), quote=False)
    fg.dc.dc_creator(_xml(_author(ctx)))
    fg.id(site.url)
    fg.title(_xml(site.title))
    fg.description(_xml(_description(ctx)))
    fg.language(site.language)  # also Atom's xml:lang
    fg.author(name=_xml(_author(ctx)))
    fg.link(
        href=site.absolute(self_path),
        rel="self",
        type="application/rss+xml" if self_path == "rss.xml" else "application/atom+xml",
    )
    fg.link(href=site.url, rel="alternate")  # last: feedgen makes the last link the RSS <link>
    fg.updated(max((item.updated for item in items), default=EPOCH))  # also lastBuildDate
    for item in items:
        _add_entry(fg, item)
    return fg


def _add_entry(fg: FeedGenerator, item: _Item) -> None:
    entry = fg.add_entry(order="append")  # items arrive newest first
    entry.guid(item.url, permalink=True)  # also the Atom id
    entry.title(_xml(item.title))
    entry.link(href=item.url)  # the only link given to feedgen: see the module docstring
    if item.summary:
        entry.summary(_xml(item.summary))
        entry.extras.description_html = html.escape(_xml(item.summary), quote=False)
    entry.content(_xml(item.content), type="html")
    entry.published(item.published)
    entry.updated(item.updated)
    entry.dc.dc_creator(_xml(item.author))
    entry.author(name=_xml(item.author))  # Atom only (RSS would need an email): readers show it per entry
    if item.tags:  # one call: feedgen rebuilds its whole RSS list on each, quadratic in the tags
        entry.category([{"term": _xml(tag)} for tag in item.tags])
    entry.extras.image = item.image
    entry.extras.image_length = item.image_length


class _Extras(BaseExtension):
    """Feed level: ``<atom:link rel="hub">`` in RSS and Atom (feedgen writes no hub in RSS), the
    RSS channel's ``<description>`` as HTML, and Atom's title and subtitle declared as HTML when
    they hold markup characters."""

    hub: str | None = None
    description_html: str | None = None

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        _declare_atom_html(feed)
        if self.hub:
            etree.SubElement(feed, "link", href=self.hub, rel="hub")  # plain: see the module docstring
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        if self.hub:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=self.hub, rel="hub")
        _set_html_description(channel, self.description_html)
        return feed


class _EntryExtras(BaseEntryExtension):
    """Entry level: the cover as RSS ``<enclosure>`` and Atom ``<link rel="enclosure">``, the RSS
    item's ``<description>`` as HTML, and Atom's title and summary declared as HTML when they hold
    markup characters."""

    image: str | None = None
    image_length: int = 0
    description_html: str | None = None

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        _declare_atom_html(entry)
        if self.image:
            # A plain "link" (see the module docstring); Atom's length is optional: only when known.
            link = etree.SubElement(entry, "link", href=self.image, rel="enclosure", type=_image_type(self.image))
            if self.image_length:
                link.set("length", str(self.image_length))
        return entry

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.image:
            # RSS requires a length: the size in bytes, 0 when it is not known.
            etree.SubElement(
                item, "enclosure", url=self.image, length=str(self.image_length), type=_image_type(self.image)
            )
        _set_html_description(item, self.description_html)
        return item


def _set_html_description(parent: etree._Element, description_html: str | None) -> None:
    """Replace the plain text feedgen wrote in ``<description>`` with its HTML form."""
    element = parent.find("description")
    if element is not None and description_html is not None:
        element.text = description_html


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


def _declare_atom_html(parent: etree._Element) -> None:
    """Rewrite the text constructs feedgen wrote in ``parent`` (a feed or an entry) as :func:`atom_text`
    does; one with a type of its own, or with no text, is left as feedgen wrote it."""
    for element in parent:
        if element.tag in ATOM_TEXT_CONSTRUCTS and element.text and element.get("type") is None:
            atom_text(element, element.text)


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

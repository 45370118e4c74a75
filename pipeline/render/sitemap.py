"""``sitemap.xml`` and ``robots.txt``: every public page of the archive for search engines.

The sitemap follows sitemaps.org 0.9: each ``<loc>`` absolute under ``site.url`` and
percent-encoded (tag folders hold Chinese characters), each ``<lastmod>`` a W3C datetime with
its offset. It lists the pages a reader lands on: the index, the year pages, the subscription
page, the public issue pages and the tag pages (with their year pages). Not the other versions of an issue
(``email.html``: the same text as its page) nor the editors' tools. Over 50,000 URLs (the
protocol's limit per file), ``sitemap.xml`` becomes a sitemap index of ``sitemap-<n>.xml``.

A page's ``<lastmod>`` is when its bytes last changed, as the build remembers it: a build that
writes a page anew dates it at its own time, one that leaves it as it was keeps its date. A page
the build has no date for (every page of a cold build) is dated by what it shows
(:func:`site_pages`), which stays put from one cold build to the next.

``robots.txt`` names the sitemap and keeps crawlers off the other versions of an issue (its
mailed HTML and WeChat files, which every issue page links to: copies of the page's text), with
the ``*`` of RFC 9309. Crawlers read it only at the root of a host, so an archive served from a
sub-path needs these lines in the host's own robots.txt.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from itertools import chain
from urllib.parse import quote, urlsplit

from lxml import etree

from pipeline.render.context import Card, RenderContext
from pipeline.render.feeds import EPOCH
from pipeline.render.pages import TAGS_ROOT, newest_first, tag_has_year_pages, tag_slug
from pipeline.render.web import ARCHIVE_ROOT, INDEX_ISSUES, archive_years

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_EPOCH = (EPOCH.timestamp(), EPOCH)  # no tag page is dated earlier
MAX_URLS = 50_000


def site_pages(cards: list[Card]) -> list[tuple[str, datetime]]:
    """``(path under the site, last modified)`` of every page the sitemap lists, dated by what
    it shows (for a page the build has no date of its own for; see the module's docstring).

    A page is dated by the newest change among what it shows: the index by its issues, an issue
    page by itself and the two it links to (their titles), the subscription page (the settings'
    alone) by the newest issue's publish time. Not all by the newest edit anywhere: a crawler
    that finds a page unchanged on its date learns to ignore the dates."""
    cards = newest_first(cards)
    shown = max((card.updated for card in cards[:INDEX_ISSUES]), default=EPOCH)
    published = max((card.published for card in cards), default=EPOCH)
    pages = [("", shown), ("subscribe/", published)]
    for year, year_cards in archive_years(cards).items():
        pages.append((f"{ARCHIVE_ROOT}/{year}/", max(card.updated for card in year_cards)))
    updated = [card.updated for card in cards]
    for place, card in enumerate(cards):  # itself and its newer and older neighbours
        pages.append((f"issues/{card.id}/", max(updated[max(0, place - 1) : place + 2])))
    tags = tag_dates(cards)
    if tags:
        pages.append((f"{TAGS_ROOT}/", max(tags.values())))
        pages += [(f"{TAGS_ROOT}/{slug}/", when) for slug, when in sorted(tags.items())]
    return pages


def tag_dates(cards: list[Card]) -> dict[str, datetime]:
    """Each tag page's path under ``tags/`` (``<slug>``, and ``<slug>/<year>`` for the year
    pages of a tag that has them) and the newest change among what it lists."""
    # compared by timestamp: cheaper than datetimes with offsets
    years: dict[str, dict[str, tuple[float, datetime]]] = {}  # year → slug → the newest change
    names: Counter[str] = Counter()  # tag name → how often it is given
    for card in cards:
        when = card.updated
        stamp = when.timestamp()
        given = list(chain(card.tags, *(paper.get("tags") or () for paper in card.papers)))
        names.update(given)
        in_year = years.setdefault(card.date[:4], {})
        for slug in set(map(tag_slug, set(given))):
            if stamp > in_year.setdefault(slug, _EPOCH)[0]:
                in_year[slug] = (stamp, when)
    given_slugs: Counter[str] = Counter()  # slug → how often it is given (see pages.tag_has_year_pages)
    for name, count in names.items():
        given_slugs[tag_slug(name)] += count
    newest: dict[str, tuple[float, datetime]] = {}
    dates: dict[str, datetime] = {}
    for year, in_year in years.items():
        for slug, (stamp, when) in in_year.items():
            if stamp > newest.setdefault(slug, _EPOCH)[0]:
                newest[slug] = (stamp, when)
            if tag_has_year_pages(given_slugs[slug]):
                dates[f"{slug}/{year}"] = when
    return {**{slug: when for slug, (_stamp, when) in newest.items()}, **dates}


def render_site(cards: list[Card], ctx: RenderContext) -> dict[str, bytes]:
    """``sitemap.xml`` (with ``sitemap-<n>.xml`` when there are too many pages) and ``robots.txt``."""
    pages = ctx.page_dates(site_pages(cards))
    files: dict[str, bytes] = {}
    if len(pages) <= MAX_URLS:
        files["sitemap.xml"] = urlset(pages, ctx)
    else:
        parts = [pages[start : start + MAX_URLS] for start in range(0, len(pages), MAX_URLS)]
        for number, part in enumerate(parts, 1):
            files[f"sitemap-{number}.xml"] = urlset(part, ctx)
        files["sitemap.xml"] = sitemap_index(
            [(f"sitemap-{n}.xml", max(when for _, when in part)) for n, part in enumerate(parts, 1)], ctx
        )
    files["robots.txt"] = robots_txt(ctx)
    return files


# The versions of an issue besides its page (pipeline/build/outputs.py ISSUE_FILES)
OTHER_VERSIONS = ("email.html", "email.txt", "wechat.html", "wechat.md", "wechat-paste.html")


def robots_txt(ctx: RenderContext) -> bytes:
    """Everything allowed but the other versions of each issue; the sitemap's address."""
    issues = urlsplit(ctx.site.absolute("issues/")).path
    lines = ["User-agent: *", *(f"Disallow: {issues}*/{name}" for name in OTHER_VERSIONS), "Allow: /"]
    return "\n".join([*lines, "", f"Sitemap: {ctx.site.absolute('sitemap.xml')}", ""]).encode()


def urlset(pages: Iterable[tuple[str, datetime]], ctx: RenderContext) -> bytes:
    """A ``<urlset>`` document of the pages."""
    return _document("urlset", "url", pages, ctx)


def sitemap_index(sitemaps: Iterable[tuple[str, datetime]], ctx: RenderContext) -> bytes:
    """A ``<sitemapindex>`` document naming the sitemap files."""
    return _document("sitemapindex", "sitemap", sitemaps, ctx)


def _document(root_name: str, item_name: str, items: Iterable[tuple[str, datetime]], ctx: RenderContext) -> bytes:
    root = etree.Element(f"{{{SITEMAP_NS}}}{root_name}", nsmap={None: SITEMAP_NS})
    for path, when in items:
        item = etree.SubElement(root, f"{{{SITEMAP_NS}}}{item_name}")
        etree.SubElement(item, f"{{{SITEMAP_NS}}}loc").text = ctx.site.absolute(quote(path))
        etree.SubElement(item, f"{{{SITEMAP_NS}}}lastmod").text = w3c_datetime(when)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def w3c_datetime(when: datetime) -> str:
    """``2024-04-28T08:00:00+08:00``: seconds, and an offset (``+00:00`` for UTC)."""
    return when.replace(microsecond=0).isoformat()

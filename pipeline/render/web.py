"""The web archive: one page per issue (``issues/<id>/index.html``), the index, the
subscription page (``subscribe/index.html``) and the stylesheet.

Pages are Jinja2 templates (``issue.html``, ``index.html``, both extending ``base.html``) that a
newsletter's own ``templates/`` folder can replace file by file. Issue content reaches the
templates only as variables: plain text is autoescaped, Markdown arrives as already-escaped
HTML wrapped in ``Markup``, and nothing from an issue folder is ever compiled as a template.

Links between pages are relative (``../../`` from an issue page), so the archive works from any
sub-path and from ``file://``; the links meant for other sites (canonical, feeds in ``<head>``,
Open Graph) are absolute.

The index shows the newest issues in full and links to one page per year
(``archive/<year>/index.html``), so that its size stays the same as the archive grows. Pages
of the site also get ``favicon.svg`` and ``og-image.png``, the link preview of pages without a
cover (a newsletter replaces either by a file of that name in its ``templates/`` folder).
An issue page's previous/next links are filled in by the build (:mod:`pipeline.build.neighbours`)
between the markers of :data:`NAV_START` and :data:`NAV_END`, as they depend on other issues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import groupby
from typing import Any

import orjson
from markupsafe import Markup

from pipeline.config import Site
from pipeline.errors import RenderError
from pipeline.load.text import example_text_left
from pipeline.markdown import to_html
from pipeline.model import Issue, Markdown, Paper
from pipeline.render.context import Card, RenderContext, cover_href, paper_links, source_line
from pipeline.render.pages import newest_first, page_values, render_page, tag_href
from pipeline.render.siteimage import og_image_png

ISSUE_ROOT = "../../"  # from issues/<id>/ back to the site root
SITE_ROOT = "./"
# The page the 退订 link of the public email copy names (pipeline.mail.placeholder.unsubscribe_placeholder:
# <site>/subscribe#unsubscribe): static hosts answer /subscribe with a redirect to this folder,
# and the web endpoint answers it itself with the same template.
SUBSCRIBE_PAGE = "subscribe/index.html"
INDEX_ISSUES = 10  # issues the index shows in full; the others are on their year's page
ARCHIVE_ROOT = "archive"
OG_IMAGE = "og-image.png"
# Where the build puts an issue page's previous/next links (an empty pair until it does).
NAV_START, NAV_END = b"<!-- issue-nav -->", b"<!-- /issue-nav -->"


@dataclass(frozen=True)
class SectionView:
    """A paper section as the templates see it: its heading text and its body as HTML."""

    title: str
    html: Markup


@dataclass(frozen=True)
class PaperView:
    """A paper plus what the templates need pre-rendered (Markdown HTML, links, rating)."""

    paper: Paper
    lead_html: Markup
    sections: tuple[SectionView, ...]
    links: tuple[tuple[str, str], ...]
    rating_text: str | None
    source: str  # venue · year · arXiv id, word for word as after 来源 in the email and the feeds

    @property
    def anchor(self) -> str:
        return self.paper.anchor

    @property
    def heading(self) -> str:
        """The title readers of the newsletter's language see first."""
        return self.paper.title_translated or self.paper.title


def render_issue(issue: Issue, ctx: RenderContext) -> dict[str, bytes]:
    """Render the issue's web page as ``{"issues/<id>/index.html": bytes}``."""
    description = issue.summary or ctx.site.description
    page = render_page(
        ctx,
        "issue.html",
        issue=issue,
        papers=[_paper_view(p) for p in issue.papers],
        date_text=format_date(issue.date, ctx.site.language),
        intro_html=_html(issue.intro),
        outro_html=_html(issue.outro),
        root=ISSUE_ROOT,
        canonical=ctx.issue_url(issue.id),
        description=description,
        og_type="article",
        og_title=issue.title,
        og_image=ctx.cover_url(issue),
        cover_src=cover_href(issue.cover) if issue.cover else None,
        # a draft, an issue not due yet, or one with `publish new`'s example text: see builder._listed
        noindex=not issue.is_public(ctx.now) or bool(example_text_left(issue)),
        tag_href=tag_href,
        search=not issue.draft,
        nav=Markup((NAV_START + NAV_END).decode()),
    )
    return {f"issues/{issue.id}/index.html": page}


def render_issue_nav(older: Card | None, newer: Card | None, ctx: RenderContext) -> bytes:
    """An issue page's previous/next links, markers included (``issue_nav.html``)."""
    html = render_page(ctx, "issue_nav.html", older=older, newer=newer, root=ISSUE_ROOT).strip()
    return NAV_START + html + NAV_END


def render_site(cards: list[Card], ctx: RenderContext) -> dict[str, bytes]:
    """Render ``index.html`` (cards come filtered), one page per year under ``archive/``,
    ``subscribe/index.html``, ``style.css``, ``favicon.svg`` and ``og-image.png``.

    Issues are listed by the date they show (newest first), then by publish time: an issue
    sent ahead of its folder's date stays where its date puts it.
    """
    cards = newest_first(cards)
    years = archive_years(cards)
    page = render_page(
        ctx,
        "index.html",
        cards=cards[:INDEX_ISSUES],
        years=[(year, len(year_cards)) for year, year_cards in years.items()],
        older=len(cards) > INDEX_ISSUES,
        dates=_dates(cards[:INDEX_ISSUES], ctx),
        search=True,
        **page_values(ctx, SITE_ROOT, "", ctx.site.title),
    )
    subscribe = render_page(ctx, "page_subscribe.html", root="../", **subscribe_page_values(ctx.site))
    files = {
        "index.html": page,
        SUBSCRIBE_PAGE: subscribe,
        "style.css": _static(ctx, "style.css"),
        "favicon.svg": _static(ctx, "favicon.svg"),
        "search.js": _static(ctx, "search.js"),
    }
    parts = ctx.part_cache("archive")  # an edit renders its own year's page again, not all of them
    own_image = _own_file(ctx, OG_IMAGE)
    if own_image:
        files[OG_IMAGE] = own_image
    else:  # drawn the same every time (~15 ms of zlib): kept while its file is as drawn
        files.update(parts.files("og-image", b"drawn", lambda: {OG_IMAGE: og_image_png()}))
    counts = [(year, len(year_cards)) for year, year_cards in years.items()]
    for year, year_cards in years.items():
        inputs = orjson.dumps([year, counts, [_listed(card) for card in year_cards]])
        files.update(parts.files(year, inputs, partial(_archive_page, year, year_cards, counts, ctx)))
    return files


def _listed(card: Card) -> list[Any]:
    """What a year's page shows of an issue (templates/issue_cards.html), in order."""
    papers = [[paper["anchor"], paper["title"], paper.get("title_translated")] for paper in card.papers]
    return [card.id, card.title, card.date, card.summary, papers]


def _archive_page(year: str, cards: list[Card], counts: list[tuple[str, int]], ctx: RenderContext) -> dict[str, bytes]:
    """``archive/<year>/index.html``: every issue of the year, and links to the other years."""
    page = render_page(
        ctx,
        "archive.html",
        year=year,
        cards=cards,
        years=counts,
        current_year=year,
        dates=_dates(cards, ctx),
        search=False,
        **page_values(ctx, "../../", f"{ARCHIVE_ROOT}/{year}/", f"{year} 年往期 · {ctx.site.title}"),
    )
    return {f"{ARCHIVE_ROOT}/{year}/index.html": page}


def archive_years(cards: list[Card]) -> dict[str, list[Card]]:
    """Cards (newest first) grouped by the year of their date, newest year first."""
    return {year: list(group) for year, group in groupby(cards, key=lambda card: card.date[:4])}


def _dates(cards: list[Card], ctx: RenderContext) -> dict[str, str]:
    return {card.id: format_date(date.fromisoformat(card.date), ctx.site.language) for card in cards}


def subscribe_page_values(site: Site) -> dict[str, Any]:
    """What ``page_subscribe.html`` needs besides ``root``, the same for the built page and the
    web endpoint's answer to GET /subscribe (whether the form shows is the ``signup`` global)."""
    return {
        "canonical": site.absolute("subscribe/"),  # the folder a static host serves, which the endpoint answers too
        "description": f"订阅「{site.title}」，以及如何退订。",
        "og_type": "website",
        "og_title": f"订阅「{site.title}」",
        "og_image": None,
        "noindex": False,
    }


def format_date(day: date, language: str) -> str:
    """A date as readers of the site's language write it (2024年4月28日 in Chinese)."""
    if language.lower().startswith(("zh", "ja")):
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def _paper_view(paper: Paper) -> PaperView:
    return PaperView(
        paper=paper,
        lead_html=_html(paper.lead),
        sections=tuple(SectionView(s.title, _html(s.body)) for s in paper.sections),
        links=tuple(paper_links(paper)),
        rating_text=f"{paper.rating}/10" if paper.rating is not None else None,
        source=source_line(paper),
    )


def _html(fragment: Markdown | None) -> Markup:
    # Relative image paths stay relative: the build copies the issue's assets next to the page.
    # to_html escapes every text node and raw HTML is disabled, so the result is safe as Markup.
    if fragment is None or fragment.is_empty:
        return Markup("")
    return Markup(to_html(fragment))


def _static(ctx: RenderContext, name: str) -> bytes:
    """A file copied as it is, found through the template loader so a newsletter can replace it."""
    import jinja2

    try:
        source, _, _ = ctx.templates.loader.get_source(ctx.templates, name)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {name} not found") from exc
    return source.encode("utf-8")


def _own_file(ctx: RenderContext, name: str) -> bytes | None:
    """A binary file of the newsletter's ``templates/`` folder (read under the issue files' rule)."""
    from pipeline.atomic import ASSET_LIMIT, UnreadableFile, read_file

    path = ctx.config.templates_dir / name
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        return read_file(path, ctx.config.templates_dir, ASSET_LIMIT)
    except UnreadableFile as exc:
        raise RenderError(f"{path}: {name} {exc.reason}") from None

"""The web archive: one page per issue (``issues/<id>/index.html``), the index, the
subscription page (``subscribe/index.html``) and the stylesheet.

Pages are Jinja2 templates (``issue.html``, ``index.html``, both extending ``base.html``) that a
newsletter's own ``templates/`` folder can replace file by file. Issue content reaches the
templates only as variables: plain text is autoescaped, Markdown arrives as already-escaped
HTML wrapped in ``Markup``, and nothing from an issue folder is ever compiled as a template.

Links between pages are relative (``../../`` from an issue page), so the archive works from any
sub-path and from ``file://``; the links meant for other sites (canonical, feeds in ``<head>``,
Open Graph) are absolute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup

from pipeline.config import Site
from pipeline.errors import RenderError
from pipeline.markdown import to_html
from pipeline.model import Issue, Markdown, Paper
from pipeline.render.context import Card, RenderContext, paper_links, source_line

ISSUE_ROOT = "../../"  # from issues/<id>/ back to the site root
SITE_ROOT = "./"
# The page the 退订 link of the public email copy names (pipeline.mail.message.unsubscribe_placeholder:
# <site>/subscribe#unsubscribe): static hosts answer /subscribe with a redirect to this folder,
# and the web endpoint answers it itself with the same template.
SUBSCRIBE_PAGE = "subscribe/index.html"


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
    page = _render(
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
        og_image=ctx.asset_url(issue, issue.cover) if issue.cover else None,
        noindex=issue.draft,
    )
    return {f"issues/{issue.id}/index.html": page}


def render_site(cards: list[Card], ctx: RenderContext) -> dict[str, bytes]:
    """Render ``index.html`` (cards come filtered), ``subscribe/index.html`` and ``style.css``.

    The index lists issues by the date it shows (newest first), then by publish time: an
    issue sent ahead of its folder's date stays where its date puts it.
    """
    cards = sorted(cards, key=lambda c: (c.date, c.publish_at, c.id), reverse=True)
    page = _render(
        ctx,
        "index.html",
        cards=cards,
        dates={card.id: format_date(date.fromisoformat(card.date), ctx.site.language) for card in cards},
        root=SITE_ROOT,
        canonical=ctx.site.url,
        description=ctx.site.description,
        og_type="website",
        og_title=ctx.site.title,
        og_image=None,
        noindex=False,
    )
    subscribe = _render(ctx, "page_subscribe.html", root="../", **subscribe_page_values(ctx.site))
    return {"index.html": page, SUBSCRIBE_PAGE: subscribe, "style.css": _static(ctx, "style.css")}


def subscribe_page_values(site: Site) -> dict[str, Any]:
    """What ``page_subscribe.html`` needs besides ``root``, the same for the built page and the
    web endpoint's answer to GET /subscribe (whether the form shows is the ``signup`` global)."""
    return {
        "canonical": site.absolute("subscribe"),
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


def _render(ctx: RenderContext, name: str, **values: Any) -> bytes:
    import jinja2  # the Environment itself comes from ctx; only its exception types are needed

    try:
        return ctx.templates.get_template(name).render(**values).encode("utf-8")
    except jinja2.TemplateError as exc:
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise RenderError(f"template {name}{where}: {exc}") from exc


def _static(ctx: RenderContext, name: str) -> bytes:
    """A file copied as it is, found through the template loader so a newsletter can replace it."""
    import jinja2

    try:
        source, _, _ = ctx.templates.loader.get_source(ctx.templates, name)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {name} not found") from exc
    return source.encode("utf-8")

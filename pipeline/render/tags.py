"""Tag pages and topic feeds: ``tags/index.html`` (every tag with its count),
``tags/<slug>/index.html`` (the papers and issues with that tag, newest first) and
``tags/<slug>/feed.xml`` (Atom) for each tag. A tag given to more than
:data:`~pipeline.render.pages.TAG_PAGE_LINES` papers and issues gets a page per year,
``tags/<slug>/<year>/index.html`` (by the date of the issue they appeared in), and its own
page lists the newest :data:`TAG_NEWEST` papers and issues, with links to the years.

A paper's tags come from its entry (``tags:`` in the front matter); an issue's tags from
``issue.yaml``. They are shown apart on a tag page: an issue tagged 长上下文 is about long
context as a whole, which does not make each of its papers so.

Slugs follow :func:`pipeline.render.pages.tag_slug` (NFKC, lower case, CJK kept, the rest
``-``); hrefs percent-encode them. Tags with one slug (``KV Cache``, ``kv-cache``) share
one page, named by the spelling used most (the first in code-point order on a tie), so that
no tag ever takes another's address when a new one appears.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from urllib.parse import quote

import orjson
from lxml import etree

from pipeline.render.context import Card, RenderContext
from pipeline.render.feeds import EPOCH, distinct_times, feed_settings
from pipeline.render.pages import (
    TAGS_ROOT,
    newest_first,
    page_values,
    render_page,
    tag_has_year_pages,
    tag_slug,
)
from pipeline.render.papers import ATOM_NS, DC_NS, XML_LANG, PaperItem, atom_element, atom_entry, atom_link, paper_items

TAG_NEWEST = 50  # papers, and issues, on the own page of a tag with year pages


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x, and there is one per tagged paper
class TaggedPaper:
    """A paper on a tag page: its card entry and the issue it appeared in."""

    card: Card
    paper: dict
    shown: tuple = ()  # what its line on a tag page shows (templates/tag.html), made once per paper

    @property
    def heading(self) -> str:
        return self.paper.get("title_translated") or self.paper["title"]


@dataclass
class Tag:
    """Everything with one slug: its name, its papers and its issues, newest first."""

    slug: str
    spellings: Counter = field(default_factory=Counter)
    papers: list[TaggedPaper] = field(default_factory=list)
    issues: list[Card] = field(default_factory=list)
    # (card, index of its first paper in ``papers``) per issue with papers here: they lie together
    runs: list[tuple[Card, int]] = field(default_factory=list)
    # card id → its place among all the cards by publish time (the feed's order), shared by the
    # tags of one collection: ranking by it compares integers, not time-zone-aware datetimes
    ranks: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return min(self.spellings, key=lambda spelling: (-self.spellings[spelling], spelling))

    @property
    def href(self) -> str:
        return f"{quote(self.slug)}/"

    @property
    def count(self) -> int:
        return len(self.papers) + len(self.issues)

    @property
    def updated(self) -> datetime:
        return max([c.updated for c in self.issues] + [p.card.updated for p in self.papers], default=EPOCH)


def collect_tags(cards: Iterable[Card]) -> list[Tag]:
    """Every tag of the public cards, by slug; papers and issues newest first."""
    cards = list(cards)
    ranks = {card.id: rank for rank, card in enumerate(sorted(cards, key=lambda card: (card.published, card.id)))}
    tags: dict[str, Tag] = {}
    by_name: dict[str, Tag] = {}  # a name's tag, found once: names repeat on thousands of papers
    given: list[str] = []  # every name, as often as it is given (counted once, at the end)

    def tags_of(names: list[str]) -> Iterable[Tag]:
        """The tags of ``names``, each once (`C#` and `c++` on one paper count once)."""
        given.extend(names)
        found: dict[int, Tag] = {}
        for name in names:
            tag = by_name.get(name)
            if tag is None:
                slug = tag_slug(name)
                tag = by_name[name] = tags.get(slug) or tags.setdefault(slug, Tag(slug, ranks=ranks))
            found[id(tag)] = tag
        return found.values()

    for card in newest_first(cards):
        for tag in tags_of(card.tags):
            tag.issues.append(card)
        for paper in card.papers:
            names = paper.get("tags")
            if not names:
                continue
            # One line for all its tags' pages, as templates/tag.html shows it: the issue's
            # id, title and date, then the paper's anchor, title, translated title and authors.
            get = paper.get
            shown = (
                card.id,
                card.title,
                card.date,
                get("anchor"),
                get("title"),
                get("title_translated"),
                get("authors"),
            )
            tagged = TaggedPaper(card, paper, shown)
            for tag in tags_of(names):
                if not tag.runs or tag.runs[-1][0] is not card:
                    tag.runs.append((card, len(tag.papers)))
                tag.papers.append(tagged)
    for name, count in Counter(given).items():
        by_name[name].spellings[name] = count
    return sorted(tags.values(), key=lambda tag: (-tag.count, tag.slug))


def render_site(cards: list[Card], ctx: RenderContext) -> dict[str, bytes]:
    """``tags/index.html`` and, per tag, its page and its Atom feed."""
    tags = collect_tags(cards)
    files = {
        f"{TAGS_ROOT}/index.html": render_page(
            ctx,
            "tags.html",
            tags=tags,
            **page_values(ctx, "../", f"{TAGS_ROOT}/", f"全部标签 · {ctx.site.title}"),
        )
    }
    parts = ctx.part_cache("tags")
    limit = feed_settings(ctx).items
    for tag in tags:
        # Pages and feed are separate parts: an edit moves a paper's `updated` (so the feed, of
        # the newest papers only) but rarely what the page lists of a thousand papers; a new
        # issue changes a tag's own page and its year's, not the pages of the years before.
        for page in tag_pages(tag):
            files.update(parts.files(page.part, _page_inputs(tag, page), partial(_tag_page, tag, page, ctx)))
        files.update(parts.files(f"{tag.slug}/feed", _feed_inputs(tag, limit), partial(_tag_feed_file, tag, ctx)))
    return files


@dataclass(frozen=True)
class TagPage:
    """One page of a tag: its own (``year`` None) or a year's, and what it lists."""

    tag: Tag
    year: str | None
    papers: list[TaggedPaper]
    issues: list[Card]
    years: list[tuple[str, int | None]]  # each year of a tag with year pages, and on its own page its lines

    @property
    def folder(self) -> str:
        return f"{TAGS_ROOT}/{self.tag.slug}" + (f"/{self.year}" if self.year else "")

    @property
    def part(self) -> str:
        return self.tag.slug + (f"/{self.year}" if self.year else "")


def tag_pages(tag: Tag) -> list[TagPage]:
    """The tag's own page, then, for a tag with year pages, one per year (newest first)."""
    if not tag_has_year_pages(sum(tag.spellings.values())):
        return [TagPage(tag, None, tag.papers, tag.issues, [])]
    papers = _papers_by_year(tag)
    issues = _issues_by_year(tag.issues)
    years = sorted(papers.keys() | issues.keys(), reverse=True)
    counts = [(year, len(papers.get(year, ())) + len(issues.get(year, ()))) for year in years]
    own = TagPage(tag, None, tag.papers[:TAG_NEWEST], tag.issues[:TAG_NEWEST], counts)
    # A year's page links to the others without their counts, so that a new issue leaves the
    # pages of the years before as they are.
    links = [(year, None) for year in years]
    return [own, *(TagPage(tag, year, papers.get(year, []), issues.get(year, []), links) for year in years)]


def _papers_by_year(tag: Tag) -> dict[str, list[TaggedPaper]]:
    """The tag's papers by the year of their issue, each year's a slice of ``tag.papers``: its
    issues' runs lie together, newest first (a run per issue rather than a look per paper)."""
    starts: dict[str, int] = {}
    for card, start in tag.runs:
        starts.setdefault(card.date[:4], start)
    bounds = [*starts.values(), len(tag.papers)]
    return {year: tag.papers[bounds[n] : bounds[n + 1]] for n, year in enumerate(starts)}


def _issues_by_year(cards: list[Card]) -> dict[str, list[Card]]:
    """Cards (newest first) by the year of their date, as the archive's year pages have them."""
    years: dict[str, list[Card]] = {}
    for card in cards:
        years.setdefault(card.date[:4], []).append(card)
    return years


def _counts(tag: Tag, page: TagPage) -> tuple[int, int]:
    """The papers and issues a page counts: the tag's, or on a year's page that year's."""
    counted = page if page.year else tag
    return len(counted.papers), len(counted.issues)


def _tag_page(tag: Tag, page: TagPage, ctx: RenderContext) -> dict[str, bytes]:
    title = f"标签：{tag.name}" + (f" · {page.year} 年" if page.year else "")
    values = page_values(ctx, "../../../" if page.year else "../../", f"{page.folder}/", f"{title} · {ctx.site.title}")
    values["description"] = f"「{ctx.site.title}」中带有标签「{tag.name}」的论文与期刊。"
    feed_url = ctx.site.absolute(f"{TAGS_ROOT}/{quote(tag.slug)}/feed.xml")
    html = render_page(
        ctx,
        "tag.html",
        tag=tag,
        papers=page.papers,
        issues=page.issues,
        years=page.years,
        current_year=page.year,
        counts=_counts(tag, page),
        tag_root="../" if page.year else "",  # the tag's own folder, from the page
        feed_url=feed_url,
        **values,
    )
    return {f"{page.folder}/index.html": html}


def _tag_feed_file(tag: Tag, ctx: RenderContext) -> dict[str, bytes]:
    return {f"{TAGS_ROOT}/{tag.slug}/feed.xml": tag_feed(tag, ctx)}


def _page_inputs(tag: Tag, page: TagPage) -> bytes:
    """What a page of the tag shows of its issues and papers, in their order, and of the tag
    (templates/tag.html)."""
    issues = [(card.id, card.title, card.date) for card in page.issues]
    shown = [tag.name, *_counts(tag, page), page.year, page.years]
    return orjson.dumps([shown, issues, [tagged.shown for tagged in page.papers]])


def _newest_papers(tag: Tag, limit: int) -> list[TaggedPaper]:
    """The tag's ``limit`` newest papers by publish time, as its feed has them: the papers of
    its newest issues, each issue's in their order. (They lie together in ``tag.papers``,
    so the issues are ranked rather than every paper.)"""
    ends = {start: end for (_card, start), (_next, end) in zip(tag.runs, [*tag.runs[1:], (None, len(tag.papers))])}
    newest = heapq.nlargest(limit, tag.runs, key=lambda run: tag.ranks[run[0].id])
    return [tagged for _card, start in newest for tagged in tag.papers[start : ends[start]]][:limit]


def _newest_issues(tag: Tag, limit: int) -> list[Card]:
    return heapq.nlargest(limit, tag.issues, key=lambda card: tag.ranks[card.id])


def _feed_inputs(tag: Tag, limit: int) -> bytes:
    """Everything of the newest ``limit`` papers and issues, which are all the feed shows."""
    papers = _newest_papers(tag, limit)
    issues = _newest_issues(tag, limit)
    return orjson.dumps(
        [
            tag.name,
            limit,
            [[_paper_card_fields(tagged.card), tagged.paper] for tagged in papers],
            [[*_paper_card_fields(card), card.updated_at, card.summary, card.tags] for card in issues],
        ],
        option=orjson.OPT_SORT_KEYS,
    )


def _paper_card_fields(card: Card) -> list:
    """What a paper's entry in the feed takes from the issue it appeared in. Not the issue's
    ``updated_at``: each paper has its own, so an edit to one paper of an issue renders again
    the feeds of that paper's tags (and of the issue's), not of every tag in the issue."""
    return [card.id, card.title, card.date, card.publish_at]


def tag_feed(tag: Tag, ctx: RenderContext) -> bytes:
    """The tag's Atom feed: its newest papers and issues, as many as the feeds carry."""
    limit = feed_settings(ctx).items
    items = sorted(_feed_items(tag, ctx, limit), key=lambda item: (item.published, item.guid), reverse=True)[:limit]
    updated = distinct_times((item.guid, item.updated) for item in items)  # validators warn on equal ones
    items = [replace(item, updated=updated[item.guid]) for item in items]
    url = ctx.site.absolute(f"{TAGS_ROOT}/{quote(tag.slug)}/")
    feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS, "dc": DC_NS})
    feed.set(XML_LANG, ctx.site.language)
    atom_element(feed, "id", f"{url}feed.xml")
    atom_element(feed, "title", f"{ctx.site.title} · {tag.name}")
    atom_element(feed, "subtitle", f"带有标签「{tag.name}」的论文与期刊。")
    atom_element(feed, "updated", max((item.updated for item in items), default=EPOCH).isoformat())
    atom_element(atom_element(feed, "author"), "name", ctx.site.author or ctx.site.title)
    atom_link(feed, f"{url}feed.xml", "self", "application/atom+xml")
    atom_link(feed, url, "alternate", "text/html")
    for item in items:
        atom_entry(feed, item)
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _feed_items(tag: Tag, ctx: RenderContext, limit: int) -> list[PaperItem]:
    """Paper items as ``papers.xml`` has them, and one item per tagged issue: the ``limit``
    newest of each kind (a tag of a long archive holds thousands)."""
    papers_of: dict[str, list[dict]] = {}
    cards: dict[str, Card] = {}
    for tagged in _newest_papers(tag, limit):  # each card with only this tag's papers, in their order
        papers_of.setdefault(tagged.card.id, []).append(tagged.paper)
        cards[tagged.card.id] = tagged.card
    items = paper_items([replace(cards[card_id], papers=papers) for card_id, papers in papers_of.items()], ctx)
    for card in _newest_issues(tag, limit):
        url = ctx.issue_url(card.id)
        items.append(
            PaperItem(
                guid=url,
                url=url,
                title=card.title,
                text=card.summary or card.title,
                published=card.published,
                updated=card.updated,
                authors=[],
                tags=list(card.tags),
                paper_url=None,
                pdf=None,
                arxiv=None,
            )
        )
    return items

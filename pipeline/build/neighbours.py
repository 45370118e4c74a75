"""Previous/next links of the issue pages, kept right as issues come, change and go.

An issue page is rendered from its own folder, but its links name its neighbours among the
public issues (in the index's order), which change when a new issue is published, a title is
edited, a draft is released or a scheduled issue's time comes, none of which touches the page's
own folder. So the page is rendered with an empty pair of markers
(:data:`pipeline.render.web.NAV_START` … ``NAV_END``), and this pass, run by the build once every
card is known, writes the links between them: into each page rendered in this build, and into
each other page whose neighbours differ from those the manifest says it shows. A new issue
thus rewrites two small parts of files (its own page's and its older neighbour's) and no
issue is rendered again. A page whose template has no markers (an old override) is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.build.state import Manifest
from pipeline.render.context import Card, RenderContext

SITE_KEY = "neighbours"  # in manifest.site: issue id → the links its page shows


def link_pages(
    cards: Iterable[Card], ctx: RenderContext, staging, manifest: Manifest, built: Iterable[str]
) -> list[str]:
    """Write the previous/next links into the pages that need them; return their issue ids.

    ``staging`` is the build's :class:`pipeline.atomic.Staging`; ``built`` the issues whose
    pages were rendered in this build (they show no links yet).
    """
    from pipeline.render.pages import newest_first

    public = newest_first(card for card in cards if card.is_public(ctx.now))
    shown: dict[str, list] = manifest.site.get(SITE_KEY, {})
    wanted: dict[str, list] = {}
    older_newer: dict[str, tuple[Card | None, Card | None]] = {}
    for index, card in enumerate(public):
        newer = public[index - 1] if index > 0 else None
        older = public[index + 1] if index + 1 < len(public) else None
        older_newer[card.id] = (older, newer)
        wanted[card.id] = [_shown(older), _shown(newer)]
    fresh = set(built)
    patched = []
    for issue_id in sorted(set(wanted) | set(shown)):
        links = wanted.get(issue_id)
        if issue_id in fresh and links is None:
            continue  # rendered just now without links, and it should have none
        if issue_id not in fresh and shown.get(issue_id) == links:
            continue
        older, newer = older_newer.get(issue_id, (None, None))
        if _patch(f"issues/{issue_id}/index.html", older, newer, ctx, staging):
            patched.append(issue_id)
    manifest.site[SITE_KEY] = wanted
    return patched


def _shown(card: Card | None) -> list[str] | None:
    """What a link to ``card`` shows: its id (the href) and its title."""
    return [card.id, card.title] if card else None


def _patch(relative: str, older: Card | None, newer: Card | None, ctx: RenderContext, staging) -> bool:
    """Put the links between the page's markers; False when there is no page or no markers."""
    from pipeline.render.web import NAV_END, NAV_START, render_issue_nav

    try:
        page = staging.read(relative)
    except FileNotFoundError:
        return False  # an issue removed in this build, or one that never built
    start = page.find(NAV_START)
    end = page.find(NAV_END, start)
    if start < 0 or end < 0:
        return False
    staging.rewrite(relative, page[:start] + render_issue_nav(older, newer, ctx) + page[end + len(NAV_END) :], start)
    return True

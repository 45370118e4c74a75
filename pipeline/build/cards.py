"""What the build keeps of each issue for site-wide outputs: its :class:`Card`, and the
fingerprint of the templates that, when it changes, makes every issue render again.
"""

from __future__ import annotations

import hashlib

from pipeline.atomic import file_problem
from pipeline.config import Config
from pipeline.load.text import example_text_left
from pipeline.model import Issue
from pipeline.render.context import PACKAGE_TEMPLATES, Card, RenderContext


def make_card(issue: Issue, ctx: RenderContext) -> Card:
    """The issue as the index and the feeds see it; kept in the manifest between builds."""
    from pipeline.render.papers import paper_summary  # lxml: only when an issue is rendered
    from pipeline.render.search import issue_terms, terms_key

    return Card(
        id=issue.id,
        title=issue.title,
        date=issue.date.isoformat(),
        publish_at=issue.publish_at.isoformat(),
        summary=issue.summary,
        tags=list(issue.tags),
        draft=issue.draft,
        unfinished=not issue.draft and bool(example_text_left(issue)),
        cover_url=ctx.cover_url(issue),
        papers=[
            {
                "slug": p.slug,
                "anchor": p.anchor,
                "title": p.title,
                "title_translated": p.title_translated,
                "authors": list(p.authors),
                "arxiv": p.arxiv,
                "url": p.url,
                "pdf": p.pdf,
                "rating": p.rating,
                "tags": list(p.tags),
                "venue": p.venue,
                "year": p.year,
                "summary": paper_summary(p),
            }
            for p in issue.papers
        ],
        search_key=terms_key(issue_terms(issue)),
    )


def templates_fingerprint(config: Config) -> str:
    """Hash of the packaged and the folder's templates, so a template edit rebuilds."""
    digest = hashlib.sha256()
    for root in (PACKAGE_TEMPLATES, config.templates_dir):
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if not p.is_dir()):
                # Under the reading rule: a link leading elsewhere or a pipe is never read; the
                # renderer refuses it with a message when a template is asked for.
                problem = file_problem(path, root)
                content = problem.encode() if problem else path.read_bytes()
                digest.update(path.name.encode() + b"\0" + content)
    return digest.hexdigest()

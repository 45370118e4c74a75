"""The newsletter as plain data: Issue → Paper → Section. No I/O here.

Markdown is parsed once, by the loader; each fragment keeps its markdown-it tokens so that
every output (web, feeds, email, text, WeChat) is rendered from that one parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

ISSUE_ID = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:-([a-z0-9-]+))?$")
ARXIV_ID = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)?$")


@dataclass(frozen=True, eq=False)
class Markdown:
    """A Markdown fragment: its source, its parsed tokens and its first line in the file."""

    source: str
    tokens: tuple[Any, ...] = field(repr=False)
    line: int = 1

    @property
    def is_empty(self) -> bool:
        return not self.source.strip()


@dataclass(frozen=True, eq=False)
class Section:
    """A level-2 heading of a paper entry and the Markdown under it."""

    title: str
    body: Markdown


@dataclass(frozen=True, eq=False)
class Paper:
    """One paper entry (``NN-slug.md``)."""

    slug: str
    path: Path
    title: str
    authors: tuple[str, ...]
    title_translated: str | None = None
    venue: str | None = None
    year: int | None = None
    arxiv: str | None = None
    url: str | None = None
    pdf: str | None = None
    rating: int | None = None
    tags: tuple[str, ...] = ()
    lead: Markdown | None = None
    sections: tuple[Section, ...] = ()

    @property
    def anchor(self) -> str:
        """Fragment id of this paper on its issue page."""
        return f"paper-{self.slug}"

    @property
    def arxiv_base(self) -> str | None:
        """The arXiv id without its version suffix (2409.14274v2 → 2409.14274)."""
        if not self.arxiv:
            return None
        match = ARXIV_ID.match(self.arxiv)
        return match.group(1) if match else self.arxiv

    @property
    def authors_line(self) -> str:
        return ", ".join(self.authors)


@dataclass(frozen=True, eq=False)
class Issue:
    """One dated issue folder."""

    id: str
    folder: Path
    date: date
    title: str
    publish_at: datetime
    papers: tuple[Paper, ...] = ()
    summary: str | None = None
    intro: Markdown | None = None
    outro: Markdown | None = None
    cover: str | None = None
    tags: tuple[str, ...] = ()
    channels: tuple[str, ...] | None = None
    draft: bool = False
    source: str | None = None
    content_hash: str = ""

    @property
    def url_path(self) -> str:
        """The issue page's path relative to ``site.url``."""
        return f"issues/{self.id}/"

    def is_public(self, now: datetime) -> bool:
        """Whether feeds and the archive index may show it at ``now``."""
        return not self.draft and self.publish_at <= now


def is_issue_id(text: str) -> bool:
    """True for ``YYYY-MM-DD`` and ``YYYY-MM-DD-slug`` with a real calendar date."""
    match = ISSUE_ID.match(text)
    if not match:
        return False
    try:
        date.fromisoformat(match.group(1))
    except ValueError:
        return False
    return True

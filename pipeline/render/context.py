"""What every renderer is handed: the settings and templates of one build
(:class:`RenderContext`), an issue's summary for site-wide outputs (:class:`Card`), and the
few lines of a paper that every output shows the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from pipeline.atomic import TEXT_LIMIT, UnreadableFile, read_file
from pipeline.config import Config
from pipeline.errors import RenderError
from pipeline.model import Issue, Paper

PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_SUFFIXES = {".html", ".mjml", ".txt", ".xml"}  # Jinja2 templates; style.css is copied as it is


@dataclass(frozen=True)
class Card:
    """What the index page and the feeds need to know of one issue."""

    id: str
    title: str
    date: str
    publish_at: str
    summary: str | None
    tags: list[str]
    draft: bool
    cover_url: str | None
    papers: list[dict[str, Any]] = field(default_factory=list)
    # Still holds the example text of `publish new`: built for preview, but like a draft kept
    # out of the index and the feeds, as the publisher refuses to send it.
    unfinished: bool = False
    # When the issue's content last changed, as the build remembers it (its publish time until
    # an edit); each paper dict carries its own. None in a card the build has not dated yet.
    updated_at: str | None = None
    # A digest of the issue's search terms (pipeline.render.search): a year of the archive's
    # index is rendered again only when one of its issues' digests changes.
    search_key: str = ""

    # Cached: the site outputs ask each card thousands of times (once per tag of each paper).
    @cached_property
    def published(self) -> datetime:
        return datetime.fromisoformat(self.publish_at)

    @cached_property
    def updated(self) -> datetime:
        """The feeds' ``updated``: never before the publish time."""
        return max(self.published, datetime.fromisoformat(self.updated_at)) if self.updated_at else self.published

    def is_public(self, now: datetime) -> bool:
        return not self.draft and not self.unfinished and self.published <= now

    def to_json(self) -> dict[str, Any]:
        """The card as JSON-ready data: what dataclasses.asdict gives, ~5x faster."""
        # asdict deep-copies every string too (copy.deepcopy per value); lists and dicts
        # are what must not be shared between the card and its JSON.
        return {f.name: _json_copy(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Card:
        return cls(**data)


class _Kept:
    """The value of a file a part cache kept: it is in the output folder as the part's last
    render left it, so its bytes are neither read back nor written again."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "KEPT"


KEPT = _Kept()


class PartCache(Protocol):
    """Where a site output with many parts (a tag's page and feed) gets each part's files:
    rendered, or kept from the last build when the part's inputs are the same (each file's
    value is then :data:`KEPT`; a renderer looks only at the names of a part's files)."""

    def files(self, part: str, inputs: bytes, render: Callable[[], dict[str, bytes]]) -> dict[str, bytes]: ...


class RenderEveryPart:
    """No memory of earlier builds: every part is rendered (a render outside a build)."""

    def files(self, part: str, inputs: bytes, render: Callable[[], dict[str, bytes]]) -> dict[str, bytes]:
        return render()


class RenderContext:
    """Settings, templates and URL rules shared by every renderer in one build."""

    def __init__(self, config: Config, now: datetime, content_of: Callable[[str], str] | None = None) -> None:
        self.config = config
        self.site = config.site
        self.now = now
        self._content_of = content_of
        # The per-issue outputs the build renders for each issue it renders (an issue's email
        # and WeChat files are made only while it may still be sent): its page links only to
        # the versions that exist. An issue not listed, as outside a build, has every output.
        self.issue_outputs: dict[str, frozenset[str]] = {}
        # Set by the build, which keeps each site output's parts in its state folder and saves
        # them after the commit: a renderer reads and writes no file of its own.
        self.part_cache: Callable[[str], PartCache] = lambda _output: RenderEveryPart()
        # Where compiled templates are kept across runs, when the build gives a folder (it
        # creates it): compiling them is most of a one-issue rebuild's rendering time.
        self.template_cache: Path | None = None
        # Set by the build: an issue's search terms as it keeps them (pipeline.render.search).
        self.search_terms: Callable[[str], str] = _no_terms
        # Set by the build: the sitemap's pages (path, date by what each shows) dated by when
        # their bytes last changed, as far as it knows (pipeline.build.site.PageDates).
        self.page_dates: Callable[[list[tuple[str, datetime]]], list[tuple[str, datetime]]] = lambda pages: pages

    @cached_property
    def templates(self):  # jinja2.Environment; imported here to keep `publish --help` fast
        import jinja2

        loader = jinja2.ChoiceLoader(
            [
                jinja2.FunctionLoader(partial(_folder_template, self.config.templates_dir)),
                jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES)),
            ]
        )
        env = jinja2.Environment(
            loader=loader,
            autoescape=jinja2.select_autoescape(["html", "mjml", "xml", "htm"], default_for_string=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            bytecode_cache=self._bytecode_cache(jinja2),
        )
        # The signup form only makes sense when a channel sends to a list one can join.
        signup = bool(self.config.channels_declaring("subscribers"))
        env.globals.update(
            site=self.site,
            issue_url=self.issue_url,
            absolute=self.site.absolute,
            signup=signup,
            has_output=self.has_output,
        )
        return env

    def has_output(self, issue_id: str, name: str) -> bool:
        """Whether this build gives the issue the per-issue output ``name`` (``email``, ``wechat``)."""
        outputs = self.issue_outputs.get(issue_id)
        return outputs is None or name in outputs

    def preload_templates(self, names: Iterable[str]) -> None:
        """Compile the templates ``names`` (or the folder's overrides of them) now, once.

        The build calls this before its worker processes fork, with the templates an issue's
        outputs use: the workers inherit them compiled instead of each compiling them again.
        The others (index, archive, tag pages) are compiled where the site outputs render.
        A template that does not compile is left for the renderer that uses it to report.
        """
        import jinja2

        for name in names:
            with suppress(jinja2.TemplateError, RenderError):
                self.templates.get_template(name)

    def _bytecode_cache(self, jinja2):
        """Jinja's cache of compiled templates in :attr:`template_cache`; Jinja checks each entry
        against the template's source and its own version."""
        return jinja2.FileSystemBytecodeCache(str(self.template_cache)) if self.template_cache else None

    def issue_url(self, issue_id: str) -> str:
        """Absolute URL of an issue's web page."""
        return self.site.absolute(f"issues/{issue_id}/")

    def cover_url(self, issue: Issue) -> str | None:
        """The issue's cover as an absolute URL (feeds, email, ``og:image``); None without one."""
        return self.asset_url(issue, cover_href(issue.cover)) if issue.cover else None

    def asset_url(self, issue: Issue, src: str) -> str:
        """An image reference made absolute (feeds, email and WeChat cannot resolve relative paths)."""
        from pipeline.markdown import is_relative_path  # markdown-it: not needed by a build with nothing to render

        if is_relative_path(src):
            return self.site.absolute(f"issues/{issue.id}/{src}")
        return src

    def feed_content(self, issue_id: str) -> str:
        """The full HTML of an issue as feeds carry it (kept by the build per issue)."""
        if self._content_of is None:
            raise KeyError(issue_id)
        return self._content_of(issue_id)


def cover_href(cover: str) -> str:
    """``cover:`` as an href: a path into the issue folder percent-encoded, a URL as a link is.

    ``cover:`` names a file, not a URL: in ``images/封面 1.png`` or ``q#1.png`` the space, the
    Chinese and the ``#`` (which would start a fragment, so that readers fetch ``q``) are part
    of its name. An image in the Markdown text comes encoded by markdown-it already.
    """
    from pipeline.markdown import is_relative_path, parser  # not needed by a build with nothing to render

    # A URL is encoded where it must be (a space, Chinese), as markdown-it does a link's.
    return quote(cover, safe="/") if is_relative_path(cover) else parser().normalizeLink(cover)


def _no_terms(issue_id: str) -> str:
    raise KeyError(f"{issue_id}: no search terms outside a build")


def _folder_template(folder: Path, name: str) -> tuple[str, str, Callable[[], bool]] | None:
    """A template override of the newsletter folder, read under the same rule as issue files
    (a regular file inside templates/, no link leading elsewhere); None: use the packaged one."""
    path = folder / name
    if ".." in Path(name).parts or not (path.exists() or path.is_symlink()):
        return None
    try:
        source = read_file(path, folder, TEXT_LIMIT).decode("utf-8")
    except UnreadableFile as exc:
        raise RenderError(f"{path}: the template {exc.reason}") from None
    except UnicodeDecodeError:
        raise RenderError(f"{path}: the template is not UTF-8 text: save it as UTF-8") from None
    mtime = path.stat().st_mtime_ns
    return source, str(path), lambda: path.exists() and path.stat().st_mtime_ns == mtime


def _json_copy(value: Any) -> Any:
    """A copy of JSON-like data: new lists and dicts, the same (immutable) scalars."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_json_copy(item) for item in value)
    return value


def source_line(paper: Paper) -> str:
    """``venue · year · arXiv:id`` without repeating what the venue already says: the text
    after 来源 in the email, the feeds and the WeChat article."""
    parts = []
    venue = paper.venue or ""
    if venue:
        parts.append(venue)
    if paper.year and str(paper.year) not in venue:
        parts.append(str(paper.year))
    if paper.arxiv and (paper.arxiv_base or paper.arxiv) not in venue:
        parts.append(f"arXiv:{paper.arxiv}")
    return " · ".join(parts)


def paper_links(paper: Paper) -> list[tuple[str, str]]:
    """``(label, url)`` buttons for a paper: its landing page and its PDF."""
    links = []
    if paper.url:
        links.append(("论文主页" if not paper.arxiv else "arXiv", paper.url))
    if paper.pdf:
        links.append(("PDF", paper.pdf))
    return links

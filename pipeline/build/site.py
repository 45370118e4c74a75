"""The site-level outputs of a build (index and archive pages, feeds, tag pages, sitemap,
search index): which are due, and rendering them, on two CPUs when the build may use them.

An output is a function of the public cards, the settings and templates, and the content of
the issues it read last time: when its key is as before and its files are in place, it is
not rendered again (:func:`due`).

The outputs that are due are shared between two processes: a forked child renders
:data:`FORKED` (the tag pages, about half of the site's time) while the build renders the
others and writes the issue pages' previous/next links; the sitemap comes last (:data:`LAST`). The child stages its
files as a build worker does (named for the build, which commits them: see
:class:`pipeline.atomic.Staging`) and hands them over through a pipe with its part memories
and manifest entries; nothing it renders reaches ``public/`` before the build commits. When
the child fails or dies, the build renders its outputs itself, so that an error is raised,
and reported, in the build's own process. The two never stage the same file. At 500 issues
the site outputs took ~0.35 s of a ~1 s rebuild after an edit, one after another.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from pipeline.atomic import Staging
from pipeline.build import search
from pipeline.build.outputs import SITE_OUTPUTS
from pipeline.build.parts import PartMemo
from pipeline.build.processes import Forked
from pipeline.build.state import Manifest, card_hash, site_key
from pipeline.render.context import KEPT, Card, RenderContext

# Rendered in the forked child: the heaviest output, which reads no issue's feed HTML.
FORKED = ("tags",)
# Rendered once every other output is staged: the sitemap dates each page by whether this build
# writes it anew (PageDates).
LAST = ("sitemap",)


@dataclass
class SiteBuild:
    """What the site outputs of one build are rendered from and into."""

    ctx: RenderContext
    staging: Staging  # the outputs' files
    cache: Staging  # the build state's files (feed HTML and search terms read on demand)
    manifest: Manifest
    reads: list[str]  # issues whose feed HTML an output asked for, appended by ctx.feed_content
    memories: dict[str, PartMemo]  # the part memories outputs asked ctx.part_cache for
    public: list[Card] = field(default_factory=list)
    cards_key: str = ""


def public_cards(cards: list[Card], ctx: RenderContext) -> list[Card]:
    """The cards the site shows, newest first."""
    return sorted((c for c in cards if c.is_public(ctx.now)), key=lambda c: (c.publish_at, c.id), reverse=True)


def cards_key(public: list[Card], manifest: Manifest, env_key: str) -> str:
    """The hash of the environment and every public card."""
    digest = hashlib.sha256(env_key.encode())
    for card in public:
        # Each card's hash is kept with it: encoding 500 cards again costs ~70 ms per build.
        entry = manifest.issues.get(card.id)
        if entry is not None and "card_hash" not in entry:  # a manifest from before hashes were kept
            entry["card_hash"] = card_hash(entry["card"])
        digest.update(f"{card.id}={entry['card_hash'] if entry else card_hash(card.to_json())}\n".encode())
    return digest.hexdigest()


def due(site: SiteBuild, force: bool) -> list[str]:
    """The outputs to render: those whose key moved, or whose files are not all in place.
    (Rendering is a function of these inputs: a kept output would come out the same.)"""
    names = []
    for name in SITE_OUTPUTS:
        if name == "search" and not search.enabled():
            continue  # left as it is, files and memory (see pipeline.build.search)
        last = site.manifest.site.get(name)
        if (
            force
            or not last
            or last["key"] != site_key(site.cards_key, name, last["reads"], site.manifest)
            or not all((site.ctx.config.output_dir / path).is_file() for path in last["files"])
        ):
            names.append(name)
    return names


def render(site: SiteBuild, names: list[str], meanwhile: Callable[[], None], split: bool) -> None:
    """Render the outputs ``names``, and run ``meanwhile`` (the build's other work at this
    point); in two processes when ``split`` and both have something to do."""
    last = [name for name in names if name in LAST]
    names = [name for name in names if name not in LAST]
    forked = [name for name in names if name in FORKED] if split else []
    child = _Child.start(site, forked) if forked and len(forked) < len(names) else None
    try:
        meanwhile()
        for name in names:
            if child is None or name not in child.names:
                render_output(site, name)
    except BaseException:
        if child is not None:
            child.join(site)  # its files adopted, so that the build's discard removes them too
        raise
    if child is not None and not child.join(site):
        for name in child.names:  # failed or killed: rendered here, where an error is reported
            render_output(site, name)
    for name in last:
        render_output(site, name)


def render_output(site: SiteBuild, name: str) -> None:
    """Render one output into the staging and record its key, reads and files."""
    site.reads.clear()
    files = SITE_OUTPUTS[name](site.public, site.ctx)
    for relative, data in files.items():
        if data is not KEPT:  # a part kept from the last build: its file is in place
            site.staging.add(relative, data)
    site.manifest.site[name] = {
        "key": site_key(site.cards_key, name, site.reads, site.manifest),
        "reads": sorted(set(site.reads)),
        "files": sorted(files),
    }


@dataclass
class PageDates:
    """The sitemap's ``<lastmod>`` of each page: when its bytes last changed, as far as the
    build knows (``manifest.pages``). A page the commit writes anew is dated at the build's
    time, one left as it was keeps its date, and one first listed gets the date of what it
    shows (:func:`pipeline.render.sitemap.site_pages`). So a date moves when, and only when, the
    page does: a new issue re-dates the year page whose count it changes, an edit to a paper's
    rating not the index that does not show it."""

    manifest: Manifest
    staging: Staging
    now: datetime

    def __call__(self, pages: list[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
        now = self.now.replace(microsecond=0)
        known = self.manifest.pages
        dated = []
        for path, shown in pages:
            when = known.get(path)
            if when is None:
                dated.append((path, shown))
            elif self.staging.writes(f"{path}index.html"):
                dated.append((path, now))
            else:
                dated.append((path, datetime.fromisoformat(when)))
        self.manifest.pages = {path: when.isoformat() for path, when in dated}
        return dated


@dataclass
class _Child:
    """A forked process rendering some of the outputs; its result arrives through a pipe."""

    process: Forked
    names: list[str]

    @classmethod
    def start(cls, site: SiteBuild, names: list[str]) -> _Child | None:
        """The child, forked; None when the system refuses a process (all is rendered here)."""
        process = Forked.start(partial(_child_payload, site, names))
        return cls(process, names) if process is not None else None

    def join(self, site: SiteBuild) -> bool:
        """Wait for the child and take over what it rendered; False when it delivered nothing."""
        data = self.process.join()
        try:
            result = pickle.loads(data) if data else None
        except (pickle.UnpicklingError, EOFError, ValueError):  # cut short: killed while writing
            result = None
        if result is None:
            site.staging.remove_left_by(self.process.pid)  # what it staged before it died
            site.cache.remove_left_by(self.process.pid)
            return False
        staged, cached, entries, memories, feed_html = result
        site.staging.adopt(staged)
        site.cache.adopt(cached)
        site.manifest.site.update(entries)
        for issue_id, kept in feed_html.items():
            site.manifest.issues[issue_id]["feed_html"] = kept
        for name, (new, used) in memories.items():
            memory = site.ctx.part_cache(name)
            memory.new, memory.used = new, used
        return True


def _child_payload(site: SiteBuild, names: list[str]) -> bytes:
    """The pickled result of rendering ``names``; empty when that failed (its files removed)."""
    # Its own stagings, which read the build's staged files but never drop or hand them over.
    staging, cache = site.staging.branch(), site.cache.branch()
    child = SiteBuild(site.ctx, staging, cache, site.manifest, site.reads, site.memories, site.public, site.cards_key)
    try:
        read: set[str] = set()
        for name in names:
            render_output(child, name)
            read.update(child.reads)  # ctx.feed_content appends to the build's list: this copy
        result = (
            staging.take(),
            cache.take(),
            {name: site.manifest.site[name] for name in names},
            {name: (memory.new, memory.used) for name, memory in site.memories.items() if name in names},
            {issue_id: site.manifest.issues[issue_id].get("feed_html") for issue_id in read},
        )
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        for stage in (staging, cache):
            with contextlib.suppress(BaseException):
                stage.discard()
        return b""  # nothing delivered: the build renders these outputs itself

"""What a build renders: the per-issue and the site-level outputs, in two explicit tables.

Each entry is a renderer imported on its first call (:class:`LazyRenderer`), so that a build
with nothing to render never loads Jinja2, lxml or markdown-it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

from pipeline.errors import Problem
from pipeline.model import Issue
from pipeline.render.context import Card, RenderContext


class LazyRenderer:
    """``<module>.<name>`` of a renderer, imported on first call: a build with nothing to
    render never loads Jinja2 or markdown-it (half of a no-op build's time)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def load(self) -> Callable[..., dict[str, bytes]]:
        return getattr(import_module(self.module), self.name)

    def __call__(self, *args: Any) -> dict[str, bytes]:
        return self.load()(*args)

    def __repr__(self) -> str:
        return f"<renderer {self.module}.{self.name}>"


# Every per-issue output: name → render_issue(issue, ctx) → {path: bytes}
ISSUE_OUTPUTS: dict[str, Callable[[Issue, RenderContext], dict[str, bytes]]] = {
    "web": LazyRenderer("pipeline.render.web", "render_issue"),
    "email": LazyRenderer("pipeline.render.email", "render_issue"),
    "wechat": LazyRenderer("pipeline.render.wechat", "render_issue"),
    "bibtex": LazyRenderer("pipeline.render.bibtex", "render_issue"),
    "search": LazyRenderer("pipeline.render.search", "render_issue"),
}
# The templates the per-issue outputs render (with those they extend and include), compiled
# once before the build's workers fork; a test renders every output and checks that none other is loaded.
ISSUE_TEMPLATES = (
    "base.html",
    "issue.html",
    "search.html",
    "subscribe.html",
    "email.mjml",
    "email.txt",
    "feed_item.html",
    "wechat_paste.html",
)
# Outputs spanning issues: name → render_site(cards, ctx) → {path: bytes}
SITE_OUTPUTS: dict[str, Callable[[list[Card], RenderContext], dict[str, bytes]]] = {
    "web": LazyRenderer("pipeline.render.web", "render_site"),
    "feeds": LazyRenderer("pipeline.render.feeds", "render_site"),
    "papers": LazyRenderer("pipeline.render.papers", "render_site"),
    "tags": LazyRenderer("pipeline.render.tags", "render_site"),
    "sitemap": LazyRenderer("pipeline.render.sitemap", "render_site"),
    "search": LazyRenderer("pipeline.render.search", "render_site"),
}
# The files the per-issue outputs write into an issue's folder of public/ (a test renders every
# output and compares). A file of the issue folder with one of these names is not copied there,
# where the build's own would overwrite it or be overwritten depending on which was staged last
# (which differs when another process renders the email and WeChat files): `publish check` warns.
ISSUE_FILES = frozenset(
    {
        "index.html",
        "papers.bib",
        "search.json",
        "email.html",
        "email.txt",
        "wechat.md",
        "wechat.html",
        "wechat.json",
        "wechat-paste.html",
    }
)
# Files of an issue folder that are not copied to the site whatever their name: a web page or a
# script there would run as part of the site (its scripts with the site's rights, on its origin).
NOT_COPIED_SUFFIXES = (".html", ".htm", ".xhtml", ".xht", ".shtml", ".js", ".mjs", ".svgz")
# An SVG figure is copied unless it can run a script: opened by itself (not through <img>), it
# runs with the site's rights. What the SVG specification lets run: <script>, event attributes
# (onload=…), javascript: links, and HTML brought in through <foreignObject>.
_SVG_ACTIVE = re.compile(
    rb"<script|<[^>]*?\son[a-z]+\s*=|javascript\s*:|<foreignobject|data\s*:\s*text/html", re.IGNORECASE
)


def svg_runs_scripts(data: bytes) -> bool:
    """Whether an SVG file holds anything that can run a script (see _SVG_ACTIVE)."""
    return _SVG_ACTIVE.search(data) is not None


def active_svg_problem(path: Path, relative: str) -> Problem:
    """The warning for an SVG of an issue folder that is not copied (see svg_runs_scripts)."""
    return Problem(
        path,
        None,
        f"{relative} can run a script (<script>, an onload= or other event attribute, a javascript: link or "
        "<foreignObject>), so it is not copied to the site: export the figure again as plain SVG or as PNG",
        "warning",
    )


# The per-issue outputs an issue needs only while it may still be sent (see pipeline.build.builder).
SEND_OUTPUTS = frozenset({"email", "wechat"})

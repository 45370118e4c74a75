"""What every page of the web archive shares: rendering a template into bytes, the values
``base.html`` needs, the order of issues and the address of a tag.

The tag slug rule, stable across builds and safe for Chinese tags:

1. Unicode NFKC (full-width ``ＡＩ`` → ``AI``, ``①`` → ``1``), then lower case;
2. where a letter or digit of another script (or the ``+`` or ``#`` ending a word) meets a CJK
   character, a ``-`` (``AI安全`` and ``AI 安全``, as Chinese writers put a space there or not,
   are one tag: ``ai-安全``);
3. every run of characters that are not letters or digits, ``+`` or ``#`` (spaces,
   punctuation, symbols, ``_``) becomes one ``-``, with none at either end; CJK characters stay
   as they are, and so do ``+`` and ``#`` after a letter or digit, so that ``C``, ``C++`` and
   ``C#`` are three tags (``c``, ``c++``, ``c#``);
4. cut to 60 characters (a file name of at most 180 bytes in UTF-8); when no letter or digit is
   left (a tag of punctuation only), ``tag-`` and the first 8 hex digits of the SHA-256 of
   step 1's text.

The folder holds the characters themselves (``tags/长上下文/``); hrefs percent-encode them
(``tags/%E9%95%BF…/``), as browsers do.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from pipeline.errors import RenderError
from pipeline.render.context import Card, RenderContext
from pipeline.render.search import CJK_RANGES  # the characters the search cuts into pairs

SLUG_CHARS = 60
# A run of letters and digits, with the + and # that end it (C++, C#; not the + of a+b)
_WORD = re.compile(r"[^\W_]+(?:[+#]+(?![^\W_]))?")
TAGS_ROOT = "tags"
# Lines (papers and issues) a tag's page lists in full. A tag given more often gets a page per
# year (``tags/<slug>/<year>/``) and its own page shows the newest: a tag that most papers carry
# would otherwise make a page of megabytes, and render all of it again on each new issue.
TAG_PAGE_LINES = 200


def tag_has_year_pages(given: int) -> bool:
    """Whether a tag gets a page per year: ``given``, how often any spelling of it is given to a
    paper or an issue (as often as its page has lines, but for a paper or an issue that gives
    two spellings of one tag; counted so, the sitemap needs no set of slugs per paper)."""
    return given > TAG_PAGE_LINES


@lru_cache(maxsize=8192)  # called for every tag of every paper on each site render
def tag_slug(tag: str) -> str:
    """The tag's folder name under ``tags/`` (see the module docstring for the rule)."""
    text = unicodedata.normalize("NFKC", tag).lower()
    slug = "-".join(_WORD.findall(_apart_at_cjk(text)))[:SLUG_CHARS].strip("-")
    # A tag of punctuation only (`！！！`, `..`) gets a name of its own rather than sharing one.
    return slug or f"tag-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _apart_at_cjk(text: str) -> str:
    """``text`` with a space wherever a letter or digit of another script, or a ``+`` or ``#``,
    meets a CJK character (rule 2; ``isalnum`` is what ``re`` calls ``[^\\W_]``).

    A loop rather than a pattern: a class of the 40,000 CJK characters takes ``re`` ~3 ms to
    compile, and the pattern of this rule needs four, 13 ms of every command that loads pages.
    """
    if text.isascii():
        return text
    out: list[str] = []
    before = ""  # the previous character
    before_cjk = False
    for char in text:
        code = ord(char)
        cjk = any(low <= code <= high for low, high in CJK_RANGES)
        if before and cjk != before_cjk:
            other = before if cjk else char  # the character that is not CJK
            if other.isalnum() or (cjk and other in "+#"):
                out.append(" ")
        out.append(char)
        before, before_cjk = char, cjk
    return "".join(out)


def tag_href(tag: str) -> str:
    """The tag page's path relative to the site root, percent-encoded: ``tags/<slug>/``."""
    return f"{TAGS_ROOT}/{quote(tag_slug(tag))}/"


def newest_first(cards: Iterable[Card]) -> list[Card]:
    """Cards by the date they show, newest first, as the index lists them; on one date by the
    time they are published (as times: `08:30+09:00` is before `08:00+08:00`)."""
    return sorted(cards, key=lambda c: (c.date, c.published, c.id), reverse=True)


def page_values(ctx: RenderContext, root: str, path: str, title: str) -> dict[str, Any]:
    """What ``base.html`` needs for a site page at ``path`` (relative to the site root)."""
    return {
        "root": root,
        "canonical": ctx.site.absolute(quote(path)),
        "description": ctx.site.description,
        "og_type": "website",
        "og_title": title,
        "og_image": None,
        "noindex": False,
        "page_title": title,
        "tag_href": tag_href,
    }


def render_page(ctx: RenderContext, name: str, **values: Any) -> bytes:
    """A page from the template ``name``, errors reported as :class:`RenderError`."""
    import jinja2  # the Environment itself comes from ctx; only its exception types are needed

    try:
        return ctx.templates.get_template(name).render(**values).encode("utf-8")
    except jinja2.TemplateError as exc:
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise RenderError(f"template {name}{where}: {exc}") from exc

"""The one Markdown setup (markdown-it-py, CommonMark) and its HTML render rules.

Raw HTML in entries is not parsed (``html: False``), so ``<script>`` arrives as text and is
escaped; markdown-it's link validation drops ``javascript:`` and similar URLs. Each output
asks for HTML with its own rules: where images point (relative on the web page, absolute in
feeds and email) and, for email and WeChat, inline ``style`` attributes per tag.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from pipeline.model import Markdown


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """The one markdown-it parser: CommonMark with raw HTML off."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    _quiet_rule_loggers()
    # With html off these two rules return False at once, but the block one is still tried
    # (and logs a debug line) at the start of every block: switched off, same tokens.
    md.disable(["html_block", "html_inline"])
    # markdown-it-py (4.x) stops a run of text at every character some inline rule might start
    # with (`-`, `:`, `%`, `=`, …, for rules this parser does not run), tries each rule there and
    # puts the character in the text when none matches. Stopping only where a rule of this
    # parser can start gives the same tokens, ~13% sooner on the seeds' digests.
    md.inline.terminator_re = TEXT_STOPS
    return md


# Where a run of inline text may end, for this parser's rules: a line break (newline), `\\`
# (escape), `` ` `` (backticks), `*` and `_` (emphasis), `[` (link), `!` (image), `<` (autolink),
# `&` (entity), and `]`, where a link's label ends (its parser checks each stop for it).
TEXT_STOPS = re.compile(r"[\n\\`*_\[\]!<&]")


# markdown-it's block rules each call LOGGER.debug(...) on entry, some 330 times per paper
# entry: 2% of loading an issue, spent asking the logging module whether debug is on. Nothing here
# logs at debug level, so those modules get a logger whose debug() does nothing; the other
# levels go to the module's logger, and the rules themselves are untouched (same tokens).
_RULE_MODULES = (
    "blockquote",
    "code",
    "fence",
    "heading",
    "hr",
    "html_block",
    "lheading",
    "list",
    "paragraph",
    "reference",
)


class _NoDebug:
    """A rule module's logger without its debug messages."""

    # str.format of "" takes and ignores any arguments, in C: no Python frame per call, which
    # is most of what the saving is (a Python no-op method saves half as much)
    debug = "".format

    def __init__(self, logger: logging.Logger) -> None:
        self.name = logger.name
        # bound methods rather than __getattr__, which would slow the lookup of debug itself
        for level in ("info", "warning", "error", "exception", "critical", "log", "isEnabledFor"):
            setattr(self, level, getattr(logger, level))


def _quiet_rule_loggers() -> None:
    for name in _RULE_MODULES:
        module = sys.modules.get(f"markdown_it.rules_block.{name}")
        logger = getattr(module, "LOGGER", None)
        # left alone when someone asked for markdown-it's debug output before the first parse
        if isinstance(logger, logging.Logger) and not logger.isEnabledFor(logging.DEBUG):
            module.LOGGER = _NoDebug(logger)  # type: ignore[union-attr]


def parse(source: str, line: int = 1) -> Markdown:
    """Parse a Markdown fragment once; renderers reuse its tokens."""
    return Markdown(source=source, tokens=tuple(parser().parse(source)), line=line)


# Emphasis (* _ ~~) nests without markdown-it's block limit (maxNesting): 20,000 asterisks
# around a word make 10,000 nested <strong>, which crashes the MJML step (a stack overflow)
# and makes every output unreadable. Real text stays under 4.
MAX_INLINE_DEPTH = 12
NESTING_MESSAGE = (
    "emphasis (* or _) nested {depth} levels deep, at most {limit} are allowed: remove the extra "
    "asterisks or underscores, or write \\* for a literal one"
)


def inline_depth(token: Token) -> int:
    """How deeply the inline markup of an ``inline`` token nests (0: plain text)."""
    return max((child.level for child in token.children or ()), default=0)


def is_relative_path(url: str) -> bool:
    """A path into the issue folder, as opposed to a URL, an absolute path or a fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1": not a path into the folder, and not a usable URL either
        return False
    return not parts.scheme and not parts.netloc and not url.startswith(("/", "#"))


def iter_inline(tokens: Sequence[Token]):
    """Every inline child token (text, link_open, image, …) in document order."""
    for token in tokens:
        if token.children:
            yield from token.children


def image_sources(fragment: Markdown) -> list[tuple[str, int]]:
    """``(src, file line)`` of every image in the fragment."""
    return list(_known(fragment).images)


def _find_images(fragment: Markdown) -> tuple[tuple[str, int], ...]:
    found = []
    for token in fragment.tokens:
        if token.type == "inline" and token.children:
            line = fragment.line + (token.map[0] if token.map else 0)
            for child in token.children:
                if child.type == "image":
                    found.append((str(child.attrGet("src") or ""), line))
    return tuple(found)


# Renderer class → (its rule functions by token type, the block-level ones, the inline ones):
# RendererHTML.__init__ would collect them as bound methods per instance. The block and inline
# sets leave out the rules the render loops write themselves (see _WRITTEN_BLOCK).
Rules = dict[str, Callable[..., str]]
_RULES: dict[type, tuple[Rules, Rules, Rules]] = {}

# (renderer class, its _table_key(), xhtmlOut) → the tags of tokens without attributes, keyed by
# (token type, tag, nesting): (tag, tag + newline, HTML tag name). A render needs one dict
# lookup per tag instead of building it; the tables hold only strings, so outputs share them.
TagTable = dict[tuple[str, str, int], tuple[str, str, str]]
_TAGS: dict[tuple, TagTable] = {}
_TAGS_LIMIT = 64  # a few outputs use a few rule sets; the bound is for callers that vary styles


class StyledRenderer(RendererHTML):
    """HTML renderer with a hook for image URLs, link targets and inline styles per tag.

    Tokens are shared between outputs, so they are never modified: the extra attributes
    and tags are applied while writing. A subclass changes the output through rule methods
    (named by token type), ``tag_of`` (a function of the token's type and tag only, as its
    result is cached per output) and ``_pre``; it extends ``_table_key`` with whatever else
    its tags depend on.
    """

    def __init__(
        self,
        rewrite_src: Callable[[str], str] | None = None,
        styles: Mapping[str, str] | None = None,
        link_attrs: Mapping[str, str] | None = None,
    ) -> None:
        # Not RendererHTML.__init__: it finds the rule methods with inspect.getmembers (more
        # than rendering a short fragment costs) and keeps them as bound methods, a reference
        # cycle that kept every renderer, and the issue its callbacks see, alive until a full
        # garbage collection. The rules are looked up once per class and called with self.
        self.rules_by_type, self._block_rules, self._inline_rules = _RULES.get(type(self)) or _rule_functions(
            type(self)
        )
        self.rewrite_src = rewrite_src
        self.styles = styles or {}
        self.link_attrs = link_attrs or {}
        # the inline loop writes text tokens itself unless the class has its own text rule
        self._text_kind = None if "text" in self._inline_rules else "text"
        self._tags: tuple[bool, TagTable] | None = None  # (xhtmlOut, table), set by the first render
        code = self.styles.get("code")
        self._code_open = f'<code style="{escapeHtml(code)}">' if code else "<code>"

    def render(self, tokens: Sequence[Token], options: Any, env: Any) -> str:
        """RendererHTML.render with the class's rule functions and this output's tags."""
        rules = self._block_rules
        tags = self._tag_table(options)
        last = len(tokens) - 1
        out: list[str] = []
        append = out.append
        for i, token in enumerate(tokens):
            kind = token.type
            if kind == "inline":
                if token.children:
                    # renderInline, written into the same output list: one call per
                    # paragraph cost more than the loop over its children
                    self._inline(token.children, options, env, tags, append)
                continue
            rule = rules.get(kind)
            if rule is not None:
                append(rule(self, tokens, i, options, env))
            elif token.hidden:
                continue
            elif token.attrs or token.meta or not token.block:
                append(self._render_other(tokens, i, options, env))
            else:
                # renderToken for a block tag, written out: this runs for most block tokens
                nesting = token.nesting
                entry = tags.get((kind, token.tag, nesting)) or self._new_tag(token, tags)
                if nesting == 1 and i < last:
                    following = tokens[i + 1]
                    tight = (
                        following.type == "inline"
                        or following.hidden
                        or (following.nesting == -1 and following.tag == entry[2])
                    )
                else:
                    tight = False
                text = entry[0] if tight else entry[1]
                append("\n" + text if nesting != -1 and i and tokens[i - 1].hidden else text)
        return "".join(out)

    def renderInline(self, tokens: Sequence[Token], options: Any, env: Any) -> str:
        """RendererHTML.renderInline with the class's rule functions and this output's tags."""
        out: list[str] = []
        self._inline(tokens, options, env, self._tag_table(options), out.append)
        return "".join(out)

    def _inline(
        self, tokens: Sequence[Token], options: Any, env: Any, tags: TagTable, append: Callable[[str], None]
    ) -> None:
        """Each inline token's HTML, passed to ``append``."""
        rules = self._inline_rules
        text_kind = self._text_kind
        for i, token in enumerate(tokens):
            kind = token.type
            if kind == text_kind:
                # RendererHTML.text, written out; most text has nothing to escape, and four
                # membership tests cost less than four replace calls
                content = token.content
                append(
                    escapeHtml(content)
                    if "&" in content or "<" in content or ">" in content or '"' in content
                    else content
                )
                continue
            rule = rules.get(kind)
            if rule is not None:
                append(rule(self, tokens, i, options, env))
            elif token.attrs or token.meta or token.hidden or token.block:
                append(self._render_other(tokens, i, options, env))
            else:
                append((tags.get((kind, token.tag, token.nesting)) or self._new_tag(token, tags))[0])

    def _render_other(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """A token the render loops do not write themselves, as RendererHTML would render it."""
        rule = self.rules_by_type.get(tokens[idx].type)
        return rule(self, tokens, idx, options, env) if rule else self.renderToken(tokens, idx, options, env)

    def renderToken(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """RendererHTML.renderToken with this output's tag and extra attributes.

        Written out rather than rendering a modified copy of the token: copying every styled
        token (dataclasses.replace) cost more than rendering it.
        """
        token = tokens[idx]
        if token.hidden:
            return ""
        nesting = token.nesting
        tag = self.tag_of(token)
        # a newline between a hidden (tight list) paragraph and a following block tag
        head = "\n" if token.block and nesting != -1 and idx and tokens[idx - 1].hidden else ""
        slash = " /" if nesting == 0 and options["xhtmlOut"] else ""
        end = ">"
        if token.block:
            end = ">\n"
            if nesting == 1 and idx + 1 < len(tokens):
                following = tokens[idx + 1]
                # no newline inside a block that holds inline content or closes at once (<li></li>)
                if following.type == "inline" or following.hidden or (following.nesting == -1 and following.tag == tag):
                    end = ">"
        opening = "</" if nesting == -1 else "<"
        return f"{head}{opening}{tag}{self._attrs(token, tag)}{slash}{end}"

    def tag_of(self, token: Token) -> str:
        """The HTML tag a token is written with (a subclass may move headings down)."""
        return token.tag

    def _table_key(self) -> tuple:
        """What this renderer's tags depend on besides its class (styles and link attributes)."""
        return (tuple(self.styles.items()), tuple(self.link_attrs.items()))

    def _tag_table(self, options: Any) -> TagTable:
        """The tag strings of this output, shared with every renderer of the same class and rules."""
        xhtml = bool(options["xhtmlOut"])
        known = self._tags
        if known is not None and known[0] == xhtml:
            return known[1]
        key = (type(self), self._table_key(), xhtml)
        table = _TAGS.get(key)
        if table is None:
            if len(_TAGS) >= _TAGS_LIMIT:
                _TAGS.clear()
            table = _TAGS[key] = {}
        self._tags = (xhtml, table)
        return table

    def _new_tag(self, token: Token, table: TagTable) -> tuple[str, str, str]:
        """The table entry for an attribute-less token's type, tag and nesting (as renderToken writes it)."""
        nesting = token.nesting
        tag = self.tag_of(token)
        slash = " /" if nesting == 0 and self._tags is not None and self._tags[0] else ""
        text = f"{'</' if nesting == -1 else '<'}{tag}{self._attrs(token, tag)}{slash}"
        entry = table[(token.type, token.tag, nesting)] = (text + ">", text + ">\n", tag)
        return entry

    def _attrs(self, token: Token, tag: str) -> str:
        """The token's attributes plus this output's style (for ``tag``) and link attributes, escaped."""
        attrs: Mapping[str, Any] = token.attrs
        if token.nesting != -1:
            style = self.styles.get(tag)
            if style or (token.type == "link_open" and self.link_attrs):
                attrs = dict(attrs)
                if style:
                    attrs["style"] = style
                if token.type == "link_open":
                    attrs.update(self.link_attrs)
        if not attrs:
            return ""
        return "".join(f' {escapeHtml(key)}="{escapeHtml(str(value))}"' for key, value in attrs.items())

    def image(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        if self.rewrite_src is not None:
            src = self.rewrite_src(src)
        alt = self.renderInlineAsText(token.children or [], options, env)
        style = self.styles.get("img")
        style_attr = f' style="{escapeHtml(style)}"' if style else ""
        title = token.attrGet("title")
        title_attr = f' title="{escapeHtml(str(title))}"' if title else ""
        return f'<img src="{escapeHtml(src)}" alt="{escapeHtml(alt)}"{title_attr}{style_attr}>'

    def code_inline(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return f"{self._code_open}{escapeHtml(tokens[idx].content)}</code>"

    def code_block(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return self._pre(tokens[idx].content)

    def fence(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return self._pre(tokens[idx].content)

    def _pre(self, content: str) -> str:
        pre = self.styles.get("pre")
        code = self.styles.get("code_block")
        pre_attr = f' style="{escapeHtml(pre)}"' if pre else ""
        code_attr = f' style="{escapeHtml(code)}"' if code else ""
        return f"<pre{pre_attr}><code{code_attr}>{escapeHtml(content)}</code></pre>\n"


# Rules the render loops write themselves when a class keeps RendererHTML's own: text (in
# renderInline) and list_item_open, which is renderToken for a list item that is not a task.
_WRITTEN_BLOCK = {"list_item_open": RendererHTML.list_item_open}
_WRITTEN_INLINE = {"text": RendererHTML.text}


def _rule_functions(cls: type) -> tuple[Rules, Rules, Rules]:
    """The rules RendererHTML would find on a renderer of this class, as functions of the class:
    all of them, then those the block and the inline loop call."""
    found = {
        name: function
        for name, function in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith(("render", "_"))
    }
    block = {name: function for name, function in found.items() if _WRITTEN_BLOCK.get(name) is not function}
    inline = {name: function for name, function in found.items() if _WRITTEN_INLINE.get(name) is not function}
    _RULES[cls] = (found, block, inline)
    return found, block, inline


class _Rendered:
    """What is known of one fragment: its images, and its HTML per output rules."""

    def __init__(self, fragment: Markdown) -> None:
        self.images = _find_images(fragment)  # the loader, WeChat and to_html all ask
        self.has_images = bool(self.images)
        self.html: dict[tuple, str] = {}  # (styles, link_attrs) → HTML


# Fragment → its _Rendered; the entry goes with the fragment. Web pages, feed items and email
# ask for the same HTML of every fragment without images, which is rendered once.
_HTML_CACHE: WeakKeyDictionary[Markdown, _Rendered] = WeakKeyDictionary()


def _known(fragment: Markdown) -> _Rendered:
    known = _HTML_CACHE.get(fragment)
    if known is None:
        known = _HTML_CACHE[fragment] = _Rendered(fragment)
    return known


def to_html(
    fragment: Markdown | None,
    rewrite_src: Callable[[str], str] | None = None,
    styles: Mapping[str, str] | None = None,
    link_attrs: Mapping[str, str] | None = None,
) -> str:
    """Render a parsed fragment to HTML with the given output's rules."""
    if fragment is None:
        return ""
    known = _known(fragment)
    if known.has_images and rewrite_src is not None:
        return _render_html(fragment, rewrite_src, styles, link_attrs)  # image URLs of this output
    if not known.has_images:
        # the image URL rewrite and the img style only apply to images: without any,
        # outputs that differ only in those get the same bytes
        rewrite_src = None
        if styles and "img" in styles:
            styles = {tag: css for tag, css in styles.items() if tag != "img"}
    key = (tuple(sorted(styles.items())) if styles else (), tuple(sorted(link_attrs.items())) if link_attrs else ())
    html = known.html.get(key)
    if html is None:
        html = known.html[key] = _render_html(fragment, None, styles, link_attrs)
    return html


def _render_html(
    fragment: Markdown,
    rewrite_src: Callable[[str], str] | None,
    styles: Mapping[str, str] | None,
    link_attrs: Mapping[str, str] | None,
) -> str:
    renderer = StyledRenderer(rewrite_src, styles, link_attrs)
    return renderer.render(fragment.tokens, parser().options, {})

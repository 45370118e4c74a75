"""Markdown written back out from markdown-it tokens, for pasting into WeChat editors.

The loader parsed each fragment once; this module walks those tokens (read-only, as the
flat list with each block's closing index) and writes CommonMark that parses to the same structure.
Text is escaped so that it stays text: editors such as doocs/md accept raw HTML, KaTeX
(``$…$``) and GFM tables, so ``<``, ``$`` and ``|`` are escaped as well as the CommonMark
markup characters. Links are not written as links: WeChat articles cannot open them, so the
caller turns each into a numbered reference marker (see ``render/wechat.py``), except those it
keeps (``keep_link``). A URL is written as an autolink (``<https://…>``) or a ``<…>`` link
destination, never with backslash escapes: inside ``<…>`` a backslash is either shown (autolink)
or read as an escape (destination), so the characters those forms cannot hold are
percent-encoded instead, and the rendered ``href`` is the URL itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from markdown_it.token import Token

# Escaped everywhere: CommonMark inline markup plus what doocs/md-style editors add
# (raw HTML, GFM tables and strikethrough, KaTeX dollars).
ALWAYS = re.compile(r"([\\`*_\[\]<>~|$])")
ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# What either of the two may change: text without any is written as it is
SPECIAL = re.compile(r"[\\`*_\[\]<>~|$&]")
# Only meaningful as the first characters of a line: headings, lists, setext underlines.
LINE_START = re.compile(r"^(#|[-+=]|\d{1,9}(?=[.)]))")
WHITESPACE = re.compile(r"\s+")
BACKTICKS = re.compile(r"`+")
EMBEDDINGS = "\u202a\u202b\u202d\u202e"  # closed by U+202C POP DIRECTIONAL FORMATTING
ISOLATES = "\u2066\u2067\u2068"  # closed by U+2069 POP DIRECTIONAL ISOLATE
DIRECTIONAL = re.compile(f"[{EMBEDDINGS}{ISOLATES}]")

# What a URL inside <…> cannot hold as it is: line ends, spaces, controls, angle brackets;
# and backslashes, read as escapes in a link destination (markdown-it encodes them in an href)
URL_UNSAFE = re.compile(r"[\x00-\x20<>\\\x7f]")
AUTOLINK = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\x00-\x20]*$")  # CommonMark's URI autolink

# (link_open token, its inline siblings, its index) → marker text after the link, or None
LinkMarker = Callable[[Token, Sequence[Token], int], str | None]
# link_open token → the URL to keep it a Markdown link to, or None to mark it as a reference
KeepLink = Callable[[Token], str | None]


def escape(text: str, line_start: bool = False) -> str:
    """Text that renders as itself in CommonMark and GFM editors."""
    # Most text runs have nothing to escape: a search is ~10x cheaper than a sub whose
    # template must be expanded on every call.
    out = ALWAYS.sub(r"\\\1", text) if ALWAYS.search(text) else text
    if "&" in out:
        out = ENTITY.sub(r"\\&", out)
    if line_start:
        out = out.lstrip(" \t")
        match = LINE_START.match(out)
        if match:
            head = match.group(1)
            # "12." must become "12\." (the dot is the list marker), "#" becomes "\#"
            out = f"{head}\\{out[len(head) :]}" if head[0].isdigit() else f"\\{out}"
    return out


def url_text(url: str) -> str:
    """``url`` as Markdown shows it literally: an autolink whose rendered ``href`` is the URL."""
    safe = _percent_encode(url)
    # something that is not an absolute URL cannot be an autolink: code shows it without escapes
    return f"<{safe}>" if AUTOLINK.match(safe) else code_span(url)


def link_destination(url: str) -> str:
    """``url`` as the ``<…>`` destination of a Markdown link; entities would be decoded there."""
    return f"<{ENTITY.sub('&amp;', _percent_encode(url))}>"


def _percent_encode(url: str) -> str:
    if URL_UNSAFE.search(url) is None:
        return url  # nearly every URL
    return URL_UNSAFE.sub(lambda match: "".join(f"%{byte:02X}" for byte in match.group().encode()), url)


def one_line(text: str) -> str:
    """A metadata value on one line, its direction overrides closed so they cannot reverse what follows."""
    text = WHITESPACE.sub(" ", text).strip()
    if DIRECTIONAL.search(text) is None:
        return text  # nearly always: no override to close
    open_embeddings = sum(text.count(c) for c in EMBEDDINGS) - text.count("\u202c")
    open_isolates = sum(text.count(c) for c in ISOLATES) - text.count("\u2069")
    return text + "\u202c" * max(0, open_embeddings) + "\u2069" * max(0, open_isolates)


def escape_meta(text: str, line_start: bool = True) -> str:
    """A metadata value (title, author, venue) on one line, escaped as text."""
    return escape(one_line(text), line_start)


def heading(level: int, text: str) -> str:
    """An ATX heading of metadata text (``#`` escaped so none is read as a closing sequence)."""
    text = escape_meta(text, line_start=False).replace("#", "\\#")
    return "#" * level + " " + text


def plain_text(children: Sequence[Token]) -> str:
    """The visible text of inline tokens (link titles, image alt text)."""
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(plain_text(child.children or []))
    return "".join(parts)


class MarkdownWriter:
    """Writes parsed tokens as Markdown with this output's rules for links, images, headings."""

    def __init__(
        self,
        link_marker: LinkMarker,
        rewrite_src: Callable[[str], str] | None = None,
        heading_min: int = 1,
        heading_add: int = 0,
        keep_link: KeepLink | None = None,
    ) -> None:
        self.link_marker = link_marker
        self.rewrite_src = rewrite_src or (lambda src: src)
        self.heading_min = heading_min
        self.heading_add = heading_add
        self.keep_link = keep_link or (lambda token: None)

    def render(self, tokens: Sequence[Token]) -> str:
        """The fragment as Markdown, blocks separated by blank lines, ending in one newline."""
        # One pass over the flat token list: each container's blocks are written as they come
        # and joined at its closing token (no SyntaxTreeNode, no table of closing indices).
        blocks, _, _ = self._blocks(tokens, 0)
        text = "\n\n".join(blocks)
        return text + "\n" if text else ""

    # Blocks -----------------------------------------------------------------------------

    def _blocks(self, tokens: Sequence[Token], i: int) -> tuple[list[str], int, bool]:
        """The blocks from ``tokens[i]`` to the closing token of their container.

        Returns them unjoined (a list item's separator depends on its whole list), the index
        after that closing token, and whether any of them is a hidden (tight) paragraph.
        """
        out: list[str] = []
        hidden = False
        count = len(tokens)
        while i < count:
            token = tokens[i]
            kind = token.type
            if kind == "paragraph_open":
                hidden = hidden or token.hidden
                if i + 2 < count and tokens[i + 1].nesting == 0 and tokens[i + 2].nesting == -1:  # markdown-it's
                    out.append(self.inline(tokens[i + 1]))
                    i += 3
                else:
                    after = _after(tokens, i)
                    out.append(self.inline(tokens[i + 1]) if after > i + 2 else "")
                    i = after
            elif token.nesting == -1:
                return out, i + 1, hidden
            elif kind == "bullet_list_open" or kind == "ordered_list_open":
                text, i = self._list(tokens, i)
                out.append(text)
            elif kind == "heading_open":
                level = min(6, max(self.heading_min, int(token.tag[1]) + self.heading_add))
                after = _after(tokens, i)
                text = self.inline(tokens[i + 1]).replace("#", "\\#") if after > i + 2 else ""
                out.append(f"{'#' * level} {text}".rstrip())
                i = after
            elif kind == "blockquote_open":
                inner, i, _ = self._blocks(tokens, i + 1)
                out.append("\n".join(f"> {line}" if line else ">" for line in "\n\n".join(inner).split("\n")))
            elif kind == "code_block" or kind == "fence":
                out.append(self._fence(token.content, token.info if kind == "fence" else ""))
                i += 1
            elif kind == "hr":
                out.append("***")
                i += 1
            elif token.nesting == 1:  # an unknown container: left out with all it holds
                out.append("")
                i = _after(tokens, i)
            else:  # html_block cannot occur (raw HTML is off); anything else stays visible text
                out.append(escape(token.content, line_start=True))
                i += 1
        return out, i, hidden

    def _list(self, tokens: Sequence[Token], i: int) -> tuple[str, int]:
        """The list opened at ``tokens[i]``, and the index after its closing token."""
        opening = tokens[i]
        items: list[list[str]] = []
        tight = False  # tight lists are those whose paragraphs markdown-it hid
        i += 1
        while i < len(tokens) and tokens[i].nesting != -1:  # each list_item_open
            blocks, i, hidden = self._blocks(tokens, i + 1)
            items.append(blocks)
            tight = tight or hidden
        start = int(opening.attrGet("start") or 1)
        ordered = opening.type == "ordered_list_open"
        bullet = f"{opening.markup or '-'} "
        joiner = "\n" if tight else "\n\n"
        out = []
        for n, blocks in enumerate(items):
            # keep the source's marker so that two adjacent lists stay two lists
            marker = f"{start + n}{opening.markup or '.'} " if ordered else bullet
            text = joiner.join(blocks)
            if "\n" not in text:
                out.append((marker + text).rstrip())
                continue
            pad = " " * len(marker)
            lines = text.split("\n")
            rest = [f"{pad}{line}" if line else "" for line in lines[1:]]
            out.append("\n".join([(marker + lines[0]).rstrip(), *rest]))
        return joiner.join(out), i + 1

    @staticmethod
    def _fence(content: str, info: str) -> str:
        longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
        fence = "`" * max(3, longest + 1)
        info = info.strip()
        if "`" in info:  # a backtick fence cannot carry backticks in its info string
            tildes = max((len(run) for run in re.findall(r"~+", content)), default=0)
            fence = "~" * max(3, tildes + 1)
        body = content if content.endswith("\n") or not content else content + "\n"
        return f"{fence}{info}\n{body}{fence}"

    # Inline ------------------------------------------------------------------------------

    def inline(self, token: Token | None) -> str:
        """One inline token's children as Markdown (a paragraph's or heading's text)."""
        if token is None or not token.children:
            return ""
        children = token.children
        out: list[str] = []
        add = out.append
        line_start = True
        autolink = False
        for idx, child in enumerate(children):
            kind = child.type
            if kind == "text":
                text = child.content
                if autolink:
                    add(_percent_encode(text))  # backslash escapes do not work inside <…>
                elif line_start or SPECIAL.search(text):
                    add(escape(text, line_start))
                else:
                    add(text)  # most runs: nothing to escape
            elif kind == "strong_open" or kind == "strong_close":
                add("**")
            elif kind == "softbreak":
                add("\n")
                line_start = True
                continue
            elif kind == "code_inline":
                add(code_span(child.content))
            elif kind == "em_open" or kind == "em_close":
                add("*")
            elif kind == "link_open":
                autolink = child.markup == "autolink"
                add("<" if autolink else "[" if self.keep_link(child) else "")
            elif kind == "link_close":
                add(self._link_close(children, idx))
                autolink = False
            elif kind == "hardbreak":
                add("\\\n")
                line_start = True
                continue
            elif kind == "image":
                add(self._image(child))
            else:
                add(escape(child.content, line_start))  # html_inline is off; stay text if it appears
            line_start = False
        return "".join(out)

    def _link_close(self, children: Sequence[Token], idx: int) -> str:
        opening = matching_open(children, idx)
        if opening is None:
            return ""
        if children[opening].markup == "autolink":
            return ">"
        kept = self.keep_link(children[opening])
        if kept:
            return f"]({link_destination(kept)})"
        marker = self.link_marker(children[opening], children, opening)
        return f"\\[{marker}\\]" if marker else ""

    def _image(self, token: Token) -> str:
        alt = escape(plain_text(token.children or []))
        src = self.rewrite_src(str(token.attrGet("src") or ""))
        target = f"<{src}>" if re.search(r"[\s()<>]", src) else src
        title = token.attrGet("title")
        if title:
            quoted = str(title).replace("\\", "\\\\").replace('"', '\\"')
            target += f' "{quoted}"'
        return f"![{alt}]({target})"


def _after(tokens: Sequence[Token], i: int) -> int:
    """The index after the closing token of the block opened at ``tokens[i]``."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j + 1
    return len(tokens)


def code_span(content: str) -> str:
    """Inline code with a fence longer than any backtick run inside it."""
    if "`" in content:
        fence = "`" * (max(len(run) for run in BACKTICKS.findall(content)) + 1)
        pad = " " if content.startswith(("`", " ")) or content.endswith(("`", " ")) else ""
    else:
        fence = "`"
        pad = " " if content.startswith(" ") or content.endswith(" ") else ""
    return f"{fence}{pad}{content}{pad}{fence}"


def matching_open(children: Sequence[Token], close: int) -> int | None:
    depth = 0
    for idx in range(close - 1, -1, -1):
        if children[idx].type == "link_close":
            depth += 1
        elif children[idx].type == "link_open":
            if depth == 0:
                return idx
            depth -= 1
    return None

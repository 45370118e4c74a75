"""Markdown written back out from markdown-it tokens, for pasting into WeChat editors.

The loader parsed each fragment once; this module walks those tokens (read-only, as the
flat list with each block's closing index) and writes CommonMark that parses to the same structure.
Text is escaped so that it stays text: editors such as doocs/md accept raw HTML, KaTeX
(``$…$``) and GFM tables, so ``<``, ``$`` and ``|`` are escaped as well as the CommonMark
markup characters. Links are not written as links: WeChat articles cannot open them, so the
caller turns each into a numbered reference marker (see ``render/wechat.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from markdown_it.token import Token

# Escaped everywhere: CommonMark inline markup plus what doocs/md-style editors add
# (raw HTML, GFM tables and strikethrough, KaTeX dollars).
ALWAYS = re.compile(r"([\\`*_\[\]<>~|$])")
ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Only meaningful as the first characters of a line: headings, lists, setext underlines.
LINE_START = re.compile(r"^(#|[-+=]|\d{1,9}(?=[.)]))")
WHITESPACE = re.compile(r"\s+")
EMBEDDINGS = "\u202a\u202b\u202d\u202e"  # closed by U+202C POP DIRECTIONAL FORMATTING
ISOLATES = "\u2066\u2067\u2068"  # closed by U+2069 POP DIRECTIONAL ISOLATE
DIRECTIONAL = re.compile(f"[{EMBEDDINGS}{ISOLATES}]")

# (link_open token, its inline siblings, its index) → marker text after the link, or None
LinkMarker = Callable[[Token, Sequence[Token], int], str | None]


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
            out = f"{head}\\{out[len(head):]}" if head[0].isdigit() else f"\\{out}"
    return out


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
    ) -> None:
        self.link_marker = link_marker
        self.rewrite_src = rewrite_src or (lambda src: src)
        self.heading_min = heading_min
        self.heading_add = heading_add

    def render(self, tokens: Sequence[Token]) -> str:
        """The fragment as Markdown, blocks separated by blank lines, ending in one newline."""
        # The flat token list is walked with each opening token's closing index, rather than
        # through markdown-it's SyntaxTreeNode: building that tree cost a third of the time.
        body = _Blocks(tokens)
        text = self._blocks(body, 0, len(tokens), tight=False)
        return text + "\n" if text else ""

    # Blocks -----------------------------------------------------------------------------

    def _blocks(self, body: _Blocks, start: int, end: int, tight: bool) -> str:
        """The blocks ``tokens[start:end]``, each an opening..closing run or a single token."""
        return ("\n" if tight else "\n\n").join(self._block(body, i) for i in body.children(start, end))

    def _block(self, body: _Blocks, i: int) -> str:
        token = body.tokens[i]
        kind = token.type
        close = body.close[i]
        if kind == "paragraph_open":
            return self.inline(body.tokens[i + 1]) if close > i + 1 else ""
        if kind == "heading_open":
            level = min(6, max(self.heading_min, int(token.tag[1]) + self.heading_add))
            text = self.inline(body.tokens[i + 1]).replace("#", "\\#") if close > i + 1 else ""
            return f"{'#' * level} {text}".rstrip()
        if kind in ("bullet_list_open", "ordered_list_open"):
            return self._list(body, i)
        if kind == "blockquote_open":
            inner = self._blocks(body, i + 1, close, tight=False)
            return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
        if kind in ("code_block", "fence"):
            return self._fence(token.content, token.info if kind == "fence" else "")
        if kind == "hr":
            return "***"
        # html_block cannot occur (raw HTML is off); anything else unknown stays visible text
        return escape(token.content if token.nesting == 0 else "", line_start=True)

    def _list(self, body: _Blocks, i: int) -> str:
        opening = body.tokens[i]
        items = list(body.children(i + 1, body.close[i]))
        # tight lists are those whose paragraphs markdown-it hid
        tight = any(
            body.tokens[child].type == "paragraph_open" and body.tokens[child].hidden
            for item in items
            for child in body.children(item + 1, body.close[item])
        )
        start = int(opening.attrGet("start") or 1)
        ordered = opening.type == "ordered_list_open"
        out = []
        for n, item in enumerate(items):
            # keep the source's marker so that two adjacent lists stay two lists
            marker = f"{start + n}{opening.markup or '.'} " if ordered else f"{opening.markup or '-'} "
            text = self._blocks(body, item + 1, body.close[item], tight=tight)
            pad = " " * len(marker)
            lines = text.split("\n") if text else [""]
            rest = [f"{pad}{line}" if line else "" for line in lines[1:]]
            out.append("\n".join([(marker + lines[0]).rstrip(), *rest]))
        return ("\n" if tight else "\n\n").join(out)

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
        line_start = True
        autolink = False
        for idx, child in enumerate(children):
            if autolink and child.type == "text":
                out.append(child.content)  # backslash escapes do not work inside <…>
            else:
                out.append(self._inline_one(children, idx, line_start))
            if child.type == "link_open":
                autolink = child.markup == "autolink"
            elif child.type == "link_close":
                autolink = False
            line_start = child.type in ("softbreak", "hardbreak")
        return "".join(out)

    def _inline_one(self, children: Sequence[Token], idx: int, line_start: bool) -> str:
        child = children[idx]
        kind = child.type
        if kind == "text":
            return escape(child.content, line_start)
        if kind == "softbreak":
            return "\n"
        if kind == "hardbreak":
            return "\\\n"
        if kind == "code_inline":
            return code_span(child.content)
        if kind in ("em_open", "em_close"):
            return "*"
        if kind in ("strong_open", "strong_close"):
            return "**"
        if kind == "link_open":
            return "<" if child.markup == "autolink" else ""
        if kind == "link_close":
            return self._link_close(children, idx)
        if kind == "image":
            return self._image(child)
        return escape(child.content, line_start)  # html_inline is off; stay text if it appears

    def _link_close(self, children: Sequence[Token], idx: int) -> str:
        opening = matching_open(children, idx)
        if opening is None:
            return ""
        if children[opening].markup == "autolink":
            return ">"
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


class _Blocks:
    """Block tokens of a fragment with, for each opening token, the index of its closing one."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = tokens
        self.close = list(range(len(tokens)))  # a single token closes itself
        opened: list[int] = []
        for i, token in enumerate(tokens):
            if token.nesting == 1:
                opened.append(i)
            elif token.nesting == -1:
                self.close[opened.pop()] = i

    def children(self, start: int, end: int):
        """Indices of the blocks directly inside ``tokens[start:end]``."""
        i = start
        while i < end:
            yield i
            i = self.close[i] + 1


def code_span(content: str) -> str:
    """Inline code with a fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if content.startswith(("`", " ")) or content.endswith(("`", " ")) else ""
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

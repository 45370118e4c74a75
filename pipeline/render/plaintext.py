"""Markdown tokens → plain text for the text/plain part of the email.

Walks the markdown-it tokens the loader parsed (never the HTML) so the text part says the
same thing as the HTML part: headings marked, lists as ``- `` / ``1. ``, emphasis dropped,
links as ``text (URL)``, images as ``[图: alt] URL``, code kept verbatim. Lines are wrapped
to about 78 columns counting East Asian wide characters as two; a line may break between
two Chinese characters but never inside a Latin word or a URL, and never before closing
punctuation such as ``，`` or ``」``. A word longer than the line stays whole on its own line.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from dataclasses import dataclass
from typing import Any

from ..model import Markdown

WIDTH = 78
# Punctuation a line must not start with / must not end with (simplified kinsoku rules).
NO_START = set("，。、；：！？）】」』》〉”’…—～·,.;:!?)]}%")
NO_END = set("（【「『《〈“‘([{")
_ATOM = re.compile(r"\s+|\S")


def width(text: str) -> int:
    """Display columns of ``text``: wide and full-width characters count two, marks zero."""
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return total


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"


def _atoms(line: str) -> list[tuple[bool, str]]:
    """Unbreakable pieces of a line, each with whether a space preceded it."""
    atoms: list[tuple[bool, str]] = []
    space = False
    for match in _ATOM.finditer(line):
        piece = match.group()
        if piece.isspace():
            space = True
            continue
        if atoms and not space and not _breakable(atoms[-1][1], piece):
            atoms[-1] = (atoms[-1][0], atoms[-1][1] + piece)
        else:
            atoms.append((space, piece))
        space = False
    return atoms


def _breakable(before: str, char: str) -> bool:
    """Whether a line may break between ``before`` and ``char`` where no space separates them."""
    if char in NO_START or before[-1] in NO_END:
        return False
    # Without a space, only a wide character on either side makes a break point (CJK text);
    # everything else (Latin words, URLs, numbers) stays in one piece.
    return _is_wide(char) or _is_wide(before[-1])


def wrap(text: str, columns: int = WIDTH) -> list[str]:
    """Wrap one paragraph's text to ``columns``; hard line breaks (``\\n``) are kept."""
    lines: list[str] = []
    for hard in text.split("\n"):
        lines.extend(_wrap_line(hard, columns))
    return lines


def _wrap_line(line: str, columns: int) -> list[str]:
    # Same lines as wrapping atom by atom, without a Python step per character: one
    # str.translate gives every character a class, accumulate sums the widths, and each line
    # is the furthest end that fits (bisect), moved back to the nearest allowed break.
    text = _single_spaces(line).strip(" ")
    if not text:
        return [""]
    classes = text.translate(_CLASSES)
    # classes is ASCII: its bytes map to widths in one bytes.translate, summed in C
    widths = [0, *accumulate(classes.encode("ascii").translate(_WIDTH_BYTES))]
    if widths[-1] <= columns:
        return [text]
    out: list[str] = []
    start, total = 0, len(text)
    while start < total:
        end = bisect_right(widths, widths[start] + columns) - 1
        if end >= total:
            out.append(text[start:])
            break
        cut = end
        while cut > start and not _can_break(classes, cut):
            cut -= 1
        if cut == start:  # a piece wider than the line stays whole, on its own line
            cut = start + 1
            while cut < total and not _can_break(classes, cut):
                cut += 1
        out.append(text[start:cut].rstrip(" "))
        start = cut
        while start < total and text[start] == " ":
            start += 1
    return out


# Character classes for _wrap_line: s space; wide: w, W (no line start), O (no line end),
# z (zero width); narrow: n, N (no line start), P (no line end), c (zero width).
_WIDE_CLASSES, _NO_START_CLASSES, _NO_END_CLASSES = set("wWOz"), set("WN"), set("OP")
_CLASS_WIDTH = {"s": 1, "w": 2, "W": 2, "O": 2, "z": 0, "n": 1, "N": 1, "P": 1, "c": 0}
# class of a → classes b such that a line may break between a and b: _breakable, per class
_BREAK_BEFORE = {
    a: frozenset() if a in _NO_END_CLASSES else frozenset(
        b for b in _CLASS_WIDTH
        if b != "s" and b not in _NO_START_CLASSES and (a in _WIDE_CLASSES or b in _WIDE_CLASSES)
    )
    for a in _CLASS_WIDTH if a != "s"
}
_WIDTH_BYTES = bytes(_CLASS_WIDTH.get(chr(code), 0) for code in range(256))
_SPACES = re.compile(r"\s+")


def _single_spaces(line: str) -> str:
    """Every run of whitespace as one space."""
    # isprintable() is False for every whitespace character but " ", so a printable line
    # without "  " has nothing to replace; the regex costs ten times more on CJK text.
    if line.isprintable() and "  " not in line:
        return line
    return _SPACES.sub(" ", line)


class _Classes(dict):
    """Code point → class letter, worked out on first sight (str.translate calls __missing__)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char.isspace():
            kind = "s"
        elif char in NO_START:
            kind = "W" if _is_wide(char) else "N"
        elif char in NO_END:
            kind = "O" if _is_wide(char) else "P"
        elif unicodedata.combining(char):
            kind = "z" if _is_wide(char) else "c"
        else:
            kind = "w" if _is_wide(char) else "n"
        self[code] = kind
        return kind


_CLASSES = _Classes()


def _can_break(classes: str, at: int) -> bool:
    """Whether a line may end just before position ``at`` of the space-normalised text."""
    if at >= len(classes) or classes[at] == "s" or classes[at - 1] == "s":
        return True
    return classes[at] in _BREAK_BEFORE[classes[at - 1]]


def heading_lines(text: str, level: int) -> list[str]:
    """A heading as lines: levels 1 and 2 underlined with ``=`` / ``-``, deeper ones bracketed."""
    text = " ".join(text.split())
    if level >= 3:
        return wrap(f"【{text}】")
    lines = wrap(text)
    rule = "=" if level == 1 else "-"
    return [*lines, rule * max(3, min(max(width(line) for line in lines), WIDTH))]


def heading(text: str, level: int = 1) -> str:
    """``heading_lines`` joined: for templates."""
    return "\n".join(heading_lines(text, level))


@dataclass(frozen=True)
class _Prefix:
    """What goes before the first line of the next block and before every line after it."""

    first: str
    rest: str


class TextRenderer:
    """Renders a fragment's block tokens to wrapped plain-text lines."""

    def __init__(self, rewrite_src: Callable[[str], str] | None = None, columns: int = WIDTH) -> None:
        self.rewrite_src = rewrite_src
        self.columns = columns

    def render(self, tokens: Sequence[Any]) -> str:
        """The whole fragment; blocks apart by a blank line, tight list items by a newline."""
        out = ""
        previous_tight = False
        prefixes = [_Prefix("", "")]
        numbers: list[int | None] = []  # per open list: the next number, None for bullets
        heading = 0
        tight = False
        for token in tokens:
            kind = token.type
            if kind in ("bullet_list_open", "ordered_list_open"):
                numbers.append(int(token.attrGet("start") or 1) if kind == "ordered_list_open" else None)
            elif kind in ("bullet_list_close", "ordered_list_close"):
                numbers.pop()
                # The end of a whole list: what follows is apart, even another tight list.
                previous_tight = previous_tight and bool(numbers)
            elif kind == "list_item_open":
                marker = "- " if numbers[-1] is None else f"{numbers[-1]}. "
                if numbers[-1] is not None:
                    numbers[-1] += 1
                outer = prefixes[-1]
                prefixes.append(_Prefix(outer.first + marker, outer.rest + " " * len(marker)))
            elif kind == "blockquote_open":
                outer = prefixes[-1]
                prefixes.append(_Prefix(outer.first + "> ", outer.rest + "> "))
            elif kind in ("list_item_close", "blockquote_close"):
                prefixes.pop()
            elif kind == "heading_open":
                heading = int(token.tag[1:])
            elif kind == "paragraph_open":
                tight = token.hidden  # markdown-it hides the paragraphs of tight list items
            if kind not in ("inline", "fence", "code_block", "hr", "html_block"):
                continue
            block = self._block(token, heading, prefixes[-1])
            if out:
                out += "\n" if tight and previous_tight else "\n\n"
            out += block
            previous_tight, tight, heading = tight, False, 0
            # Later blocks of the same list item line up under its text, without the marker.
            prefixes[-1] = _Prefix(prefixes[-1].rest, prefixes[-1].rest)
        return out

    def _block(self, token: Any, heading: int, prefix: _Prefix) -> str:
        kind = token.type
        if kind == "inline":
            text = self.inline(token.children or [])
            if heading:
                return self._emit(heading_lines(text, heading), prefix)
            return self._emit(wrap(text, max(20, self.columns - width(prefix.rest))), prefix)
        if kind == "hr":
            return self._emit(["-" * 20], prefix)
        if kind == "html_block":  # only when raw HTML is enabled; shown as text then
            return self._emit(token.content.rstrip("\n").split("\n"), prefix)
        # Code keeps its lines exactly, indented so that it stands apart from prose.
        lines = token.content.rstrip("\n").split("\n")
        return self._emit(["    " + line if line else "" for line in lines], prefix)

    @staticmethod
    def _emit(lines: list[str], prefix: _Prefix) -> str:
        out = []
        for index, line in enumerate(lines):
            lead = prefix.first if index == 0 else prefix.rest
            out.append((lead + line).rstrip())
        return "\n".join(out)

    def inline(self, children: Sequence[Any]) -> str:
        """The text of inline tokens: emphasis dropped, links and images spelled out."""
        parts: list[str] = []
        links: list[tuple[str, int]] = []  # open links: (href, index of their first part)
        for child in children:
            kind = child.type
            if kind == "text" or kind == "html_inline":
                parts.append(child.content)
            elif kind == "code_inline":
                parts.append(f"`{child.content}`")
            elif kind == "softbreak":
                parts.append("\n\0")  # resolved below: a space, or nothing between CJK
            elif kind == "hardbreak":
                parts.append("\n")
            elif kind == "link_open":
                links.append((str(child.attrGet("href") or ""), len(parts)))
            elif kind == "link_close" and links:
                href, start = links.pop()
                label = "".join(parts[start:]).strip()
                if href and label != href and label != href.removeprefix("mailto:"):
                    parts.append(f" ({href})" if label else href)
            elif kind == "image":
                parts.append(self._image(child))
        return _join_softbreaks("".join(parts))

    def _image(self, token: Any) -> str:
        src = str(token.attrGet("src") or "")
        if self.rewrite_src is not None:
            src = self.rewrite_src(src)
        alt = "".join(c.content for c in token.children or [] if c.type in ("text", "code_inline"))
        return f"[图: {alt}] {src}" if alt else f"[图] {src}"


def _join_softbreaks(text: str) -> str:
    """A source line break inside a paragraph: nothing between CJK characters, else a space."""
    pieces = text.split("\n\0")
    out = pieces[0]
    for piece in pieces[1:]:
        before, after = out[-1:], piece[:1]
        joined = before and after and _is_wide(before) and _is_wide(after)
        out += ("" if joined else " ") + piece
    return out


def to_text(fragment: Markdown | None, rewrite_src: Callable[[str], str] | None = None, columns: int = WIDTH) -> str:
    """Render a parsed fragment as wrapped plain text (no trailing newline)."""
    if fragment is None:
        return ""
    return TextRenderer(rewrite_src, columns).render(fragment.tokens)

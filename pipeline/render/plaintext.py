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
from typing import Any

from pipeline.model import Markdown

WIDTH = 78
# Punctuation a line must not start with / must not end with (simplified kinsoku rules).
NO_START = set("，。、；：！？）】」』》〉”’…—～·,.;:!?)]}%")
NO_END = set("（【「『《〈“‘([{")


def width(text: str) -> int:
    """Display columns of ``text``: wide and full-width characters count two, marks zero."""
    if text.isascii():
        return len(text)  # every ASCII character takes one column, control characters too
    if text.isprintable():
        # Printable text has no whitespace but " ", so its column string's length is its
        # width (the column string gives other whitespace, such as U+3000, one column).
        return len(_columns(text))
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return total


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"


def wrap(text: str, columns: int = WIDTH) -> list[str]:
    """Wrap one paragraph's text to ``columns``; hard line breaks (``\\n``) are kept."""
    if "\n" not in text:
        return _wrap_line(text, columns)
    lines: list[str] = []
    for hard in text.split("\n"):
        lines.extend(_wrap_line(hard, columns))
    return lines


# Character classes: s space; narrow: n, N (no line start), P (no line end), c (mark, no
# column); wide: w, W (no line start), O (no line end), z (mark, no column).
_WIDE_CLASSES, _NO_START_CLASSES, _NO_END_CLASSES = set("wWOz"), set("WN"), set("OP")


def _classify(char: str) -> str:
    """The class letter of one character."""
    if char.isspace():
        return "s"
    if char in NO_START:
        return "W" if _is_wide(char) else "N"
    if char in NO_END:
        return "O" if _is_wide(char) else "P"
    if unicodedata.combining(char):
        return "z" if _is_wide(char) else "c"
    return "w" if _is_wide(char) else "n"


def _class_break(before: str, after: str) -> bool:
    """Whether a line may break between characters of classes ``before`` and ``after``."""
    if before == "s" or after == "s":
        return True
    if before in _NO_END_CLASSES or after in _NO_START_CLASSES:
        return False
    # Without a space, only a wide character on either side makes a break point (CJK text);
    # everything else (Latin words, URLs, numbers) stays in one piece.
    return before in _WIDE_CLASSES or after in _WIDE_CLASSES


# Wrapping works on a line's column string: each character written as its class letter once
# per column it takes, so that a column is an index and the width is the length. A wide
# character's second column is "_" ("o" for O), marks are written as nothing.
_COLUMN_STRINGS = {"s": "s", "n": "n", "N": "N", "P": "P", "w": "w_", "W": "W_", "O": "Oo", "z": "", "c": ""}
# code point → column string; every ASCII character is in it, others are added on first sight
_COLUMNS = {code: _COLUMN_STRINGS[_classify(chr(code))] for code in range(128)}
# The same for the BMP as a list, "\x80" where not known yet: str.translate indexes a list
# faster than it looks up a dict (a quarter less time on CJK lines).
_BMP_COLUMNS = ["\x80"] * 0x10000
_BMP_COLUMNS[:128] = [_COLUMNS[code] for code in range(128)]
# Two columns around a character boundary at which a line may break: the last column of the
# character before ("_" stands for w or W, which break alike) and the first of the one after.
# The two columns inside a wide character ("w_", "Oo") never match, so any column can be tried.
_BREAK_PAIRS = frozenset(
    left + right
    for left, before in {"s": "s", "n": "n", "N": "N", "P": "P", "_": "w", "o": "O"}.items()
    for right in "snNPwWO"
    if _class_break(before, right)
)


def _columns(text: str) -> str:
    """The column string of ``text`` (see ``_COLUMNS``)."""
    cols = text.translate(_BMP_COLUMNS)
    if cols.isascii():
        return cols
    # characters never seen before ("\x80"), or beyond the BMP (left as they are)
    for char in set(text):
        code = ord(char)
        if code not in _COLUMNS:
            _COLUMNS[code] = column = _COLUMN_STRINGS[_classify(char)]
            if code < 0x10000:
                _BMP_COLUMNS[code] = column
    cols = text.translate(_BMP_COLUMNS)
    return cols if cols.isascii() else text.translate(_COLUMNS)


def _wrap_line(line: str, columns: int) -> list[str]:
    # Each line is the furthest column that fits, moved back to the nearest allowed break;
    # str.translate and str.count do the per-character work.
    text = _single_spaces(line).strip(" ")
    if len(text) * 2 <= columns:  # fits, as no character takes more than two columns
        return [text]
    cols = _columns(text)
    total = len(cols)
    if total <= columns:
        return [text]
    second = cols.count("o")  # the rare no-line-end wide characters: no second count without them
    if total - cols.count("_") - second != len(text):  # marks change which characters meet
        return _wrap_with_marks(text, columns)
    out: list[str] = []
    start = first = 0  # the current line's first column and character
    while start < total:
        limit = start + columns
        if limit >= total:
            out.append(text[first:])
            break
        cut = limit
        while cut > start and cols[cut - 1 : cut + 1] not in _BREAK_PAIRS:
            cut -= 1
        if cut == start:  # a piece wider than the line stays whole, on its own line
            cut += 1
            while cut < total and cols[cut - 1 : cut + 1] not in _BREAK_PAIRS:
                cut += 1
        end = first + cut - start - cols.count("_", start, cut)
        if second:
            end -= cols.count("o", start, cut)
        out.append(text[first:end].rstrip(" "))
        if cut < total and cols[cut] == "s":  # lines never start with the space (spaces are single)
            cut += 1
            end += 1
        start, first = cut, end
    return out


def _wrap_with_marks(text: str, columns: int) -> list[str]:
    """``_wrap_line`` for space-normalised text with combining marks: per character classes."""
    classes = text.translate(_CLASSES)
    # classes is ASCII: its bytes map to widths in one bytes.translate, summed in C
    widths = [0, *accumulate(classes.encode("ascii").translate(_WIDTH_BYTES))]
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


_CLASS_WIDTH = {"s": 1, "w": 2, "W": 2, "O": 2, "z": 0, "n": 1, "N": 1, "P": 1, "c": 0}
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
        kind = self[code] = _classify(chr(code))
        return kind


_CLASSES = _Classes()


def _can_break(classes: str, at: int) -> bool:
    """Whether a line may end just before position ``at`` of the space-normalised text."""
    return at >= len(classes) or _class_break(classes[at - 1], classes[at])


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


class TextRenderer:
    """Renders a fragment's block tokens to wrapped plain-text lines."""

    def __init__(self, rewrite_src: Callable[[str], str] | None = None, columns: int = WIDTH) -> None:
        self.rewrite_src = rewrite_src
        self.columns = columns

    def render(self, tokens: Sequence[Any]) -> str:
        """The whole fragment; blocks apart by a blank line, tight list items by a newline."""
        out = ""
        previous_tight = tight = False
        # What goes before the first line of the next block and before every line after it;
        # outer holds those of the enclosing list items and quotes, as they were when opened.
        first = rest = ""
        outer: list[tuple[str, str]] = []
        numbers: list[int | None] = []  # per open list: the next number, None for bullets
        heading = 0
        for token in tokens:
            kind = token.type
            if kind == "inline":
                text = self.inline(token.children or [])
                if heading:
                    block = _prefixed(heading_lines(text, heading), first, rest)
                else:
                    # rest is ASCII (list markers, "> "), so its length is its width
                    block = _prefixed(wrap(text, max(20, self.columns - len(rest))), first, rest)
            elif kind in _SKIPPED:
                continue
            elif kind == "paragraph_open":
                tight = token.hidden  # markdown-it hides the paragraphs of tight list items
                continue
            elif kind == "list_item_open":
                number = numbers[-1]
                if number is None:
                    marker = "- "
                else:
                    marker = f"{number}. "
                    numbers[-1] = number + 1
                outer.append((first, rest))
                first, rest = first + marker, rest + " " * len(marker)
                continue
            elif kind == "list_item_close" or kind == "blockquote_close":
                first, rest = outer.pop()
                continue
            elif kind == "bullet_list_open" or kind == "ordered_list_open":
                numbers.append(int(token.attrGet("start") or 1) if kind == "ordered_list_open" else None)
                continue
            elif kind == "bullet_list_close" or kind == "ordered_list_close":
                numbers.pop()
                # The end of a whole list: what follows is apart, even another tight list.
                previous_tight = previous_tight and bool(numbers)
                continue
            elif kind == "blockquote_open":
                outer.append((first, rest))
                first, rest = first + "> ", rest + "> "
                continue
            elif kind == "heading_open":
                heading = int(token.tag[1:])
                continue
            elif kind == "fence" or kind == "code_block" or kind == "hr" or kind == "html_block":
                block = self._block(token, first, rest)
            else:
                continue
            if out:
                out += "\n" if tight and previous_tight else "\n\n"
            out += block
            previous_tight, tight, heading = tight, False, 0
            # Later blocks of the same list item line up under its text, without the marker.
            first = rest
        return out

    @staticmethod
    def _block(token: Any, first: str, rest: str) -> str:
        """A block other than text: a rule, or code (raw HTML too) with its lines kept."""
        kind = token.type
        if kind == "hr":
            lines = ["-" * 20]
        elif kind == "html_block":  # only when raw HTML is enabled; shown as text then
            lines = token.content.rstrip("\n").split("\n")
        else:
            # Code keeps its lines exactly, indented so that it stands apart from prose.
            lines = ["    " + line if line else "" for line in token.content.rstrip("\n").split("\n")]
        return "\n".join([(first + lines[0]).rstrip(), *[(rest + line).rstrip() for line in lines[1:]]])

    def inline(self, children: Sequence[Any]) -> str:
        """The text of inline tokens: emphasis dropped, links and images spelled out."""
        parts: list[str] = []
        add = parts.append
        links: list[tuple[str, int]] = []  # open links: (href, index of their first part)
        for child in children:
            kind = child.type
            if kind == "text":
                add(child.content)
            elif kind in _DROPPED:
                continue
            elif kind == "code_inline":
                add(f"`{child.content}`")
            elif kind == "softbreak":
                add("\n\0")  # resolved below: a space, or nothing between CJK
            elif kind == "html_inline":
                add(child.content)
            elif kind == "hardbreak":
                add("\n")
            elif kind == "link_open":
                links.append((str(child.attrGet("href") or ""), len(parts)))
            elif kind == "link_close" and links:
                href, start = links.pop()
                label = "".join(parts[start:]).strip()
                if href and label != href and label != href.removeprefix("mailto:"):
                    add(f" ({href})" if label else href)
            elif kind == "image":
                add(self._image(child))
        text = "".join(parts)
        return _join_softbreaks(text) if "\n\0" in text else text

    def _image(self, token: Any) -> str:
        src = str(token.attrGet("src") or "")
        if self.rewrite_src is not None:
            src = self.rewrite_src(src)
        alt = "".join(c.content for c in token.children or [] if c.type in ("text", "code_inline"))
        return f"[图: {alt}] {src}" if alt else f"[图] {src}"


# Block tokens with nothing to do: the closing tokens whose opening ones did it
_SKIPPED = frozenset({"paragraph_close", "heading_close"})
# Inline tokens that leave nothing in the text (emphasis is dropped)
_DROPPED = frozenset({"strong_open", "strong_close", "em_open", "em_close"})


def _prefixed(lines: list[str], first: str, rest: str) -> str:
    """Wrapped lines (none ends in whitespace) after their prefixes, as one string."""
    if not rest:  # outside lists and quotes (rest is empty only when first is)
        return "\n".join(lines)
    head = lines[0]
    out = [first + head if head else first.rstrip()]
    if len(lines) > 1:
        bare = rest.rstrip()
        out.extend(rest + line if line else bare for line in lines[1:])
    return "\n".join(out)


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

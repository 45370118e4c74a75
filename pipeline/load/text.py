"""Checks on the text of an issue that need no parsing: one-line fields and scaffold leftovers.

The loader calls these for every issue of a build, so each is a regex search or a set lookup.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from pipeline.errors import SCAFFOLD_TEXT, Problem
from pipeline.yamlio import key_line

if TYPE_CHECKING:
    from pipeline.model import Issue, Markdown

# Text keys that may span lines. Every other text value (and every list item) is one line: it
# becomes an email subject, a page <title>, a feed title or a line of the plain-text mail, where
# a line break would split a header (the email package refuses it when sending) or the layout.
MULTI_LINE_KEYS = frozenset({"summary", "intro", "outro"})
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # multi-line text keeps tab, LF and CR
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# The embeddings and overrides (closed by U+202C) and the isolates (closed by U+2069) of Unicode's
# bidirectional algorithm. Closed within a one-line value, one turns only that value around (the
# author's text: Arabic in a title); left open, it also turns what follows the value where it
# lands: the site's name after a page's <title>, a tag's count on the tag list.
_OPENS = {"\u202a": "\u202c", "\u202b": "\u202c", "\u202d": "\u202c", "\u202e": "\u202c"}
_OPENS.update({"\u2066": "\u2069", "\u2067": "\u2069", "\u2068": "\u2069"})
_DIRECTION = re.compile("[\u202a-\u202e\u2066-\u2069]")
# A tag is a short label: its page's name (a slug) keeps 60 characters, so two longer tags that
# begin alike would share a page, and a sentence pasted as a tag fills a phone's screen.
TAG_CHARS = 60

# Keys of issue.yaml whose scaffold value is an instruction, not text to keep. The outro's
# example ("欢迎转发给需要的朋友。") is left out: it is a closing line an editor may well keep.
_ISSUE_EXAMPLE_KEYS = ("summary", "intro")


def text_problem(key: str, value: str) -> str | None:
    """What is wrong with a text value of ``key`` (control characters, line breaks), or None.

    ``value`` is the text as it will be used (the loader strips titles and names first, so a
    block scalar's final newline is no problem).
    """
    found = (_NOT_TEXT if key in MULTI_LINE_KEYS else _NOT_ONE_LINE).search(value)
    if found is None:
        return None if key in MULTI_LINE_KEYS else _direction_problem(key, value)
    char = found.group()
    shown = value if len(value) <= 40 else value[:40] + "…"
    code = f"U+{ord(char):04X}"
    if char in _LINE_BREAKS:
        return f"{key}: {shown!r} has a line break ({code}); this must be one line: join the lines"
    if char == "\t":
        return f"{key}: {shown!r} has a tab ({code}); use a space instead"
    return f"{key}: {shown!r} has an invisible control character ({code}); delete it"


def _direction_problem(key: str, value: str) -> str | None:
    """A one-line value that turns the text around and does not turn it back (see _OPENS)."""
    if not _DIRECTION.search(value):  # nearly always: no such character at all
        return None
    still_open: list[str] = []  # the characters that opened a change of direction, innermost last
    for char in _DIRECTION.findall(value):
        if char in _OPENS:
            still_open.append(char)
        elif char == "\u202c":  # closes the innermost embedding, unless an isolate is open inside it
            if still_open and _OPENS[still_open[-1]] == char:
                still_open.pop()
        elif any(_OPENS[opening] == char for opening in still_open):
            while _OPENS[still_open.pop()] != char:  # a closing isolate closes the embeddings in it too
                pass
    if not still_open:
        return None
    shown = value if len(value) <= 40 else value[:40] + "…"
    return (
        f"{key}: {shown!r} has an invisible character that turns the text after it around "
        f"(U+{ord(still_open[0]):04X}) and does not turn it back; delete it"
    )


def tag_problem(tag: str) -> str | None:
    """What is wrong with a tag beyond its text (see :func:`text_problem`), or None."""
    if len(tag) <= TAG_CHARS:
        return None
    return (
        f"tags: {tag[:20] + '…'!r} is {len(tag)} characters long, and a tag is a label of at most {TAG_CHARS}: "
        "shorten it (a sentence belongs in the summary)"
    )


class ScaffoldText(NamedTuple):
    """The example text `publish init` / `publish new` write, for spotting it left in place."""

    issue: dict[str, str]  # issue.yaml key → its example value, stripped
    entry: frozenset[str]  # the example entry's paragraphs and list items, as inline token content


@cache
def scaffold_text() -> ScaffoldText:
    """The example sentences of pipeline/load/examples.py, read from its templates once per process."""
    from pipeline import markdown
    from pipeline.load import examples
    from pipeline.yamlio import YamlSyntaxError, parse_yaml

    try:
        # format_map with a default: the template's placeholders (title, …) need some value
        meta = parse_yaml(examples.ISSUE_TEMPLATE.format_map(defaultdict(lambda: "x")))
        lines = examples.ENTRY_TEMPLATE.split("\n")
        closing = lines.index("---", 1)  # the front matter's closing line
    except (AttributeError, KeyError, ValueError, YamlSyntaxError):
        return ScaffoldText({}, frozenset())  # a reshaped scaffold: tests/load/test_loader.py notices
    issue = {k: meta[k].strip() for k in _ISSUE_EXAMPLE_KEYS if isinstance(meta, dict) and isinstance(meta.get(k), str)}
    tokens = markdown.parse("\n".join(lines[closing + 1 :])).tokens
    # every paragraph and list item; headings (研究背景 …) are the real section names to keep
    entry = frozenset(
        t.content for i, t in enumerate(tokens) if t.type == "inline" and tokens[i - 1].type != "heading_open"
    )
    return ScaffoldText(issue, entry)


def example_text_left(issue: Issue) -> list[Problem]:
    """Errors (code SCAFFOLD_TEXT) where the issue still holds the example text `publish new`
    wrote: its summary, its intro, and per entry the first of its example paragraphs.

    The loader only warns about these (a fresh scaffold must check clean enough to build);
    publishing them would mail an instruction to every subscriber, so the publisher refuses.
    Found on the loaded issue itself, not by reading the loader's messages.
    """
    examples = scaffold_text()
    yaml_path = issue.folder / "issue.yaml"
    found = []
    for key, value in (("summary", issue.summary), ("intro", issue.intro.source if issue.intro else None)):
        if value is not None and value.strip() == examples.issue.get(key):
            line = key_line(yaml_path.read_text("utf-8"), key)
            found.append(
                Problem(yaml_path, line, f"{key} is still the example text from `publish new`", code=SCAFFOLD_TEXT)
            )
    for paper in issue.papers:
        lines = [
            line
            for fragment in _fragments(paper.lead, *(s.body for s in paper.sections))
            for line in _example_lines(fragment, examples.entry)
        ]
        if lines:
            what = f"{len(lines)} paragraphs or list items are" if len(lines) > 1 else "a paragraph is"
            found.append(
                Problem(
                    paper.path,
                    lines[0],
                    f"{what} still example text from `publish new`, the first on this line",
                    code=SCAFFOLD_TEXT,
                )
            )
    return found


def _fragments(*fragments: Markdown | None) -> list[Markdown]:
    return [f for f in fragments if f is not None]


def _example_lines(fragment: Markdown, examples: frozenset[str]) -> list[int]:
    """File lines of the fragment's paragraphs and list items that are example text."""
    maps = [t.map[0] for t in fragment.tokens if t.map]
    if not maps:
        return []
    # Token maps count from the start of the entry's body; fragment.line is its first line in the file.
    offset = fragment.line - maps[0]
    return [offset + t.map[0] for t in fragment.tokens if t.type == "inline" and t.map and t.content in examples]

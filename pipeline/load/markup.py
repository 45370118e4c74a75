"""Markdown that every output shows as its source text: pipe tables and raw HTML tags.

The Markdown engine is CommonMark with raw HTML off, on purpose (nothing from an issue folder
becomes markup the pipeline did not write). So a GitHub-style table stays a paragraph of
``| a | b |`` lines (one run-on line in the plain-text email) and ``<b>强烈推荐</b>`` is shown
tags and all. The loader warns about both, reading the inline tokens it walks already; it
calls :func:`markup_warning` only for a token whose text holds a ``|``, a ``<`` or a ``](``
(a link whose target the engine refuses, ``javascript:`` say, shows as its source text), and that
reads the token without changing it (tokens are shared by every output).
"""

from __future__ import annotations

import re
from typing import Any

# A table's delimiter row: cells of dashes with optional colons, between pipes (GFM).
_DELIMITER_ROW = re.compile(r"^[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)*[ \t]*:?-+:?[ \t]*\|?[ \t]*$", re.MULTILINE)
# Tag names of HTML an editor would type. Not every <word>: <s>, <pad> and <T> are tokens and
# type parameters in papers' text; a backslash before < is Markdown's way to write it literally.
_TAG_NAMES = "a|abbr|audio|b|big|blockquote|br|button|center|code|del|details|div|em|embed|font|form|h[1-6]|hr|i|iframe|img|input|ins|kbd|li|mark|object|ol|p|pre|script|small|span|strong|style|sub|summary|sup|svg|table|tbody|td|th|thead|tr|u|ul|video"
_HTML = re.compile(rf"(?<!\\)(?:<(/?)({_TAG_NAMES})(?=[\s/>])[^<>]*>|<!--)", re.IGNORECASE)
# Tags with a Markdown form, written with the tag's own text: (pattern, replacement)
_MARKDOWN_FORMS = {
    "b": (r"<(b|strong)\b[^>]*>([^<]+)</\1>", r"**\2**"),
    "i": (r"<(i|em)\b[^>]*>([^<]+)</\1>", r"*\2*"),
    "a": (r"<a\b[^>]*?href=[\"']?([^\"'\s>]+)[\"']?[^>]*>([^<]+)</a>", r"[\2](\1)"),
    "code": (r"<code\b[^>]*>([^<]+)</code>", r"`\1`"),
}
_SAME_FORM = {"strong": "b", "em": "i"}
# Link targets markdown-it refuses (the link then shows as its source text, brackets and all).
_REFUSED_LINK = re.compile(r"\]\(\s*<?\s*((?:javascript|vbscript|data|file):)", re.IGNORECASE)
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_TABLE_TAGS = frozenset({"table", "tbody", "thead", "tr", "td", "th"})
_EXAMPLE_LIMIT = 60


def markup_warning(token: Any) -> tuple[str, int] | None:
    """A warning about an inline token's pipe table or raw HTML, and the line within the token."""
    content: str = token.content
    if "|" in content and "\n" in content:
        for match in _DELIMITER_ROW.finditer(content):
            row = content.count("\n", 0, match.start())
            if row > 0 and "|" in match.group():
                return _table_message(content.split("\n"), row), row - 1
    if "](" in content:
        texts = [c.content for c in token.children or () if c.type == "text"]
        refused = next((m for m in _REFUSED_LINK.finditer(content) if any("](" in t for t in texts)), None)
        if refused is not None:
            scheme = refused.group(1).lower()
            message = f"a link to {scheme} is not allowed and is shown as text, brackets and all: link to an https:// address, or delete it"
            return message, content.count("\n", 0, refused.start())
    if "<" in content:
        # `<b>` in code is not a tag (blanked, keeping the line breaks), nor is \<b> (escaped),
        # nor a link's <destination> (not in the text children)
        if "`" in content:
            content = _CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), content)
        texts = [c.content for c in token.children or () if c.type == "text"]
        for match in _HTML.finditer(content):
            if any(match.group() in text for text in texts):
                return _html_message(content, match), content.count("\n", 0, match.start())
    return None


def _table_message(lines: list[str], delimiter: int) -> str:
    header = _cells(lines[delimiter - 1])
    row = _cells(lines[delimiter + 1]) if delimiter + 1 < len(lines) else header
    example = "- " + row[0] if row else "- …"
    pairs = [f"{h} {c}".strip() for h, c in zip(header[1:], row[1:]) if c] if row is not header else []
    if pairs:
        example += ": " + ", ".join(pairs)
    if len(example) > _EXAMPLE_LIMIT:
        example = example[:_EXAMPLE_LIMIT] + "…"
    return f"tables are not supported: the rows show as | text in every output (run together in the plain-text email): write it as a list, one item per row, e.g. {example}"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _html_message(content: str, match: re.Match[str]) -> str:
    if match.group() == "<!--":
        return "an HTML comment <!-- … --> is shown to readers as text: delete it"
    name = match.group(2).lower()
    if name in _TABLE_TAGS:
        return f"raw HTML <{name}> is shown as text: tables are not supported, write it as a list (- one item per row)"
    if name in ("br", "p"):
        return f"raw HTML <{name}> is shown as text: delete it and leave an empty line where a new paragraph starts"
    form = _MARKDOWN_FORMS.get(_SAME_FORM.get(name, name))
    found = re.search(form[0], content, re.IGNORECASE) if form else None
    if found is not None:
        return f"raw HTML is shown as text, tags and all: write {found.expand(form[1])} instead of {found.group()}"
    return f"raw HTML <{name}> is shown as text, tags and all: use Markdown (**bold**, *italic*, [link](url)) or delete the tags"

"""One paper entry (``NN-slug.md``) → :class:`Paper`, per ../FORMAT.md, every problem with its line.

The issue loader (:mod:`pipeline.load.issues`) calls :func:`load_entry` for each entry file of a
folder and :func:`check_duplicates` on what they gave. An entry is front matter (YAML keys,
checked against :data:`PAPER_KEYS`) and a Markdown body: a lead, then ``## `` sections. The
body is checked even when the front matter is broken, and an entry with errors still yields its
arXiv id, so that one run reports all there is to fix. Writing entries is :mod:`pipeline.authoring.add`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from pipeline.errors import Problem
from pipeline.load.keys import (
    Collector,
    check_hidden,
    check_link_or_file,
    check_types,
    is_url,
    parse_mapping,
    read_text,
)
from pipeline.load.markup import markup_warning
from pipeline.load.text import scaffold_text
from pipeline.model import ARXIV_ID, Markdown, Paper, Section
from pipeline.yamlio import key_line

# (key, accepted types, required); see FORMAT.md
PAPER_KEYS: dict[str, tuple[tuple[type, ...], bool]] = {
    "title": ((str,), True),
    "title_translated": ((str,), False),
    "authors": ((list,), True),
    "venue": ((str,), False),
    "year": ((int,), False),
    "arxiv": ((str,), False),
    "url": ((str,), False),
    "pdf": ((str,), False),
    "rating": ((int,), False),
    "tags": ((list,), False),
}
_PAPER_TITLE_HINT = 'write the paper\'s title as published, e.g. `title: "Attention Is All You Need"`'


class Entry(NamedTuple):
    """What loading one entry file gave: the paper if it is valid, and its arXiv id if that is."""

    path: Path
    paper: Paper | None = None
    arxiv_base: str | None = None  # kept when the entry has other errors: repeats are found all the same
    front: str = ""  # the front matter, for the line of `arxiv:` should it be a repeat


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """``(yaml text, body, body's first line)``, or None when there is no front matter."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return None


def load_entry(path: Path, folder: Path, problems: list[Problem]) -> Entry:
    """Load one entry file of ``folder``; append its problems; the paper is None if any is an error."""
    text = read_text(path, folder, problems)
    if text is None:
        return Entry(path)
    parts = split_front_matter(text)
    if parts is None:
        if text.split("\n", 1)[0].strip() == "---":
            message = (
                "the front matter opened here is never closed: add a `---` line after the last key (title, authors, …)"
            )
        else:
            message = "no front matter: start the file with a `---` line, the YAML keys (title, authors, …), then another `---` line"
        problems.append(Problem(path, 1, message))
        return Entry(path)
    front, body, body_line = parts
    out = Collector(path, problems, front, first_line=2)
    meta = parse_mapping(front, 2, out, "front matter must be a block of `key: value` lines")
    valid = check_types(meta, PAPER_KEYS, out, _PAPER_TITLE_HINT) if meta is not None else {}
    arxiv = _check_paper_values(valid, out)
    check_hidden(PAPER_KEYS, out, _PAPER_TITLE_HINT, lambda one: _check_paper_values(one, out))
    # The body does not depend on the front matter: checked even when that is broken.
    lead, sections = _load_body(body, body_line, folder, out)
    base = ARXIV_ID.match(arxiv).group(1) if arxiv else None
    entry = Entry(path, None, base, front)
    if out.errors or meta is None:
        return entry
    url = valid.get("url") or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None)
    pdf = valid.get("pdf") or (f"https://arxiv.org/pdf/{arxiv}" if arxiv else None)
    paper = Paper(
        slug=path.stem,
        path=path,
        title=valid["title"].strip(),
        authors=tuple(a.strip() for a in valid.get("authors") or ()),
        title_translated=(valid.get("title_translated") or "").strip() or None,
        venue=(valid.get("venue") or "").strip() or None,
        year=valid.get("year"),
        arxiv=arxiv,
        url=url,
        pdf=pdf,
        rating=valid.get("rating"),
        tags=tuple(t.strip() for t in valid.get("tags") or ()),
        lead=lead,
        sections=sections,
    )
    return entry._replace(paper=paper)


def _check_paper_values(valid: dict[str, Any], out: Collector) -> str | None:
    """Check the values that have a shape beyond their type; return the arXiv id if it is valid."""
    arxiv = valid.get("arxiv")
    if arxiv is not None:
        arxiv = arxiv.strip().removeprefix("arXiv:").removeprefix("arxiv:")
        if not ARXIV_ID.match(arxiv):
            out.error(
                f"arxiv: {valid['arxiv']!r} is not an arXiv id like 2409.14274 or 2409.14274v2: copy the id from the paper's arxiv.org address",
                key="arxiv",
            )
            arxiv = None
    for key in ("url", "pdf"):
        if valid.get(key) and not is_url(valid[key]):
            out.error(
                f"{key}: {valid[key]!r} is not an http(s) URL: write the full address, starting with https://", key=key
            )
    rating = valid.get("rating")
    if rating is not None and not 0 <= rating <= 10:
        out.error(f"rating: {rating} is outside 0..10: give a score from 0 to 10", key="rating")
    year = valid.get("year")
    if year is not None and not 1900 <= year <= 2200:
        out.error(
            f"year: {year} does not look like a year: write the four-digit year of publication, e.g. year: 2024",
            key="year",
        )
    return arxiv


def _load_body(body: str, body_line: int, folder: Path, out: Collector) -> tuple[Markdown | None, tuple[Section, ...]]:
    """Parse the body into lead and sections; check its images and what the editor left unwritten."""
    from pipeline.markdown import MAX_INLINE_DEPTH, NESTING_MESSAGE, inline_depth  # loaded by the split below

    lead, sections, empty = _split_sections(body, body_line)
    fragments = [lead, *(s.body for s in sections)] if lead is not None else [s.body for s in sections]
    examples = scaffold_text().entry
    leftover: list[tuple[str, int]] = []
    # One pass over the shared tokens (read only). Their map is relative to the whole body.
    for fragment in fragments:
        for token in fragment.tokens:
            if token.type != "inline":
                continue
            line = body_line + token.map[0] if token.map else fragment.line
            content = token.content
            if content in examples:
                leftover.append((content, line))
            if "|" in content or "<" in content or "](" in content:  # a table, HTML or a refused link: looked at closer
                markup = markup_warning(token)
                if markup is not None:
                    out.warning(markup[0], line + markup[1])
            for child in token.children or ():
                if child.type == "image":
                    check_link_or_file(str(child.attrGet("src") or ""), folder, out, "image", line, encoded=True)
            depth = inline_depth(token)
            if depth > MAX_INLINE_DEPTH:
                out.error(NESTING_MESSAGE.format(depth=depth, limit=MAX_INLINE_DEPTH), line)
    if leftover:
        more = f" and {len(leftover) - 1} more" if len(leftover) > 1 else ""
        out.warning(
            f"example text from `publish new` is still here: {leftover[0][0]!r}{more}; write the digest in its place",
            leftover[0][1],
        )
    if empty:
        names = ", ".join(f"## {title} (line {line})" for title, line in empty)
        out.warning(
            f"empty section{'s' if len(empty) > 1 else ''} {names}: write {'them' if len(empty) > 1 else 'it'} or delete the heading{'s' if len(empty) > 1 else ''}",
            empty[0][1],
        )
    if not sections and (lead is None or lead.is_empty):
        # at the front matter's closing line: the body may have no line of its own
        out.warning(
            "entry has no text after its front matter: add a lead paragraph and `## ` sections below this line",
            body_line - 1,
        )
    return lead, sections


def _split_sections(body: str, body_line: int) -> tuple[Markdown | None, tuple[Section, ...], list[tuple[str, int]]]:
    """Split a parsed body at its level-2 headings, keeping each part's own tokens.

    Also returns ``(title, file line)`` of each heading with nothing under it.
    """
    from pipeline import markdown

    whole = markdown.parse(body, body_line)
    tokens = whole.tokens
    starts = [i for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2" and t.level == 0]
    lines = body.splitlines(keepends=True)

    def fragment(start: int, end: int) -> Markdown:
        part = tokens[start:end]
        first = next((t.map[0] for t in part if t.map), 0)
        last = max((t.map[1] for t in part if t.map), default=first)
        return Markdown("".join(lines[first:last]), part, body_line + first)

    lead = fragment(0, starts[0]) if starts else fragment(0, len(tokens))
    sections, empty = [], []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(tokens)
        title = tokens[start + 1].content.strip()
        if end == start + 3:  # heading_open, inline, heading_close and nothing else
            empty.append((title, body_line + tokens[start].map[0]))
        sections.append(Section(title, fragment(start + 3, end)))
    return (lead if lead.tokens else None), tuple(sections), empty


def check_duplicates(entries: list[Entry], problems: list[Problem]) -> None:
    """The same arXiv paper twice in one issue, whether or not the entries have other errors."""
    seen: dict[str, Entry] = {}
    for entry in entries:
        key = entry.arxiv_base
        if not key:
            continue
        if key in seen:
            problems.append(
                Problem(
                    entry.path,
                    key_line(entry.front, "arxiv", 2),
                    f"arXiv {key} is already in this issue as {seen[key].path.name}",
                )
            )
        else:
            seen[key] = entry

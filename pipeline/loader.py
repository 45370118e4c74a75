"""Issue folders → model, per ../FORMAT.md. Every problem is collected with its file and line.

``load_issue`` never stops at the first problem: it records each one as a :class:`Problem`
and returns the issue only when there were no errors (warnings are fine). A key with a bad
value is left out of the checks that build on it; every other key is still checked, so one
run of ``publish check`` shows all there is to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from .config import Config
from .errors import Problem
from .folders import featured_papers, fingerprint, issue_folders
from .model import ARXIV_ID, Issue, Markdown, Paper, Section, is_issue_id
from .textchecks import scaffold_text, text_problem
from .yamlio import DuplicateKey, YamlSyntaxError, duplicate_message, key_line, parse_yaml

ENTRY_NAME = re.compile(r"^\d+-[\w.-]+\.md$")

# (key, accepted types, required); see FORMAT.md
ISSUE_KEYS: dict[str, tuple[tuple[type, ...], bool]] = {
    "title": ((str,), True),
    "date": ((date, str), False),
    "publish_at": ((datetime, date, str), False),
    "summary": ((str,), False),
    "intro": ((str,), False),
    "outro": ((str,), False),
    "cover": ((str,), False),
    "tags": ((list,), False),
    "channels": ((list,), False),
    "draft": ((bool,), False),
    "source": ((str,), False),
}
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
_TYPE_WORDS = {str: "text", int: "a whole number", list: "a list", bool: "true or false", date: "a date", datetime: "a date and time"}
_ISSUE_TITLE_HINT = "write the issue's title (the page title and the email subject), e.g. `title: 论文速递 · 第 12 期`"
_PAPER_TITLE_HINT = 'write the paper\'s title as published, e.g. `title: "Attention Is All You Need"`'


@dataclass
class LoadResult:
    """What loading a set of issues found: the valid issues and every problem."""

    issues: list[Issue] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


class _Collector:
    """Problems about one file, with the file's text at hand for finding key lines."""

    def __init__(self, path: Path, problems: list[Problem], text: str = "", first_line: int = 1) -> None:
        self.path, self.problems, self.text, self.first_line = path, problems, text, first_line
        self.errors = 0
        self.repeated: dict[str, int] = {}  # top-level key given twice → the line of the value in use

    def error(self, message: str, line: int | None = None, key: str | None = None) -> None:
        self.errors += 1
        self._add("error", message, line, key)

    def warning(self, message: str, line: int | None = None, key: str | None = None) -> None:
        self._add("warning", message, line, key)

    def _add(self, severity: str, message: str, line: int | None, key: str | None) -> None:
        if line is None and key is not None:
            line = self.repeated.get(key) or key_line(self.text, key, self.first_line)
        self.problems.append(Problem(self.path, line, message, severity))


class _Entry(NamedTuple):
    """What loading one entry file gave: the paper if it is valid, and its arXiv id if that is."""

    path: Path
    paper: Paper | None = None
    arxiv_base: str | None = None  # kept when the entry has other errors: repeats are found all the same
    front: str = ""  # the front matter, for the line of `arxiv:` should it be a repeat


def load_issues(config: Config, ids: Iterable[str] | None = None) -> LoadResult:
    """Load the requested issues (all by default), collecting every problem."""
    result = LoadResult()
    folders = issue_folders(config, ids)
    for issue_id, folder in folders:
        issue = load_issue(folder, config, result.problems)
        if issue is not None:
            result.issues.append(issue)
    _warn_repeated_papers(config, result)
    return result


def load_issue(folder: Path, config: Config, problems: list[Problem], content_hash: str | None = None) -> Issue | None:
    """Load one issue folder; append its problems; return None if any is an error.

    ``content_hash`` is the folder's :func:`fingerprint` when the caller has it already
    (the build hashes every folder first), so that the files are not read twice.
    """
    before = len(problems)
    if not is_issue_id(folder.name):
        problems.append(Problem(folder, None, "folder name is not an issue id: use YYYY-MM-DD or YYYY-MM-DD-slug (slug: a-z, 0-9, -)"))
        return None
    meta_path = folder / "issue.yaml"
    meta, meta_text = _read_issue_yaml(meta_path, problems)
    files, misnamed = _entry_files(folder, problems)
    entries = [_load_paper(path, folder, problems) for path in files]
    _check_duplicates(entries, problems)
    issue = None
    if meta is not None:
        papers = tuple(e.paper for e in entries if e.paper is not None)
        issue = _build_issue(folder, meta, meta_text, papers, config, _Collector(meta_path, problems, meta_text), content_hash)
    if not files and not misnamed:  # entries that failed to load are reported already
        problems.append(Problem(folder, None, "issue has no paper entries (NN-slug.md files)", "warning"))
    if any(p.is_error for p in problems[before:]):
        return None
    return issue


def _read_issue_yaml(path: Path, problems: list[Problem]) -> tuple[dict[str, Any] | None, str]:
    if not path.is_file():
        problems.append(Problem(path, None, "missing issue.yaml: every issue folder needs one with at least `title:`"))
        return None, ""
    text = _read_text(path, problems)
    if text is None:
        return None, ""
    data = _parse_mapping(text, 1, _Collector(path, problems, text), "issue.yaml must be a block of `key: value` lines")
    return data, text


def _parse_mapping(text: str, first_line: int, out: _Collector, not_a_mapping: str) -> dict[str, Any] | None:
    """The YAML mapping in ``text``, or None after reporting why there is none.

    A key given twice is an error at its second line; the mapping is still returned (with the
    later value, as YAML has it) so that the other keys are checked in the same run.
    """
    repeats: list[DuplicateKey] = []
    try:
        data = parse_yaml(text, first_line, repeats)
    except YamlSyntaxError as exc:
        out.error(exc.message, exc.line)
        return None
    lines = text.split("\n") if repeats else []
    for repeat in repeats:
        out.error(duplicate_message(repeat), repeat.line)
        index = repeat.line - first_line
        # a top-level key (not one of a nested mapping): YAML keeps this later value, point at it
        if isinstance(repeat.key, str) and 0 <= index < len(lines) and key_line(lines[index], repeat.key):
            out.repeated[repeat.key] = repeat.line
    if not isinstance(data, dict):
        out.error(not_a_mapping, first_line)
        return None
    return data


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(path, line, "not UTF-8 text: save the file as UTF-8"))
        return None
    return text.removeprefix("\ufeff")


def _entry_files(folder: Path, problems: list[Problem]) -> tuple[list[Path], int]:
    """The entry files in order, and how many other .md files there are (each reported)."""
    entries, misnamed = [], 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".md" or not path.is_file():
            continue
        if ENTRY_NAME.match(path.name):
            entries.append(path)
        else:
            misnamed += 1
            problems.append(Problem(path, None, "paper entries are named NN-slug.md (e.g. 01-palm.md); rename this file or move it out of the issue folder"))
    return entries, misnamed


def _check_types(data: dict[str, Any], schema: dict[str, tuple[tuple[type, ...], bool]], out: _Collector, title_hint: str) -> dict[str, Any]:
    """Report unknown, missing, empty and mistyped keys; return the known keys whose values passed.

    The checks that build on a value (dates, ranges, files) look only at what this returns, so a
    bad value is reported once and the other keys are still checked.
    """
    for key in data:
        if key not in schema:
            out.error(f"unknown key {key!r} (known keys: {', '.join(schema)})", key=str(key))
    valid: dict[str, Any] = {}
    for key, (types, required) in schema.items():
        value = data.get(key)
        if value is None:
            if required and key not in data:
                out.error(f"required key {key!r} is missing" + (f": {title_hint}" if key == "title" else ""))
            elif required and key != "authors":  # `authors:` with nothing after it is an empty list
                out.error(f"{key!r} must not be empty" + (f": {title_hint}" if key == "title" else ""), key=key)
            continue
        problem = _value_problem(key, value, types)
        if problem is None and key == "title" and not value.strip():
            problem = f"'title' must not be empty: {title_hint}"
        if problem is None:
            valid[key] = value
        else:
            out.error(problem, key=key)
    return valid


def _value_problem(key: str, value: Any, types: tuple[type, ...]) -> str | None:
    """Why ``value`` is not a good value of ``key`` (type, list items, control characters)."""
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        want = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in types)
        return f"{key!r} must be {want}, found {value!r}"
    if isinstance(value, str):
        return text_problem(key, value.strip())
    if isinstance(value, list):
        if not all(isinstance(v, str) and v.strip() for v in value):
            return f"{key!r} must be a list of text items"
        return next((p for p in (text_problem(key, v.strip()) for v in value) if p), None)
    return None


def _build_issue(folder: Path, meta: dict[str, Any], text: str, papers: tuple[Paper, ...], config: Config, out: _Collector, content_hash: str | None) -> Issue | None:
    valid = _check_types(meta, ISSUE_KEYS, out, _ISSUE_TITLE_HINT)
    folder_date = date.fromisoformat(folder.name[:10])
    issue_date = _issue_date(valid.get("date"), folder_date, out)
    publish_at = _publish_at(valid.get("publish_at"), folder_date, config, out)
    title = valid.get("title", "").strip()
    if len(title) > 32:
        out.warning(f"title has {len(title)} characters; WeChat allows 32, it will be shortened there", key="title")
    summary = _summary(meta, valid, out)
    cover = valid.get("cover")
    if cover:
        _check_link_or_file(cover, folder, out, "cover", key_line(text, "cover"))
    source = valid.get("source")
    if source and not is_url(source):
        out.error(f"source: {source!r} is not an http(s) URL", key="source")
    channels = valid.get("channels")
    for name in channels or ():
        if name not in config.channels:
            out.error(f"channels: {name!r} is not a channel in config.yaml (configured: {', '.join(config.channels) or 'none'})", key="channels")
    intro = _fragment(valid.get("intro"), text, "intro", folder, out)
    outro = _fragment(valid.get("outro"), text, "outro", folder, out)
    examples = scaffold_text().issue
    if (valid.get("intro") or "").strip() == examples.get("intro"):
        out.warning("intro is still the example text from `publish new`: say why these papers, or delete the intro", key="intro")
    if out.errors or issue_date is None or publish_at is None:
        return None
    return Issue(
        id=folder.name,
        folder=folder,
        date=issue_date,
        title=title,
        publish_at=publish_at,
        papers=papers,
        summary=summary,
        intro=intro,
        outro=outro,
        cover=cover,
        tags=tuple(t.strip() for t in valid.get("tags") or ()),
        channels=tuple(channels) if channels is not None else None,
        draft=bool(valid.get("draft", False)),
        source=source,
        content_hash=content_hash if content_hash is not None else fingerprint(folder),
    )


def _summary(meta: dict[str, Any], valid: dict[str, Any], out: _Collector) -> str | None:
    """The issue's summary, with a warning when it is missing, too long or still the example."""
    summary = (valid.get("summary") or "").strip() or None
    if summary is None:
        if "summary" in valid or meta.get("summary") is None:  # not when its value was refused
            out.warning("no `summary:` — the email preheader, feed description and WeChat digest will be empty")
    elif summary == scaffold_text().issue.get("summary"):
        out.warning("summary is still the example text from `publish new`: write one or two sentences about this issue", key="summary")
    elif len(summary) > 128:
        out.warning(f"summary has {len(summary)} characters; the WeChat digest allows 128, it will be shortened there", key="summary")
    return summary


def _issue_date(value: Any, folder_date: date, out: _Collector) -> date | None:
    if value is None:
        return folder_date
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            out.error(f"date: {value!r} is not a date (YYYY-MM-DD)", key="date")
            return None
    if isinstance(value, datetime):
        value = value.date()
    if value != folder_date:
        out.error(f"date {value} does not match the folder's date {folder_date}: rename the folder or fix the date", key="date")
        return None
    return value


def _publish_at(value: Any, folder_date: date, config: Config, out: _Collector) -> datetime | None:
    tz = config.site.tz
    if value is None:
        return datetime.combine(folder_date, config.site.publish_clock, tzinfo=tz)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            out.error(f"publish_at: {value!r} is not a date and time, e.g. 2024-09-30T08:00:00+08:00", key="publish_at")
            return None
    if not isinstance(value, datetime):  # a bare date: that day at the default time
        return datetime.combine(value, config.site.publish_clock, tzinfo=tz)
    if value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value


def _fragment(value: str | None, text: str, key: str, folder: Path, out: _Collector) -> Markdown | None:
    if not value or not value.strip():
        return None
    from . import markdown  # markdown-it loads only when an issue is parsed, not on a no-op build

    line = key_line(text, key) or 1
    fragment = markdown.parse(value, line)
    for src, _ in markdown.image_sources(fragment):
        _check_link_or_file(src, folder, out, f"{key} image", line, encoded=True)
    return fragment


def is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


def _check_link_or_file(value: str, folder: Path, out: _Collector, what: str, line: int | None, encoded: bool = False) -> None:
    """An asset is a URL or a relative path to a file inside the issue folder.

    ``encoded``: the value is a Markdown image's src, which markdown-it percent-encodes
    (spaces, Chinese file names); the file has the plain name, and so has the message.
    """
    if urlsplit(value).scheme:
        if not is_url(value):
            out.error(f"{what}: {value!r} is neither an http(s) URL nor a relative path", line)
        return
    from .markdown import is_relative_path

    if not is_relative_path(value):
        out.error(f"{what}: {value!r} must be a path relative to the issue folder (like images/fig1.png) or a URL", line)
        return
    plain = unquote(value)
    shown = plain if encoded else value
    target = (folder / plain).resolve()
    if not target.is_relative_to(folder.resolve()):
        out.error(f"{what}: {shown!r} points outside the issue folder", line)
    elif not target.is_file():
        out.error(f"{what}: file {shown!r} does not exist in {folder.name}/", line)


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """``(yaml text, body, body's first line)``, or None when there is no front matter."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return None


def _load_paper(path: Path, folder: Path, problems: list[Problem]) -> _Entry:
    text = _read_text(path, problems)
    if text is None:
        return _Entry(path)
    parts = split_front_matter(text)
    if parts is None:
        if text.split("\n", 1)[0].strip() == "---":
            message = "the front matter opened here is never closed: add a `---` line after the last key (title, authors, …)"
        else:
            message = "no front matter: start the file with a `---` line, the YAML keys (title, authors, …), then another `---` line"
        problems.append(Problem(path, 1, message))
        return _Entry(path)
    front, body, body_line = parts
    out = _Collector(path, problems, front, first_line=2)
    meta = _parse_mapping(front, 2, out, "front matter must be a block of `key: value` lines")
    valid = _check_types(meta, PAPER_KEYS, out, _PAPER_TITLE_HINT) if meta is not None else {}
    arxiv = _check_paper_values(valid, out)
    # The body does not depend on the front matter: checked even when that is broken.
    lead, sections = _load_body(body, body_line, folder, out)
    base = ARXIV_ID.match(arxiv).group(1) if arxiv else None
    entry = _Entry(path, None, base, front)
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


def _check_paper_values(valid: dict[str, Any], out: _Collector) -> str | None:
    """Check the values that have a shape beyond their type; return the arXiv id if it is valid."""
    arxiv = valid.get("arxiv")
    if arxiv is not None:
        arxiv = arxiv.strip().removeprefix("arXiv:").removeprefix("arxiv:")
        if not ARXIV_ID.match(arxiv):
            out.error(f"arxiv: {valid['arxiv']!r} is not an arXiv id like 2409.14274 or 2409.14274v2", key="arxiv")
            arxiv = None
    for key in ("url", "pdf"):
        if valid.get(key) and not is_url(valid[key]):
            out.error(f"{key}: {valid[key]!r} is not an http(s) URL", key=key)
    rating = valid.get("rating")
    if rating is not None and not 0 <= rating <= 10:
        out.error(f"rating: {rating} is outside 0..10", key="rating")
    year = valid.get("year")
    if year is not None and not 1900 <= year <= 2200:
        out.error(f"year: {year} does not look like a year", key="year")
    return arxiv


def _load_body(body: str, body_line: int, folder: Path, out: _Collector) -> tuple[Markdown | None, tuple[Section, ...]]:
    """Parse the body into lead and sections; check its images and what the editor left unwritten."""
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
            if token.content in examples:
                leftover.append((token.content, line))
            for child in token.children or ():
                if child.type == "image":
                    _check_link_or_file(str(child.attrGet("src") or ""), folder, out, "image", line, encoded=True)
    if leftover:
        more = f" and {len(leftover) - 1} more" if len(leftover) > 1 else ""
        out.warning(f"example text from `publish new` is still here: {leftover[0][0]!r}{more}; write the digest in its place", leftover[0][1])
    if empty:
        names = ", ".join(f"## {title} (line {line})" for title, line in empty)
        out.warning(f"empty section{'s' if len(empty) > 1 else ''} {names}: write {'them' if len(empty) > 1 else 'it'} or delete the heading{'s' if len(empty) > 1 else ''}", empty[0][1])
    if not sections and (lead is None or lead.is_empty):
        out.warning("entry has no text: add a lead paragraph and `## ` sections", body_line)
    return lead, sections


def _split_sections(body: str, body_line: int) -> tuple[Markdown | None, tuple[Section, ...], list[tuple[str, int]]]:
    """Split a parsed body at its level-2 headings, keeping each part's own tokens.

    Also returns ``(title, file line)`` of each heading with nothing under it.
    """
    from . import markdown

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


def _check_duplicates(entries: list[_Entry], problems: list[Problem]) -> None:
    """The same arXiv paper twice in one issue, whether or not the entries have other errors."""
    seen: dict[str, _Entry] = {}
    for entry in entries:
        key = entry.arxiv_base
        if not key:
            continue
        if key in seen:
            problems.append(Problem(entry.path, key_line(entry.front, "arxiv", 2), f"arXiv {key} is already in this issue as {seen[key].path.name}"))
        else:
            seen[key] = entry


def _warn_repeated_papers(config: Config, result: LoadResult) -> None:
    featured = featured_papers(config)
    for issue in result.issues:
        for paper in issue.papers:
            # Only earlier issues: the first issue to feature a paper is not the repeat.
            others = list(dict.fromkeys(i for i in featured.get(paper.arxiv_base or "", []) if i < issue.id))
            if others:
                line = key_line(paper.path.read_text("utf-8"), "arxiv", 1)
                result.problems.append(Problem(paper.path, line, f"arXiv {paper.arxiv_base} was already featured in issue {', '.join(others)}", "warning"))

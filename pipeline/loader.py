"""Issue folders → model, per ../FORMAT.md. Every problem is collected with its file and line.

``load_issue`` never stops at the first problem: it records each one as a :class:`Problem`
and returns the issue only when there were no errors (warnings are fine).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .config import Config
from .errors import Problem
from .folders import featured_papers, fingerprint, issue_folders
from .model import ARXIV_ID, Issue, Markdown, Paper, Section, is_issue_id
from .yamlio import YamlSyntaxError, key_line, parse_yaml

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

    def error(self, message: str, line: int | None = None, key: str | None = None) -> None:
        self._add("error", message, line, key)

    def warning(self, message: str, line: int | None = None, key: str | None = None) -> None:
        self._add("warning", message, line, key)

    def _add(self, severity: str, message: str, line: int | None, key: str | None) -> None:
        if line is None and key is not None:
            line = key_line(self.text, key, self.first_line)
        self.problems.append(Problem(self.path, line, message, severity))


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
    before = len([p for p in problems if p.is_error])
    if not is_issue_id(folder.name):
        problems.append(Problem(folder, None, "folder name is not an issue id: use YYYY-MM-DD or YYYY-MM-DD-slug (slug: a-z, 0-9, -)"))
        return None
    meta_path = folder / "issue.yaml"
    meta, meta_text = _read_issue_yaml(meta_path, problems)
    papers = [p for p in (_load_paper(path, folder, problems) for path in _entry_files(folder, problems)) if p]
    if meta is None:
        return None
    issue = _build_issue(folder, meta, meta_text, tuple(papers), config, _Collector(meta_path, problems, meta_text), content_hash)
    _check_duplicates(papers, problems)
    if issue is not None and not papers:
        problems.append(Problem(folder, None, "issue has no paper entries (NN-slug.md files)", "warning"))
    if len([p for p in problems if p.is_error]) > before:
        return None
    return issue


def _read_issue_yaml(path: Path, problems: list[Problem]) -> tuple[dict[str, Any] | None, str]:
    if not path.is_file():
        problems.append(Problem(path, None, "missing issue.yaml: every issue folder needs one with at least `title:`"))
        return None, ""
    text = _read_text(path, problems)
    if text is None:
        return None, ""
    try:
        data = parse_yaml(text)
    except YamlSyntaxError as exc:
        problems.append(Problem(path, exc.line, exc.message))
        return None, text
    if not isinstance(data, dict):
        problems.append(Problem(path, 1, "issue.yaml must be a block of `key: value` lines"))
        return None, text
    return data, text


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(path, line, "not UTF-8 text: save the file as UTF-8"))
        return None
    return text.removeprefix("\ufeff")


def _entry_files(folder: Path, problems: list[Problem]) -> list[Path]:
    entries = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".md" or not path.is_file():
            continue
        if ENTRY_NAME.match(path.name):
            entries.append(path)
        else:
            problems.append(Problem(path, None, "paper entries are named NN-slug.md (e.g. 01-palm.md); rename this file or move it out of the issue folder"))
    return entries


def _check_types(data: dict[str, Any], schema: dict[str, tuple[tuple[type, ...], bool]], out: _Collector) -> None:
    for key in data:
        if key not in schema:
            out.error(f"unknown key {key!r} (known keys: {', '.join(schema)})", key=str(key))
    for key, (types, required) in schema.items():
        value = data.get(key)
        if value is None:
            if required and key not in data:
                out.error(f"required key {key!r} is missing")
            elif required and key != "authors":
                out.error(f"{key!r} must not be empty", key=key)
            continue
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            want = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in types)
            out.error(f"{key!r} must be {want}, found {value!r}", key=key)
        elif isinstance(value, list) and not all(isinstance(v, str) and v.strip() for v in value):
            out.error(f"{key!r} must be a list of text items", key=key)


def _build_issue(folder: Path, meta: dict[str, Any], text: str, papers: tuple[Paper, ...], config: Config, out: _Collector, content_hash: str | None) -> Issue | None:
    errors_before = len(out.problems)
    _check_types(meta, ISSUE_KEYS, out)
    if len(out.problems) > errors_before and any(p.is_error for p in out.problems[errors_before:]):
        return None
    folder_date = date.fromisoformat(folder.name[:10])
    issue_date = _issue_date(meta.get("date"), folder_date, out)
    publish_at = _publish_at(meta.get("publish_at"), folder_date, config, out)
    title = meta["title"].strip()
    summary = (meta.get("summary") or "").strip() or None
    if summary is None:
        out.warning("no `summary:` — the email preheader, feed description and WeChat digest will be empty")
    if len(title) > 32:
        out.warning(f"title has {len(title)} characters; WeChat allows 32, it will be shortened there", key="title")
    if summary and len(summary) > 128:
        out.warning(f"summary has {len(summary)} characters; the WeChat digest allows 128, it will be shortened there", key="summary")
    cover = meta.get("cover")
    if cover:
        _check_link_or_file(cover, folder, out, "cover", key_line(text, "cover"))
    source = meta.get("source")
    if source and not is_url(source):
        out.error(f"source: {source!r} is not an http(s) URL", key="source")
    channels = meta.get("channels")
    if channels is not None:
        for name in channels:
            if name not in config.channels:
                out.error(f"channels: {name!r} is not a channel in config.yaml (configured: {', '.join(config.channels) or 'none'})", key="channels")
    intro = _fragment(meta.get("intro"), text, "intro", folder, out)
    outro = _fragment(meta.get("outro"), text, "outro", folder, out)
    if issue_date is None or publish_at is None:
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
        tags=tuple(meta.get("tags") or ()),
        channels=tuple(channels) if channels is not None else None,
        draft=bool(meta.get("draft", False)),
        source=source,
        content_hash=content_hash if content_hash is not None else fingerprint(folder),
    )


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
        _check_link_or_file(src, folder, out, f"{key} image", line)
    return fragment


def is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


def _check_link_or_file(value: str, folder: Path, out: _Collector, what: str, line: int | None) -> None:
    """An asset is a URL or a relative path to a file inside the issue folder."""
    if urlsplit(value).scheme:
        if not is_url(value):
            out.error(f"{what}: {value!r} is neither an http(s) URL nor a relative path", line)
        return
    from .markdown import is_relative_path

    if not is_relative_path(value):
        out.error(f"{what}: {value!r} must be a path relative to the issue folder (like images/fig1.png) or a URL", line)
        return
    # markdown-it percent-encodes image paths (spaces, Chinese file names); the file has the plain name
    target = (folder / unquote(value)).resolve()
    if not target.is_relative_to(folder.resolve()):
        out.error(f"{what}: {value!r} points outside the issue folder", line)
    elif not target.is_file():
        out.error(f"{what}: file {value!r} does not exist in {folder.name}/", line)


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """``(yaml text, body, body's first line)``, or None when there is no front matter."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return None


def _load_paper(path: Path, folder: Path, problems: list[Problem]) -> Paper | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    parts = split_front_matter(text)
    if parts is None:
        problems.append(Problem(path, 1, "no front matter: start the file with a `---` line, the YAML keys (title, authors, …), then another `---` line"))
        return None
    front, body, body_line = parts
    out = _Collector(path, problems, front, first_line=2)
    try:
        meta = parse_yaml(front, first_line=2)
    except YamlSyntaxError as exc:
        out.error(exc.message, exc.line)
        return None
    if not isinstance(meta, dict):
        out.error("front matter must be a block of `key: value` lines", 2)
        return None
    before = sum(p.is_error for p in problems)
    _check_types(meta, PAPER_KEYS, out)
    if sum(p.is_error for p in problems) > before:
        return None
    return _build_paper(path, folder, meta, body, body_line, out)


def _build_paper(path: Path, folder: Path, meta: dict[str, Any], body: str, body_line: int, out: _Collector) -> Paper | None:
    before = sum(p.is_error for p in out.problems)
    arxiv = meta.get("arxiv")
    if arxiv is not None:
        arxiv = arxiv.strip().removeprefix("arXiv:").removeprefix("arxiv:")
        if not ARXIV_ID.match(arxiv):
            out.error(f"arxiv: {meta['arxiv']!r} is not an arXiv id like 2409.14274 or 2409.14274v2", key="arxiv")
    for key in ("url", "pdf"):
        if meta.get(key) and not is_url(meta[key]):
            out.error(f"{key}: {meta[key]!r} is not an http(s) URL", key=key)
    rating = meta.get("rating")
    if rating is not None and not 0 <= rating <= 10:
        out.error(f"rating: {rating} is outside 0..10", key="rating")
    year = meta.get("year")
    if year is not None and not 1900 <= year <= 2200:
        out.error(f"year: {year} does not look like a year", key="year")
    from . import markdown

    lead, sections = _split_sections(body, body_line)
    for fragment in [lead, *(s.body for s in sections)]:
        if fragment is not None:
            for src, line in markdown.image_sources(fragment):
                _check_link_or_file(src, folder, out, "image", line)
    if not sections and (lead is None or lead.is_empty):
        out.warning("entry has no text: add a lead paragraph and `## ` sections", body_line)
    if sum(p.is_error for p in out.problems) > before:
        return None
    url = meta.get("url") or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None)
    pdf = meta.get("pdf") or (f"https://arxiv.org/pdf/{arxiv}" if arxiv else None)
    return Paper(
        slug=path.stem,
        path=path,
        title=meta["title"].strip(),
        authors=tuple(a.strip() for a in meta["authors"]),
        title_translated=(meta.get("title_translated") or "").strip() or None,
        venue=(meta.get("venue") or "").strip() or None,
        year=year,
        arxiv=arxiv,
        url=url,
        pdf=pdf,
        rating=rating,
        tags=tuple(meta.get("tags") or ()),
        lead=lead,
        sections=sections,
    )


def _split_sections(body: str, body_line: int) -> tuple[Markdown | None, tuple[Section, ...]]:
    """Split a parsed body at its level-2 headings, keeping each part's own tokens."""
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
    sections = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(tokens)
        title = tokens[start + 1].content.strip()
        sections.append(Section(title, fragment(start + 3, end)))
    return (lead if lead.tokens else None), tuple(sections)


def _check_duplicates(papers: list[Paper], problems: list[Problem]) -> None:
    seen: dict[str, Paper] = {}
    for paper in papers:
        key = paper.arxiv_base
        if not key:
            continue
        if key in seen:
            problems.append(Problem(paper.path, key_line(paper.path.read_text("utf-8"), "arxiv", 1), f"arXiv {key} is already in this issue as {seen[key].path.name}"))
        else:
            seen[key] = paper


def _warn_repeated_papers(config: Config, result: LoadResult) -> None:
    featured = featured_papers(config)
    for issue in result.issues:
        for paper in issue.papers:
            # Only earlier issues: the first issue to feature a paper is not the repeat.
            others = list(dict.fromkeys(i for i in featured.get(paper.arxiv_base or "", []) if i < issue.id))
            if others:
                line = key_line(paper.path.read_text("utf-8"), "arxiv", 1)
                result.problems.append(Problem(paper.path, line, f"arXiv {paper.arxiv_base} was already featured in issue {', '.join(others)}", "warning"))

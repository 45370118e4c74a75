"""Issue folders → model, per ../FORMAT.md. Every problem is collected with its file and line.

``load_issue`` never stops at the first problem: it records each one as a :class:`Problem`
and returns the issue only when there were no errors (warnings are fine). A key with a bad
value is left out of the checks that build on it; every other key is still checked, so one
run of ``publish check`` shows all there is to fix.

This module is the loading entry point and the issue folder's side: issue.yaml, its dates,
``publish_at`` and Markdown fragments, and the folder's list of entries. Each paper entry is
read by :mod:`pipeline.load.entries`; what both read alike (problem collector, YAML keys and
their types, links and files) is in :mod:`pipeline.load.keys`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.atomic import file_problem
from pipeline.config import Config
from pipeline.errors import Problem
from pipeline.load.entries import check_duplicates, load_entry, split_front_matter
from pipeline.load.folders import featured_papers, fingerprint, issue_files, issue_folders
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
from pipeline.model import Issue, Markdown, Paper, is_issue_id
from pipeline.yamlio import key_line

# What other modules import from here; split_front_matter is the entry loader's, kept here for them.
__all__ = ["LoadResult", "load_issue", "load_issues", "split_front_matter"]

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
_ISSUE_TITLE_HINT = "write the issue's title (the page title and the email subject), e.g. `title: 论文速递 · 第 12 期`"


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


def load_issues(
    config: Config, ids: Iterable[str] | None = None, featured: dict[str, list[str]] | None = None
) -> LoadResult:
    """Load the requested issues (all by default), collecting every problem. ``featured``:
    :func:`featured_papers` when the caller has it already (a scan of the whole archive)."""
    result = LoadResult()
    folders = issue_folders(config, ids)
    for _issue_id, folder in folders:
        issue = load_issue(folder, config, result.problems)
        if issue is not None:
            result.issues.append(issue)
    warn_repeated_papers(config, result, featured)
    return result


def load_issue(folder: Path, config: Config, problems: list[Problem], content_hash: str | None = None) -> Issue | None:
    """Load one issue folder; append its problems; return None if any is an error.

    ``content_hash`` is the folder's :func:`fingerprint` when the caller has it already
    (the build hashes every folder first), so that the files are not read twice.
    """
    before = len(problems)
    if not is_issue_id(folder.name):
        problems.append(
            Problem(
                folder, None, "folder name is not an issue id: use YYYY-MM-DD or YYYY-MM-DD-slug (slug: a-z, 0-9, -)"
            )
        )
        return None
    outside = file_problem(folder, config.issues_dir, folder=True)
    if outside is not None:
        problems.append(Problem(folder, None, f"{folder.name} {outside}"))
        return None
    _check_assets(folder, problems)
    meta_path = folder / "issue.yaml"
    # one collector from parsing to checking: it knows the keys given twice
    meta_out = Collector(meta_path, problems)
    meta = _read_issue_yaml(meta_path, meta_out)
    files, misnamed = _entry_files(folder, problems)
    entries = [load_entry(path, folder, problems) for path in files]
    check_duplicates(entries, problems)
    issue = None
    if meta is not None:
        papers = tuple(e.paper for e in entries if e.paper is not None)
        issue = _build_issue(folder, meta, papers, config, meta_out, content_hash)
    if not files and not misnamed:  # entries that failed to load are reported already
        problems.append(Problem(folder, None, "issue has no paper entries (NN-slug.md files)", "warning"))
    if any(p.is_error for p in problems[before:]):
        return None
    return issue


def _check_assets(folder: Path, problems: list[Problem]) -> None:
    """Every file of the folder besides issue.yaml and the entries is copied next to the pages:
    one the reading rule refuses (a link leading out of the folder, a pipe, too large) is an
    error here rather than a file published from elsewhere or a hung build."""
    for parts, problem in issue_files(folder):
        own_reader = len(parts) == 1 and (parts[0] == "issue.yaml" or parts[0].lower().endswith(".md"))
        if problem is not None and not own_reader:  # issue.yaml and entries: reported when read
            problems.append(Problem(folder.joinpath(*parts), None, f"{parts[-1]} {problem}"))


def _read_issue_yaml(path: Path, out: Collector) -> dict[str, Any] | None:
    """issue.yaml's keys, or None after reporting why there are none; ``out`` gets its text."""
    if not path.exists() and not path.is_symlink():
        out.problems.append(
            Problem(path, None, "missing issue.yaml: every issue folder needs one with at least `title:`")
        )
        return None
    text = read_text(path, path.parent, out.problems)
    if text is None:
        return None
    out.text = text
    return parse_mapping(text, 1, out, "issue.yaml must be a block of `key: value` lines")


def _entry_files(folder: Path, problems: list[Problem]) -> tuple[list[Path], int]:
    """The entry files in order, and how many other .md files there are (each reported)."""
    entries, misnamed = [], 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".md":
            continue
        if ENTRY_NAME.match(path.name):
            entries.append(path)
        else:
            misnamed += 1
            problems.append(
                Problem(
                    path,
                    None,
                    "paper entries are named NN-slug.md (e.g. 01-palm.md); rename this file or move it out of the issue folder",
                )
            )
    return entries, misnamed


class _Checked(NamedTuple):
    """The values of issue.yaml that checking turns into something else (None: refused)."""

    date: date | None
    publish_at: datetime | None
    intro: Markdown | None
    outro: Markdown | None


def _build_issue(
    folder: Path,
    meta: dict[str, Any],
    papers: tuple[Paper, ...],
    config: Config,
    out: Collector,
    content_hash: str | None,
) -> Issue | None:
    valid = check_types(meta, ISSUE_KEYS, out, _ISSUE_TITLE_HINT)
    checked = _check_values(valid, folder, config, out)
    check_hidden(ISSUE_KEYS, out, _ISSUE_TITLE_HINT, lambda one: _check_values(one, folder, config, out))
    summary = _summary(meta, valid, out)
    examples = scaffold_text().issue
    if (valid.get("intro") or "").strip() == examples.get("intro"):
        out.warning(
            "intro is still the example text from `publish new`: say why these papers, or delete the intro", key="intro"
        )
    if out.errors or checked.date is None or checked.publish_at is None:
        return None
    channels = valid.get("channels")
    return Issue(
        id=folder.name,
        folder=folder,
        date=checked.date,
        title=valid.get("title", "").strip(),
        publish_at=checked.publish_at,
        papers=papers,
        summary=summary,
        intro=checked.intro,
        outro=checked.outro,
        cover=valid.get("cover"),
        tags=tuple(t.strip() for t in valid.get("tags") or ()),
        channels=tuple(channels) if channels is not None else None,
        draft=bool(valid.get("draft", False)),
        source=valid.get("source"),
        content_hash=content_hash if content_hash is not None else fingerprint(folder),
    )


def _check_values(valid: dict[str, Any], folder: Path, config: Config, out: Collector) -> _Checked:
    """Check the values that have a shape beyond their type (a key given twice: each value)."""
    folder_date = date.fromisoformat(folder.name[:10])
    issue_date = _issue_date(valid.get("date"), folder_date, out)
    publish_at = _publish_at(valid.get("publish_at"), folder_date, config, out)
    title = valid.get("title", "").strip()
    if len(title) > 32:
        out.warning(
            f"title has {len(title)} characters; WeChat allows 32, it will be shortened there: shorten it", key="title"
        )
    cover = valid.get("cover")
    if cover:
        check_link_or_file(cover, folder, out, "cover", out.line_of("cover"))
    source = valid.get("source")
    if source and not is_url(source):
        out.error(
            f"source: {source!r} is not an http(s) URL: write the full address of the original post, starting with https://",
            key="source",
        )
    for name in valid.get("channels") or ():
        if name not in config.channels:
            out.error(
                f"channels: {name!r} is not a channel in config.yaml (configured: {', '.join(config.channels) or 'none'}): use one of those names",
                key="channels",
            )
    intro = _fragment(valid.get("intro"), "intro", folder, out)
    outro = _fragment(valid.get("outro"), "outro", folder, out)
    return _Checked(issue_date, publish_at, intro, outro)


def _summary(meta: dict[str, Any], valid: dict[str, Any], out: Collector) -> str | None:
    """The issue's summary, with a warning when it is missing, too long or still the example."""
    summary = (valid.get("summary") or "").strip() or None
    if summary is None:
        if "summary" in valid or meta.get("summary") is None:  # not when its value was refused
            out.warning("no `summary:` — the email preheader, feed description and WeChat digest will be empty")
    elif summary == scaffold_text().issue.get("summary"):
        out.warning(
            "summary is still the example text from `publish new`: write one or two sentences about this issue",
            key="summary",
        )
    elif len(summary) > 128:
        out.warning(
            f"summary has {len(summary)} characters; the WeChat digest allows 128, it will be shortened there",
            key="summary",
        )
    return summary


def _issue_date(value: Any, folder_date: date, out: Collector) -> date | None:
    if value is None:
        return folder_date
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            out.error(
                f"date: {value!r} is not a date: write it as YYYY-MM-DD, e.g. date: {folder_date}, or delete the line (the folder's date is the default)",
                key="date",
            )
            return None
    if isinstance(value, datetime):
        value = value.date()
    if value != folder_date:
        out.error(
            f"date {value} does not match the folder's date {folder_date}: rename the folder or fix the date",
            key="date",
        )
        return None
    return value


def _publish_at(value: Any, folder_date: date, config: Config, out: Collector) -> datetime | None:
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


def _fragment(value: str | None, key: str, folder: Path, out: Collector) -> Markdown | None:
    if not value or not value.strip():
        return None
    from pipeline import markdown  # markdown-it loads only when an issue is parsed, not on a no-op build

    line = out.line_of(key) or 1
    # In a `|` block the Markdown's lines are the file's, from the next line on; other forms of
    # YAML text join or re-indent lines, so problems there are put at the key's line.
    literal = out.is_literal_block(key)
    fragment = markdown.parse(value, line + 1 if literal else line)
    for token in fragment.tokens:
        if token.type != "inline":
            continue
        at = fragment.line + token.map[0] if literal and token.map else line
        for child in token.children or ():
            if child.type == "image":
                check_link_or_file(str(child.attrGet("src") or ""), folder, out, f"{key} image", at, encoded=True)
        depth = markdown.inline_depth(token)
        if depth > markdown.MAX_INLINE_DEPTH:
            out.error(f"{key}: " + markdown.NESTING_MESSAGE.format(depth=depth, limit=markdown.MAX_INLINE_DEPTH), at)
        markup = markup_warning(token)
        if markup is not None:
            out.warning(f"{key}: {markup[0]}", at + markup[1] if literal else at)
    return fragment


def warn_repeated_papers(config: Config, result: LoadResult, featured: dict[str, list[str]] | None = None) -> None:
    """Add a warning for each paper of ``result``'s issues that an earlier issue featured."""
    if not result.issues:
        return  # no scan of the archive for nothing
    featured = featured_papers(config) if featured is None else featured
    for issue in result.issues:
        for paper in issue.papers:
            # Only earlier issues: the first issue to feature a paper is not the repeat.
            others = list(dict.fromkeys(i for i in featured.get(paper.arxiv_base or "", []) if i < issue.id))
            if others:
                line = key_line(paper.path.read_text("utf-8"), "arxiv", 1)
                result.problems.append(
                    Problem(
                        paper.path,
                        line,
                        f"arXiv {paper.arxiv_base} was already featured in issue {', '.join(others)}",
                        "warning",
                    )
                )

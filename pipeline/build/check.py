"""`publish check`: every problem in the issues, plus the sizes that matter to mail clients and WeChat.

WeChat is reported before anything is sent: each issue's article size as the draft API counts
it (characters and bytes of the HTML as sent), a warning when the article had to be cut to fit,
and the cover, without which the draft API refuses the article. The WeChat channels are found
by the options their type declares (``app_id``), not by their type's name.

Titles and author names are plain text in every output. The feeds keep them as the editor wrote
them, but an end tag in one (``</b>``) is taken for markup by feed readers and the W3C validator
however it is escaped, so such markup is warned about here (:func:`plain_text_markup_problems`).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.build.outputs import ISSUE_FILES, NOT_COPIED_SUFFIXES, active_svg_problem, svg_runs_scripts
from pipeline.build.state import template_cache
from pipeline.config import ChannelConfig, Config, channel_env_refs
from pipeline.errors import Problem
from pipeline.load.folders import issue_files, issue_folders
from pipeline.load.issues import LoadResult, load_issues
from pipeline.model import Issue, Paper, is_issue_id
from pipeline.render.context import RenderContext
from pipeline.yamlio import key_line

if TYPE_CHECKING:
    from pipeline.render.wechat import WechatArticle

# Start tags of HTML an editor would type (as the Markdown check counts them); not every <word>:
# <编>, <T> and <s> are text in titles and names. Any end tag is markup: the validator flags those
# of HTML elements (</b>, </title>) and readers may drop any.
_START_TAGS = "a|abbr|b|big|blockquote|br|center|code|del|div|em|font|h[1-6]|hr|i|img|ins|kbd|li|mark|ol|p|pre|script|small|span|strong|style|sub|sup|table|td|th|tr|u|ul"
_MARKUP = re.compile(rf"</[A-Za-z][\w:.-]*\s*>|<(?:{_START_TAGS})(?:\s[^<>]*)?/?>|<!--", re.IGNORECASE)


@dataclass
class CheckReport(LoadResult):
    """The loader's findings plus what only rendering shows (email sizes, WeChat limits)."""

    notes: list[str] = field(default_factory=list)  # figures worth seeing, not problems
    issue_count: int = 0
    issue_notes: dict[str, list[str]] = field(default_factory=dict)  # the notes by issue id

    def note(self, issue_id: str, text: str) -> None:
        """A figure about one issue: ``<id>: <text>``."""
        line = f"{issue_id}: {text}"
        self.notes.append(line)
        self.issue_notes.setdefault(issue_id, []).append(line)


def check_issues(
    config: Config, ids: list[str] | None = None, featured: dict[str, list[str]] | None = None
) -> CheckReport:
    """Load the issues, collect every problem, and measure what only rendering shows.
    ``featured``: which issues feature each arXiv paper, when the caller knows it already."""
    report = check_issue_set(config, ids, featured)
    report.problems[:0] = newsletter_problems(config)
    return report


def newsletter_problems(config: Config) -> list[Problem]:
    """What is wrong outside the issues: the settings, the default cover, credentials."""
    return [*config_problems(config), *default_cover_problems(config), *credential_problems(config)]


def check_issue_set(
    config: Config, ids: list[str] | None = None, featured: dict[str, list[str]] | None = None
) -> CheckReport:
    """The issues' own problems and figures (all issues by default), without the newsletter's."""
    result = load_issues(config, ids, featured)
    report = CheckReport(
        issues=result.issues,
        problems=[*result.problems, *plain_text_markup_problems(result.issues), *output_name_problems(result.issues)],
        # a folder that is no issue (issues/2024-02-30) is reported, not counted as one
        issue_count=sum(1 for issue_id, _ in issue_folders(config, ids) if is_issue_id(issue_id)),
    )
    check_rendered(config, report, covers=True)
    return report


def output_name_problems(issues: list[Issue]) -> list[Problem]:
    """Files of an issue folder that are not copied to the site: those with the name of a file
    the build writes next to its page (see pipeline.build.outputs.ISSUE_FILES), web pages and
    scripts (NOT_COPIED_SUFFIXES), and SVG figures that can run a script (svg_runs_scripts)."""
    problems = []
    for issue in issues:
        named_like_output: set[str] = set()  # top-level names, each reported once
        for parts, problem in issue_files(issue.folder):
            if any(part.startswith(".") for part in parts):
                continue
            if parts[0].lower() in ISSUE_FILES:  # a file, or a folder, with an output's name in any case
                if parts[0] not in named_like_output:
                    named_like_output.add(parts[0])
                    problems.append(
                        Problem(
                            issue.folder / parts[0],
                            None,
                            f"{parts[0]} has the name of a file the build writes for this issue "
                            f"(public/issues/{issue.id}/{parts[0].lower()}), so it is not copied to the site: "
                            "rename it if the issue links to it",
                            "warning",
                        )
                    )
            elif parts[-1].lower().endswith(".svg") and problem is None:
                path = issue.folder.joinpath(*parts)
                with contextlib.suppress(OSError):  # unreadable: the loader has said so
                    if svg_runs_scripts(path.read_bytes()):
                        problems.append(active_svg_problem(path, "/".join(parts)))
            elif parts[-1].lower().endswith(NOT_COPIED_SUFFIXES):
                problems.append(
                    Problem(
                        issue.folder.joinpath(*parts),
                        None,
                        f"{'/'.join(parts)} is a web page or a script, so it is not copied to the site, where it "
                        "would run as part of it: link to where it is published, or attach it as a .txt or .zip",
                        "warning",
                    )
                )
    return problems


def check_rendered(config: Config, report: CheckReport, covers: bool = False) -> None:
    """Add what only rendering shows of ``report``'s loaded issues: email sizes, WeChat limits;
    with ``covers``, the WeChat cover problems too (`publish check` reports them for every
    channel; a publish run leaves them to the WeChat channel itself, which the run may not include)."""
    from pipeline.mail.placeholder import unsubscribe_placeholder
    from pipeline.render import email, wechat

    ctx = RenderContext(config, datetime.now(timezone.utc))
    ctx.template_cache = template_cache(config)
    eight_bit = all(c.options.get("eight_bit", True) for c in config.channels_declaring("eight_bit"))
    placeholder = unsubscribe_placeholder(config)  # measured with a real link's length in its place
    wechat_channels = config.channels_declaring("app_id") if covers else []
    for issue in report.issues:
        html = email.render_issue(issue, ctx)[f"issues/{issue.id}/email.html"]
        raw, sent = email.measure(html, eight_bit, placeholder)
        report.note(
            issue.id,
            f"email HTML {raw / 1024:.1f} KB, {sent / 1024:.1f} KB as sent; Gmail clips at {email.GMAIL_CLIP_BYTES // 1024} KB",
        )
        if sent > email.GMAIL_CLIP_BYTES:
            report.problems.append(
                Problem(
                    issue.folder / "issue.yaml",
                    None,
                    f"the email is {sent / 1024:.0f} KB as sent; Gmail clips messages over {email.GMAIL_CLIP_BYTES // 1024} KB: split the issue or shorten entries",
                    "warning",
                )
            )
        check_wechat(issue, wechat.article(issue, ctx), wechat_channels, report)


def check_wechat(issue: Issue, article: WechatArticle, channels: list[ChannelConfig], report: CheckReport) -> None:
    """The article's size as sent (a note), a warning when it was cut or is still over a limit,
    and the cover problem of each WeChat channel that would send the issue."""
    from pipeline.render.wechat_limits import check_limits, cut_summary, size_summary

    where = issue.folder / "issue.yaml"
    report.note(issue.id, size_summary(article))
    if article.was_cut:
        report.problems.append(Problem(where, None, f"WeChat: {issue.id} is {cut_summary(article)}", "warning"))
    for message in check_limits(article):
        if message.startswith(("title ", "digest ")):
            continue  # the loader already warns about these, with the line in issue.yaml
        report.problems.append(Problem(where, None, f"WeChat: {message}", "warning"))
    if issue.cover is None and not article.images:  # the channel's cover: cover:, else the first image
        report.problems.extend(missing_cover(issue, channels))


def wechat_mode(channel: ChannelConfig) -> str:
    """The channel's mode as the WeChat channel resolves it: ``mode`` if set, else draft with
    credentials, else export. (The channel layer sits above this one, so this is its rule restated.)"""
    mode = channel.options.raw("mode")
    if mode:
        return str(mode)
    return "draft" if "app_id" in channel.options and "app_secret" in channel.options else "export"


def missing_cover(issue: Issue, channels: list[ChannelConfig]) -> list[Problem]:
    """An error for each WeChat channel that would send the issue through the API without a
    cover (the draft API refuses it), a warning for each that exports it for pasting."""
    problems = []
    for channel in channels:
        if channel.options.raw("default_cover"):
            continue
        mode = wechat_mode(channel)
        api = mode != "export"
        consequence = (
            f"channel {channel.name} (mode {mode}) cannot send it: the WeChat API refuses an article without one"
            if api
            else f"channel {channel.name} exports it without one; the editor must add one before publishing"
        )
        message = (
            f"WeChat: {issue.id} has no cover image and no image to use as one; {consequence}. "
            f"Set `cover:` in issue.yaml, or channels.{channel.name}.default_cover in config.yaml"
        )
        problems.append(
            Problem(issue.folder / "issue.yaml", _title_line(issue), message, "error" if api else "warning")
        )
    return problems


def _title_line(issue: Issue) -> int | None:
    """The line of ``title:`` in issue.yaml: where an editor adds ``cover:``, next to it."""
    try:
        text = (issue.folder / "issue.yaml").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return next((n for n, row in enumerate(text.splitlines(), 1) if row.startswith("title:")), None)


def plain_text_markup_problems(issues: list[Issue]) -> list[Problem]:
    """A warning for each issue title, paper title and author name holding HTML markup (``<b>``,
    ``</name>``): feed readers and the W3C validator take it for markup, and the feeds do not
    change the editor's text. ``&`` and ``<编>`` are text, not markup."""
    problems = []
    for issue in issues:
        path = issue.folder / "issue.yaml"
        problems.extend(_markup_problem(path, _read(path), "title", "issue title", issue.title, "title"))
        for paper in issue.papers:
            problems.extend(_paper_markup_problems(paper))
    return problems


def _paper_markup_problems(paper: Paper) -> list[Problem]:
    text = _read(paper.path)
    fields = [("title", "paper title", paper.title, "title")]
    if paper.title_translated:
        fields.append(("title_translated", "translated title", paper.title_translated, "title"))
    fields.extend(("authors", "author name", name, "name") for name in paper.authors)
    return [problem for field in fields for problem in _markup_problem(paper.path, text, *field)]


def _markup_problem(path: Path, text: str, key: str, what: str, value: str, noun: str) -> list[Problem]:
    """The warning about ``value`` (the ``key`` field of the file at ``path``) if it holds markup."""
    found = _MARKUP.search(value)
    if found is None:
        return []
    named = f" “{value}”" if noun == "name" else ""  # a title has its own line; names share one
    message = (
        f"{what}{named} contains HTML markup `{found.group()}`: feed readers and the W3C validator take it "
        f"as markup; write the {noun} as plain text"
    )
    return [Problem(path, _line_of(text, key, found.group()), message, "warning")]


def _line_of(text: str, key: str, markup: str) -> int | None:
    """The line of ``key`` in the file, or of its value's markup when it is on a later line (a list)."""
    start = key_line(text, key)
    if start is None:
        return None
    rows = text.splitlines()[start - 1 :]
    # The key's own block: its line, then indented, blank or "- item" lines.
    end = next((n for n, row in enumerate(rows[1:], 1) if not _continues_block(row)), len(rows))
    return start + next((n for n, row in enumerate(rows[:end]) if markup in row), 0)


def _continues_block(row: str) -> bool:
    return not row.strip() or row.startswith((" ", "\t", "- ")) or row == "-"


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def credential_problems(config: Config) -> list[Problem]:
    """An error for each WeChat channel whose mode uses the API but which has no app_id or
    app_secret: every send would fail at its first call."""
    text = config.raw_bytes.decode("utf-8", "replace").splitlines()
    problems = []
    for channel in config.channels_declaring("app_id"):
        mode = wechat_mode(channel)
        missing = [key for key in ("app_id", "app_secret") if not channel.options.raw(key)]
        if mode == "export" or not missing:
            continue
        line = next((n for n, row in enumerate(text, 1) if row.strip() == f"mode: {mode}"), None)
        message = (
            f"channels.{channel.name}: mode {mode} calls the WeChat API, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set; add app_id: ${{WECHAT_APP_ID}} and "
            f"app_secret: ${{WECHAT_APP_SECRET}}, or use mode: export to paste the article by hand"
        )
        problems.append(Problem(config.path, line, message, "error"))
    return problems


def default_cover_problems(config: Config) -> list[Problem]:
    """An error for each channel whose ``default_cover`` is not an image in the newsletter folder."""
    from pipeline.render.images import file_problem

    text = config.raw_bytes.decode("utf-8", "replace")
    problems = []
    for channel in config.channels_declaring("default_cover"):
        value = channel.options.raw("default_cover")
        problem = file_problem(config.root, str(value)) if value else None
        if problem:
            rows = enumerate(text.splitlines(), 1)
            line = next((n for n, row in rows if "default_cover" in row and str(value) in row), None)
            message = f"channels.{channel.name}.default_cover: {problem}"
            problems.append(Problem(config.path, line, message, "error"))
    return problems


def config_problems(config: Config) -> list[Problem]:
    """A warning for each ``${VAR}`` a configured channel will read that the environment lacks.

    load_config already refused wrong types, numbers out of range and malformed addresses;
    variables are read only when a channel uses them, so a missing one shows up here first.
    """
    text = config.raw_bytes.decode("utf-8", "replace")
    problems = []
    for channel in config.channels.values():
        for key, name in channel_env_refs(channel):
            if name not in os.environ:
                line = next((n for n, row in enumerate(text.splitlines(), 1) if f"${{{name}}}" in row), None)
                message = f"channel {channel.name}: {key} uses ${{{name}}}, which is not set in the environment; export {name}=… before publishing"
                problems.append(Problem(config.path, line, message, "warning"))
    return problems

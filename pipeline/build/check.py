"""`publish check`: every problem in the issues, plus the sizes that matter to mail clients."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pipeline.config import Config, channel_env_refs
from pipeline.errors import Problem
from pipeline.load.folders import issue_folders
from pipeline.load.issues import LoadResult, load_issues
from pipeline.model import is_issue_id
from pipeline.render.context import RenderContext


@dataclass
class CheckReport(LoadResult):
    """The loader's findings plus what only rendering shows (email sizes, WeChat limits)."""

    notes: list[str] = field(default_factory=list)  # figures worth seeing, not problems
    issue_count: int = 0


def check_issues(config: Config, ids: list[str] | None = None) -> CheckReport:
    """Load the issues, collect every problem, and measure what only rendering shows."""
    result = load_issues(config, ids)
    report = CheckReport(
        issues=result.issues,
        problems=[*config_problems(config), *result.problems],
        # a folder that is no issue (issues/2024-02-30) is reported, not counted as one
        issue_count=sum(1 for issue_id, _ in issue_folders(config, ids) if is_issue_id(issue_id)),
    )
    check_rendered(config, report)
    return report


def check_rendered(config: Config, report: CheckReport) -> None:
    """Add what only rendering shows of ``report``'s loaded issues: email sizes, WeChat limits."""
    from pipeline.mail.message import unsubscribe_placeholder
    from pipeline.render import email, wechat

    ctx = RenderContext(config, datetime.now(timezone.utc))
    eight_bit = all(c.options.get("eight_bit", True) for c in config.channels_declaring("eight_bit"))
    placeholder = unsubscribe_placeholder(config)  # measured with a real link's length in its place
    for issue in report.issues:
        html = email.render_issue(issue, ctx)[f"issues/{issue.id}/email.html"]
        raw, sent = email.measure(html, eight_bit, placeholder)
        report.notes.append(
            f"{issue.id}: email HTML {raw / 1024:.1f} KB, {sent / 1024:.1f} KB as sent; Gmail clips at {email.GMAIL_CLIP_BYTES // 1024} KB"
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
        for message in wechat.check_limits(wechat.article(issue, ctx)):
            if message.startswith(("title ", "digest ")):
                continue  # the loader already warns about these, with the line in issue.yaml
            report.problems.append(Problem(issue.folder / "issue.yaml", None, f"WeChat: {message}", "warning"))


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

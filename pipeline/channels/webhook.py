"""The webhook channel: one POST announcing an issue (title, summary, link) to a chat or an endpoint.

``format`` picks the payload shape: a plain JSON document, or what Slack, Discord and Feishu
incoming webhooks expect. The URL is a secret (whoever has it can post), so it comes from
the environment and only its host ever appears in messages. 429 and 5xx answers are retried
with backoff, honouring Retry-After (:mod:`pipeline.channels.http`); any other refusal fails at once.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from pipeline.channels.base import Channel, Job, Result
from pipeline.channels.http import Stopped, host_of, post_with_retries
from pipeline.errors import ChannelError, ConfigError
from pipeline.model import Issue

# Discord's documented limits for an embed; longer text is cut rather than refused.
DISCORD_TITLE, DISCORD_DESCRIPTION = 256, 4096


def issue_link(job: Job) -> str:
    return job.config.site.absolute(job.issue.url_path)


def payload(fmt: str, issue: Issue, link: str, site_title: str) -> dict[str, Any]:
    """The message for one issue in the endpoint's format."""
    summary = issue.summary or ""
    if fmt == "slack":
        return {
            "text": f"*<{link}|{_slack(issue.title).replace('|', '｜')}>*\n{_slack(summary)}".rstrip(),
            "unfurl_links": False,
        }
    if fmt == "discord":
        embed = {
            "title": _cut(issue.title, DISCORD_TITLE),
            "url": link,
            "description": _cut(summary, DISCORD_DESCRIPTION),
        }
        # No @everyone or role pings, whatever the text says.
        return {"embeds": [{k: v for k, v in embed.items() if v}], "allowed_mentions": {"parse": []}}
    if fmt == "feishu":
        lines = [[{"tag": "text", "text": summary}]] if summary else []
        lines.append([{"tag": "a", "text": "阅读全文", "href": link}])
        return {"msg_type": "post", "content": {"post": {"zh_cn": {"title": issue.title, "content": lines}}}}
    return {
        "type": "issue.published",
        "site": site_title,
        "id": issue.id,
        "title": issue.title,
        "summary": issue.summary,
        "url": link,
        "date": issue.date.isoformat(),
        "publish_at": issue.publish_at.isoformat(),
        "tags": list(issue.tags),
        "papers": [{"title": p.title, "title_translated": p.title_translated, "url": p.url} for p in issue.papers],
    }


def _slack(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters and must be escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_answer(fmt: str, response: Any) -> None:
    """Raise ChannelError when the endpoint refused the message (Feishu says so in a 200 body)."""
    where = host_of(response.url or "")
    if response.status_code >= 400:
        raise ChannelError(f"{where} refused the message: HTTP {response.status_code} {response.text[:200]}")
    if fmt == "feishu":
        try:
            body = response.json()
        except ValueError:
            return
        code = body.get("code", body.get("StatusCode", 0)) if isinstance(body, dict) else 0
        if code:
            raise ChannelError(
                f"Feishu refused the message: code {code} {body.get('msg') or body.get('StatusMessage') or ''}".rstrip()
            )


# ---------------------------------------------------------------- the channel


class WebhookChannel(Channel):
    """POST a short announcement of the issue; one message per issue, recorded in the ledger."""

    type = "webhook"

    def plan(self, job: Job) -> list[str]:
        fmt = job.options.get("format", "json")
        try:
            where = host_of(self._url(job))
        except ChannelError as exc:
            where = f"(not sendable: {exc})"
        return [f"POST a {fmt} message “{job.issue.title}” → {issue_link(job)} to {where}"]

    def deliver(self, job: Job) -> Result:
        url = self._url(job)
        fmt = job.options.get("format", "json")
        row = job.ledger.delivery(job.issue.id, job.channel)
        if row is not None and row["state"] == "sent":  # sent before a crash kept the run from finishing
            return Result(job.channel, "done", f"already sent at {row['updated_at']}")
        body = json.dumps(payload(fmt, job.issue, issue_link(job), job.config.site.title), ensure_ascii=False).encode(
            "utf-8"
        )
        job.ledger.add_pending(job.issue.id, job.channel, [""], job.issue.content_hash)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        started = time.monotonic()
        try:
            response = post_with_retries(
                url, body, headers, timeout=float(job.options.get("timeout", 15)), stop=job.stop, log=job.log
            )
            check_answer(fmt, response)
        except Stopped as exc:
            return Result(job.channel, "stopped", f"{exc}; not sent yet")
        except ChannelError as exc:
            job.ledger.record(job.issue.id, job.channel, "", "failed", error=str(exc))
            raise
        answer = f"HTTP {response.status_code} {response.text[:200]}".strip()
        job.ledger.record(job.issue.id, job.channel, "", "sent", response=answer)
        return Result(
            job.channel, "done", f"{fmt} message accepted by {host_of(url)} in {time.monotonic() - started:.1f}s"
        )

    @staticmethod
    def _url(job: Job) -> str:
        try:
            url = job.options.get("url")
        except ConfigError as exc:
            raise ChannelError(str(exc)) from None
        if not url or urlsplit(url).scheme not in ("http", "https"):
            raise ChannelError(f"{job.options.key_path}.url is not an http(s) URL")
        return url

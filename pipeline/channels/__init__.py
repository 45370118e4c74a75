"""Channels: one module per delivery target, all behind ``channels.base.Channel``.

Takes a built issue (its files under ``public/issues/<id>/``) and the ledger; gives a
:class:`base.Result` per channel, each step recorded as it completes.

    base.py              Job, Result, Channel: the one interface
    feed.py              the feeds (already built) and the WebSub ping
    email.py             one message per issue, personalised per recipient, through mail/
    wechat.py            the Official Account article: export (paste), draft, publish, broadcast
    wechat_api.py        the API calls, the token and their errors
    wechat_media.py      the cover and the images, read and converted before any upload
    wechat_broadcast.py  群发 exactly once (clientmsgid, recorded before and after)
    wechat_content.py    the last-resort length guard and the export's article.html
    webhook.py           Slack, Discord, Feishu or JSON POSTs
    http.py              a POST with retries, shared by the feed and webhook channels

The registry below is the one list of channel types (config ``type:`` → class); modules
are imported on first use so that commands which do not publish stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from pipeline.channels.base import Channel
from pipeline.config import Config

CHANNEL_TYPES: dict[str, str] = {
    "feed": "pipeline.channels.feed:FeedChannel",
    "email": "pipeline.channels.email:EmailChannel",
    "wechat": "pipeline.channels.wechat:WechatChannel",
    "webhook": "pipeline.channels.webhook:WebhookChannel",
}


def channel_class(kind: str) -> type[Channel]:
    """The Channel subclass registered for a config ``type:``."""
    module_name, class_name = CHANNEL_TYPES[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def mailing_channels(config: Config, names: Iterable[str] | None = None) -> list[str]:
    """The names of the configured channels (of ``names``, when given) that mail subscribers."""
    chosen = config.channels if names is None else names
    return [name for name in chosen if channel_class(config.channels[name].type).mails_subscribers]

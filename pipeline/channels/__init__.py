"""Channels: one module per delivery target, all behind ``channels.base.Channel``.

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

"""Channels: one module per delivery target, all behind ``channels.base.Channel``.

The registry below is the one list of channel types (config ``type:`` → class); modules
are imported on first use so that commands which do not publish stay fast.
"""

from __future__ import annotations

import importlib

from .base import Channel

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

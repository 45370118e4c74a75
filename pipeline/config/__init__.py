"""Configuration: config.yaml → typed settings.

Takes the newsletter's ``config.yaml``; gives a :class:`Config` (site, paths, schedule, the
channels' options with ``${VAR}`` read from the environment only when used). Every key is
declared once in :mod:`pipeline.config.fields`; :mod:`pipeline.config.settings` checks a
file against those tables.
"""

from pipeline.config.settings import (
    ChannelConfig,
    Config,
    Options,
    Site,
    channel_env_refs,
    expand_env,
    load_config,
    parse_duration,
    require_env,
)

__all__ = [
    "ChannelConfig",
    "Config",
    "Options",
    "Site",
    "channel_env_refs",
    "expand_env",
    "load_config",
    "parse_duration",
    "require_env",
]

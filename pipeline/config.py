"""config.yaml → typed settings.

Every key is declared once in the tables below as a :class:`Field` (name, type, default,
help); the README's configuration reference is written from the same tables. Unknown keys
and wrong types are refused with the key's path and a hint. ``${NAME}`` in a string value
is read from the environment only when that value is used, so a folder whose email channel
needs ``${SMTP_PASSWORD}`` still builds without it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time, timedelta, tzinfo
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .yamlio import load_yaml_file


@dataclass(frozen=True)
class Field:
    """One configuration key: its type, default, help text and (for blocks) sub-keys."""

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    required: bool = False
    choices: tuple[str, ...] | None = None
    children: tuple["Field", ...] | None = None
    # Bounds of a number, checked by load_config and shown in the README's reference.
    at_least: float | None = None
    more_than: float | None = None
    at_most: float | None = None
    address: bool = False  # an email address, optionally with a name: 论文速递 <digest@example.org>

    def range_problem(self, value: Any) -> str | None:
        """What is wrong with a number outside this field's bounds, or None."""
        if self.at_least is not None and value < self.at_least:
            return f"must be at least {_number(self.at_least)}"
        if self.more_than is not None and value <= self.more_than:
            return f"must be more than {_number(self.more_than)}"
        if self.at_most is not None and value > self.at_most:
            return f"must be at most {_number(self.at_most)}"
        return None

    def range_text(self) -> str:
        """The bounds as the README shows them, e.g. ``1–65535`` or ``> 0``; empty when unbounded."""
        if self.at_least is not None and self.at_most is not None:
            return f"{_number(self.at_least)}–{_number(self.at_most)}"
        if self.at_least is not None:
            return f"≥ {_number(self.at_least)}"
        if self.more_than is not None:
            return f"> {_number(self.more_than)}"
        return f"≤ {_number(self.at_most)}" if self.at_most is not None else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


SITE_FIELDS = (
    Field("title", str, required=True, help="Newsletter name; feed title, page title, email sender name."),
    Field("url", str, required=True, help="Absolute URL the archive is served at; feed links and email images use it."),
    Field("language", str, "zh-CN", help="BCP 47 language tag: <html lang>, xml:lang, feed language."),
    Field("author", str, "", help="Default author name for feeds and WeChat articles."),
    Field("description", str, "", help="One line about the newsletter: feed subtitle and archive header."),
    Field("timezone", str, "UTC", help="IANA zone for publish_at values without an offset, e.g. Asia/Shanghai."),
    Field("publish_time", str, "08:00", help="Default time of day (HH:MM) of an issue's publish_at."),
)

PATH_FIELDS = (
    Field("issues", str, "issues", help="Folder of issue folders."),
    Field("templates", str, "templates", help="Folder of template overrides (same names as the packaged ones)."),
    Field("output", str, "public", help="Where `publish build` writes the site and feeds."),
    Field("state", str, ".publish/state.db", help="SQLite ledger; its folder also holds locks and caches."),
)

SCHEDULE_FIELDS = (
    Field("poll", (int, float), 60, more_than=0, help="Seconds between two passes of `publish scheduler`."),
    Field("catch_up", (str, int), "2d", help="Issues due longer ago than this (e.g. 2d, 36h, 3600) are not sent by the scheduler."),
)

ARXIV_FIELDS = (
    Field("api_base", str, "http://export.arxiv.org/api/query", help="arXiv API query endpoint."),
    Field("timeout", (int, float), 20, more_than=0, help="Seconds to wait for the arXiv API."),
)

SMTP_FIELDS = (
    Field("host", str, required=True, help="SMTP server host name."),
    Field("port", int, 587, at_least=1, at_most=65535, help="SMTP port (587 starttls, 465 ssl, 25 none)."),
    Field("security", str, "starttls", choices=("none", "starttls", "ssl"), help="Transport security."),
    Field("username", str, None, help="Login name; use ${VAR} to read it from the environment."),
    Field("password", str, None, help="Password; always ${VAR}, never the secret itself."),
    Field("timeout", (int, float), 30, more_than=0, help="Seconds to wait for the server."),
)

CHANNEL_FIELDS: dict[str, tuple[Field, ...]] = {
    "feed": (
        Field("items", int, 20, at_least=1, help="How many of the newest issues the feeds carry."),
        Field("websub_hub", str, None, help="WebSub hub URL: advertised in the feeds and pinged after a change."),
    ),
    "email": (
        Field("from", str, required=True, address=True, help="Sender, e.g. '论文速递 <digest@example.org>'."),
        Field("reply_to", str, None, address=True, help="Reply-To address."),
        Field("subscribers", str, "subscribers.csv", help="CSV with email,name[,status] columns, or `database`."),
        Field("transport", str, None, choices=("smtp", "maildir"), help="smtp when an smtp block is given, else maildir."),
        Field("smtp", dict, None, children=SMTP_FIELDS, help="SMTP relay settings."),
        Field("maildir", str, "outbox/maildir", help="Maildir folder the maildir transport writes to."),
        Field("eight_bit", bool, True, help="Send UTF-8 text as 8bit (smallest as sent, under Gmail's clip; the server must offer 8BITMIME); false: base64 / quoted-printable."),
        Field("connections", int, 4, at_least=1, help="Parallel SMTP sessions."),
        Field("max_per_second", (int, float), None, more_than=0, help="Throttle: messages per second across all sessions."),
        Field("max_per_hour", int, None, at_least=1, help="Throttle: sliding one-hour window, for provider quotas."),
        Field("max_errors", int, 50, at_least=0, help="Pause the send when this many recipients have failed."),
        Field("retries", int, 5, at_least=1, help="Attempts per message when the server says try again (SMTP 4xx) or drops the connection."),
        Field("retry_delay", (int, float), 2, at_least=0, help="Seconds before the first retry; doubled after each attempt."),
        Field("unsubscribe_secret", str, None, help="HMAC key of unsubscribe links (${VAR}); generated and kept in the state folder when unset."),
        Field("unsubscribe_mailto", str, None, help="Address for a mailto: List-Unsubscribe variant, next to the one-click URL; set it only where someone (or a script) acts on what arrives there."),
        Field("list_id", str, None, help="List-Id header value; derived from site.url when unset."),
    ),
    "wechat": (
        Field("api_base", str, "https://api.weixin.qq.com", help="WeChat Official Account API base URL."),
        Field("app_id", str, None, help="AppID (${VAR})."),
        Field("app_secret", str, None, help="AppSecret (${VAR}); never logged."),
        Field("author", str, None, help="Article author (at most 16 characters); defaults to site.author."),
        Field("mode", str, None, choices=("draft", "publish", "export"), help="draft (default with credentials), publish, or export (default without)."),
        Field("open_comment", bool, False, help="Open comments on the article."),
        Field("only_fans_can_comment", bool, False, help="Only followers may comment."),
        Field("outbox", str, "outbox/wechat", help="Folder export mode writes payloads to."),
        Field("timeout", (int, float), 30, more_than=0, help="Seconds to wait for the API."),
    ),
    "webhook": (
        Field("url", str, required=True, help="Endpoint to POST to (${VAR}: webhook URLs are secrets)."),
        Field("format", str, "json", choices=("json", "slack", "discord", "feishu"), help="Payload shape."),
        Field("timeout", (int, float), 15, more_than=0, help="Seconds to wait for the endpoint."),
    ),
}

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw]?)$")


def expand_env(value: Any, key_path: str) -> Any:
    """Replace ``${NAME}`` references in a string with the environment's values."""
    if not isinstance(value, str) or "${" not in value:
        return value

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(
                f"{key_path} refers to ${{{name}}}, which is not set in the environment",
                hint=f"export {name}=… before running, or change {key_path} in config.yaml",
            )
        return os.environ[name]

    return _ENV_REF.sub(lookup, value)


def parse_duration(value: str | int | float, key_path: str) -> timedelta:
    """``2d``, ``36h``, ``90m``, ``45s`` or a number of seconds → timedelta."""
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ConfigError(f"{key_path}: {value!r} is not a duration", hint="write e.g. 2d, 36h, 90m or 3600")
    amount, unit = float(match.group(1)), match.group(2) or "s"
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return timedelta(seconds=amount * seconds)


class Options:
    """A validated block of options; string values have ``${VAR}`` expanded on access."""

    def __init__(self, values: dict[str, Any], key_path: str) -> None:
        self._values = values
        self.key_path = key_path

    def get(self, name: str, default: Any = None) -> Any:
        value = self._values.get(name)
        if value is None:
            return default
        if isinstance(value, dict):
            return Options(value, f"{self.key_path}.{name}")
        return expand_env(value, f"{self.key_path}.{name}")

    def raw(self, name: str) -> Any:
        """The value as written, ``${VAR}`` left alone (for display without secrets)."""
        return self._values.get(name)

    def __contains__(self, name: str) -> bool:
        return self._values.get(name) is not None

    def names(self) -> list[str]:
        """The keys that have a value (set, or a default)."""
        return [name for name, value in self._values.items() if value is not None]



@dataclass(frozen=True)
class Site:
    title: str
    url: str
    language: str
    author: str
    description: str
    timezone: str
    publish_time: str

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    @property
    def publish_clock(self) -> time:
        hour, minute = self.publish_time.split(":")
        return time(int(hour), int(minute))

    def absolute(self, path: str) -> str:
        """``site.url`` joined with a site-relative path."""
        return self.url + path.lstrip("/")


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    options: Options


@dataclass(frozen=True)
class Config:
    """The whole validated config.yaml; paths already resolved against its folder."""

    root: Path
    path: Path
    site: Site
    issues_dir: Path
    templates_dir: Path
    output_dir: Path
    state_path: Path
    channels: dict[str, ChannelConfig]
    poll_seconds: float
    catch_up: timedelta
    arxiv: Options
    raw_bytes: bytes = field(default=b"", repr=False)

    @property
    def state_dir(self) -> Path:
        return self.state_path.parent


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", dict: "a block of keys", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _is_type(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # YAML `yes` must not pass as a number
    return isinstance(value, kinds)


def validate_block(data: Any, fields: tuple[Field, ...], key_path: str, errors: list[str]) -> dict[str, Any]:
    """Check one mapping against its field table; return it with defaults filled in."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors.append(f"{key_path}: expected a block of keys, found {type(data).__name__}")
        return {}
    known = {f.name: f for f in fields}
    out: dict[str, Any] = {}
    for key in data:
        if key not in known:
            errors.append(f"{key_path}.{key}: unknown key (known keys: {', '.join(known)})")
    for f in fields:
        where = f"{key_path}.{f.name}"
        value = data.get(f.name)
        if value is None:
            if f.required:
                errors.append(f"{where}: required key is missing ({f.help})")
            out[f.name] = f.default
            continue
        if f.type is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # `port: 587`-style scalars are fine where text is expected
        if not _is_type(value, f.type):
            errors.append(f"{where}: expected {_type_name(f.type)}, found {value!r}")
            continue
        if f.choices and value not in f.choices:
            errors.append(f"{where}: {value!r} is not one of {', '.join(f.choices)}")
            continue
        problem = _value_problem(f, value)
        if problem:
            errors.append(f"{where}: {value!r} {problem}")
            continue
        if f.children is not None:
            value = validate_block(value, f.children, where, errors)
        out[f.name] = value
    return out


def _value_problem(f: Field, value: Any) -> str | None:
    """A range or address problem of a value of the right type, or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f.range_problem(value)
    if f.address and isinstance(value, str) and "${" not in value:  # a ${VAR} is checked when read
        local, _, domain = parseaddr(value)[1].partition("@")  # the rule mail.parse_sender applies
        if not (local and domain) or any(ord(c) < 32 for c in value):
            return "is not an email address: write e.g. 论文速递 <digest@example.org>"
    return None


def channel_env_refs(channel: ChannelConfig) -> list[tuple[str, str]]:
    """``(key path, VAR)`` for each ``${VAR}`` in the options the channel will read.

    Settings the channel leaves unread are left out: the smtp block when mail goes to a
    Maildir, the WeChat credentials in export mode.
    """
    options = channel.options
    skip: set[str] = set()
    if channel.type == "email" and (options.raw("transport") or ("smtp" if "smtp" in options else "maildir")) == "maildir":
        skip.add("smtp")
    if channel.type == "wechat" and options.raw("mode") == "export":
        skip.update(("app_id", "app_secret"))
    refs: list[tuple[str, str]] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{where}.{key}")
        elif isinstance(value, str):
            refs.extend((where, name) for name in _ENV_REF.findall(value))

    for key in options.names():
        if key not in skip:
            walk(options.raw(key), f"{options.key_path}.{key}")
    return refs


def require_env(channel: ChannelConfig) -> None:
    """Raise ConfigError, naming key and variable, for the first ``${VAR}`` the channel will read that is not set."""
    for key, name in channel_env_refs(channel):
        expand_env(f"${{{name}}}", key)


def _validate_site(site: dict[str, Any], errors: list[str]) -> None:
    url = site.get("url") or ""
    if url and not re.match(r"^https?://[^/\s]+", url):
        errors.append(f"site.url: {url!r} must be an absolute http(s) URL, e.g. https://digest.example.org/")
    try:
        ZoneInfo(site["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"site.timezone: {site['timezone']!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)")
    if not _TIME_OF_DAY.match(site["publish_time"]):
        errors.append(f"site.publish_time: {site['publish_time']!r} must be HH:MM, e.g. \"08:00\"")


def _validate_channels(data: Any, errors: list[str]) -> dict[str, ChannelConfig]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        errors.append("channels: expected a block of named channels")
        return {}
    channels = {}
    for name, block in data.items():
        where = f"channels.{name}"
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", str(name)):
            errors.append(f"{where}: channel names use a-z, 0-9, - and _")
            continue
        if not isinstance(block, dict) or "type" not in block:
            errors.append(f"{where}: needs a `type:` ({', '.join(CHANNEL_FIELDS)})")
            continue
        kind = block["type"]
        if kind not in CHANNEL_FIELDS:
            errors.append(f"{where}.type: unknown channel type {kind!r} (known: {', '.join(CHANNEL_FIELDS)})")
            continue
        rest = {k: v for k, v in block.items() if k != "type"}
        values = validate_block(rest, CHANNEL_FIELDS[kind], where, errors)
        channels[str(name)] = ChannelConfig(str(name), kind, Options(values, where))
    return channels


def load_config(path: Path | str) -> Config:
    """Read and validate config.yaml; raise ConfigError listing every problem found."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no config.yaml here",
            hint="run inside a newsletter folder, pass --config PATH, or create one with `publish init DIR`",
        )
    raw = path.read_bytes()
    data = load_yaml_file(path, raw, ConfigError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a block of keys at the top level")
    errors: list[str] = []
    top = ("site", "paths", "channels", "schedule", "arxiv")
    for key in data:
        if key not in top:
            errors.append(f"{key}: unknown top-level key (known keys: {', '.join(top)})")
    site = validate_block(data.get("site"), SITE_FIELDS, "site", errors)
    paths = validate_block(data.get("paths"), PATH_FIELDS, "paths", errors)
    schedule = validate_block(data.get("schedule"), SCHEDULE_FIELDS, "schedule", errors)
    arxiv = validate_block(data.get("arxiv"), ARXIV_FIELDS, "arxiv", errors)
    channels = _validate_channels(data.get("channels"), errors)
    if not errors:
        _validate_site(site, errors)
    catch_up = timedelta(days=2)
    try:
        catch_up = parse_duration(schedule["catch_up"], "schedule.catch_up")
    except ConfigError as exc:
        errors.append(str(exc))
    if errors:
        raise ConfigError(f"{path}: " + "\n  ".join(["invalid configuration:", *errors]))
    if not site["url"].endswith("/"):
        site["url"] += "/"
    root = path.resolve().parent
    return Config(
        root=root,
        path=path.resolve(),
        site=Site(**site),
        issues_dir=root / paths["issues"],
        templates_dir=root / paths["templates"],
        output_dir=root / paths["output"],
        state_path=root / paths["state"],
        channels=channels,
        poll_seconds=float(schedule["poll"]),
        catch_up=catch_up,
        arxiv=Options(arxiv, "arxiv"),
        raw_bytes=raw,
    )


def reference_markdown() -> str:
    """The configuration reference tables of README.md, written from the field tables above."""
    words = {str: "text", int: "integer", float: "number", bool: "bool", dict: "block", list: "list"}

    def table(fields: tuple[Field, ...], prefix: str) -> list[str]:
        rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
        for f in fields:
            kinds = f.type if isinstance(f.type, tuple) else (f.type,)
            kind = " \\| ".join(f.choices) if f.choices else " or ".join(words[k] for k in kinds)
            if f.range_text():
                kind += f", {f.range_text()}"
            elif f.address:
                kind = "address"
            default = "required" if f.required else ("—" if f.default in (None, "") else f"`{f.default}`")
            rows.append(f"| `{prefix}{f.name}` | {kind} | {default} | {f.help} |")
        return rows

    parts = [("`site:`", SITE_FIELDS, "site."), ("`paths:`", PATH_FIELDS, "paths."), ("`schedule:`", SCHEDULE_FIELDS, "schedule."), ("`arxiv:`", ARXIV_FIELDS, "arxiv.")]
    lines: list[str] = []
    for title, fields, prefix in parts:
        lines += [f"#### {title}", "", *table(fields, prefix), ""]
    for kind, fields in CHANNEL_FIELDS.items():
        lines += [f"#### Channel `type: {kind}`", "", *table(fields, ""), ""]
        for f in fields:
            if f.children:
                lines += [f"`{f.name}:` block", "", *table(f.children, f"{f.name}."), ""]
    return "\n".join(lines).rstrip() + "\n"

"""config.yaml → typed settings.

Every key is declared once in :mod:`pipeline.config.fields` as a :class:`Field` (name, type,
default, help); the README's configuration reference is written from the same tables. Unknown keys
and wrong types are refused with the key's path and a hint. ``${NAME}`` in a string value
is read from the environment only when that value is used, so a folder whose email channel
needs ``${SMTP_PASSWORD}`` still builds without it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.config.fields import ARXIV_FIELDS, CHANNEL_FIELDS, PATH_FIELDS, SCHEDULE_FIELDS, SITE_FIELDS, Field
from pipeline.errors import ConfigError
from pipeline.yamlio import load_yaml_file

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw]?)$")
# An address no parser can read otherwise: `name <local@domain>` or `local@domain`, the name
# without the characters that quote, comment or separate addresses, the address of dot-atoms.
# Checked first, as most are; anything else goes to email.utils, whose import costs ~13 ms of
# every command (each loads the config).
_ATOMS = r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
_PLAIN_ADDRESS = re.compile(rf"(?:[^\x00-\x1f\x7f,;:\"().<>@\[\]\\]*<{_ATOMS}@{_ATOMS}>|{_ATOMS}@{_ATOMS}) *")


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

    def declares(self, key: str) -> bool:
        """Whether this channel's type has the option ``key`` in the config table.

        Stages below the channels (render, build, audience) ask for an option by name, not for
        a channel by type: a new channel type that declares ``subscribers`` gets a signup form,
        one that declares ``websub_hub`` drives the feeds, with no change outside its table.
        """
        return any(f.name == key for f in CHANNEL_FIELDS[self.type])


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

    def channels_declaring(self, key: str) -> list[ChannelConfig]:
        """The configured channels whose type has the option ``key`` (see ChannelConfig.declares)."""
        return [channel for channel in self.channels.values() if channel.declares(key)]


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "a string",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        dict: "a block of keys",
        list: "a list",
    }
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
    # a ${VAR} is checked when read
    if f.address and isinstance(value, str) and "${" not in value and not is_address(value):
        return "is not an email address: write e.g. 论文速递 <digest@example.org>"
    return None


def is_address(value: str) -> bool:
    """Whether ``value`` holds an address (``local@domain``), by the rule mail.parse_sender applies."""
    if _PLAIN_ADDRESS.fullmatch(value.lstrip(" ")):
        return True
    from email.utils import parseaddr  # here, not at the top: see _PLAIN_ADDRESS

    local, _, domain = parseaddr(value)[1].partition("@")
    return bool(local and domain) and not any(ord(c) < 32 for c in value)


def channel_env_refs(channel: ChannelConfig) -> list[tuple[str, str]]:
    """``(key path, VAR)`` for each ``${VAR}`` in the options the channel will read.

    Settings the channel leaves unread are left out: the smtp block when mail goes to a
    Maildir, the WeChat credentials in export mode.
    """
    options = channel.options
    skip = {
        f.name
        for f in CHANNEL_FIELDS[channel.type]
        if f.unused_when and options.raw(f.unused_when[0]) == f.unused_when[1]
    }
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
        errors.append(f'site.publish_time: {site["publish_time"]!r} must be HH:MM, e.g. "08:00"')


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


def _validate_output(root: Path, output: Path, issues: Path, errors: list[str]) -> None:
    """``paths.output`` is a folder the build fills and cleans: inside the newsletter folder or
    beside it, never the newsletter folder itself, a folder holding it, or the issues."""
    try:
        target = output.resolve()
    except (OSError, RuntimeError):
        errors.append(f"paths.output: {output} cannot be resolved: name a folder such as public")
        return
    fix = "name a folder of its own, such as public (inside the newsletter folder) or ../digest-public"
    if target.exists() and not target.is_dir():
        errors.append(f"paths.output: {target} is a file, not a folder: {fix}")
    elif not target.is_relative_to(root.parent) or target in (root.parent, root) or root.is_relative_to(target):
        errors.append(f"paths.output: {target} would mix the site with other files: {fix}")
    elif target.is_relative_to(issues.resolve()) or issues.resolve().is_relative_to(target):
        errors.append(f"paths.output: {target} overlaps the issue folders: {fix}")


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
    root = path.resolve().parent
    if not errors:
        _validate_output(root, root / paths["output"], root / paths["issues"], errors)
    if errors:
        raise ConfigError(f"{path}: " + "\n  ".join(["invalid configuration:", *errors]))
    if not site["url"].endswith("/"):
        site["url"] += "/"
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

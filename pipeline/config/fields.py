"""Every key config.yaml may hold, declared once: name, type, default, bounds and help.

:mod:`pipeline.config` checks a config against these tables, and the README's configuration
reference is written from them (``scripts/update_readme.py``; a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """One configuration key: its type, default, help text and (for blocks) sub-keys."""

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    required: bool = False
    choices: tuple[str, ...] | None = None
    children: tuple[Field, ...] | None = None
    # Bounds of a number, checked by load_config and shown in the README's reference.
    at_least: float | None = None
    more_than: float | None = None
    at_most: float | None = None
    address: bool = False  # an email address, optionally with a name: 论文速递 <digest@example.org>
    # (option, value): the channel does not read this key while that option has that value,
    # so a ${VAR} in it need not be set (the smtp block of a Maildir send, say).
    unused_when: tuple[str, str] | None = None

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
    Field(
        "output",
        str,
        "public",
        help="Where `publish build` writes the site and feeds: a folder of its own, inside the newsletter folder or beside it (never `/`, the newsletter folder or the issues).",
    ),
    Field("state", str, ".publish/state.db", help="SQLite ledger; its folder also holds locks and caches."),
)

SCHEDULE_FIELDS = (
    Field("poll", (int, float), 60, more_than=0, help="Seconds between two passes of `publish scheduler`."),
    Field(
        "catch_up",
        (str, int),
        "2d",
        help="Issues due longer ago than this (e.g. 2d, 36h, 3600) are not sent by the scheduler.",
    ),
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

DKIM_FIELDS = (
    Field(
        "selector",
        str,
        required=True,
        help="Selector: the public key is published at `<selector>._domainkey.<domain>`.",
    ),
    Field(
        "domain",
        str,
        None,
        help="Signing domain (d=); the From address's domain when unset. Another domain is signed with a warning: DMARC needs it to share the From domain's organisational domain.",
    ),
    Field(
        "private_key",
        str,
        None,
        help="PEM private key (RSA, at least 1024 bits, 2048 advised; or ed25519 with PyNaCl); always ${VAR}, never the key itself. Never logged.",
    ),
    Field(
        "private_key_file",
        str,
        None,
        help="File holding the PEM private key instead, relative to the config folder; keep it out of paths.output.",
    ),
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
        Field(
            "transport", str, None, choices=("smtp", "maildir"), help="smtp when an smtp block is given, else maildir."
        ),
        Field(
            "smtp", dict, None, children=SMTP_FIELDS, unused_when=("transport", "maildir"), help="SMTP relay settings."
        ),
        Field("maildir", str, "outbox/maildir", help="Maildir folder the maildir transport writes to."),
        Field(
            "eight_bit",
            bool,
            True,
            help="Send UTF-8 text as 8bit (smallest as sent, under Gmail's clip; the server must offer 8BITMIME); false: base64 / quoted-printable.",
        ),
        Field("connections", int, 4, at_least=1, help="Parallel SMTP sessions."),
        Field(
            "max_per_second", (int, float), None, more_than=0, help="Throttle: messages per second across all sessions."
        ),
        Field("max_per_hour", int, None, at_least=1, help="Throttle: sliding one-hour window, for provider quotas."),
        Field("max_errors", int, 50, at_least=0, help="Pause the send when this many recipients have failed."),
        Field(
            "retries",
            int,
            5,
            at_least=1,
            help="Attempts per message when the server says try again (SMTP 4xx) or drops the connection.",
        ),
        Field(
            "retry_delay",
            (int, float),
            2,
            at_least=0,
            help="Seconds before the first retry; doubled after each attempt.",
        ),
        Field(
            "max_deferrals",
            int,
            8,
            at_least=1,
            help="Runs in which a recipient may be deferred (every retry answered 4xx, or its connection dropped or stalled past 3 × smtp.timeout) before it is recorded as failed; `publish status ID` lists such recipients.",
        ),
        Field(
            "defer_delay",
            (int, float),
            300,
            at_least=0,
            help="Seconds before a later run tries a deferred recipient again; doubled after each deferral, at most 6 hours (with the defaults, failed after about 10 hours).",
        ),
        Field(
            "unsubscribe_secret",
            str,
            None,
            help="HMAC key of unsubscribe links (${VAR}); generated and kept in the state folder when unset.",
        ),
        Field(
            "unsubscribe_mailto",
            str,
            None,
            help="Address for a mailto: List-Unsubscribe variant, next to the one-click URL; set it only where someone (or a script) acts on what arrives there.",
        ),
        Field("list_id", str, None, help="List-Id header value; derived from site.url when unset."),
        Field(
            "dkim",
            dict,
            None,
            children=DKIM_FIELDS,
            help="Sign each message with DKIM (relaxed/relaxed); leave it off when the relay signs for the From domain. `publish doctor` prints the DNS record.",
        ),
    ),
    "wechat": (
        Field("api_base", str, "https://api.weixin.qq.com", help="WeChat Official Account API base URL."),
        Field("app_id", str, None, unused_when=("mode", "export"), help="AppID (${VAR})."),
        Field("app_secret", str, None, unused_when=("mode", "export"), help="AppSecret (${VAR}); never logged."),
        Field("author", str, None, help="Article author (at most 16 characters); defaults to site.author."),
        Field(
            "mode",
            str,
            None,
            choices=("draft", "publish", "broadcast", "export"),
            help="draft: a draft to finish in the admin (default with credentials); publish: 发布, on the account but not pushed to followers; broadcast: 群发 to every follower, once; export: a paste page for the mp.weixin.qq.com editor, no API (default without credentials).",
        ),
        Field(
            "default_cover",
            str,
            None,
            help="Image in the newsletter folder (e.g. assets/wechat-cover.png) used as the cover of an issue without `cover:`; `publish init` makes one.",
        ),
        Field("open_comment", bool, False, help="Open comments on the article."),
        Field("only_fans_can_comment", bool, False, help="Only followers may comment."),
        Field("outbox", str, "outbox/wechat", help="Folder export mode writes the paste page, payload and images to."),
        Field("timeout", (int, float), 30, more_than=0, help="Seconds to wait for the API."),
    ),
    "webhook": (
        Field("url", str, required=True, help="Endpoint to POST to (${VAR}: webhook URLs are secrets)."),
        Field("format", str, "json", choices=("json", "slack", "discord", "feishu"), help="Payload shape."),
        Field("timeout", (int, float), 15, more_than=0, help="Seconds to wait for the endpoint."),
    ),
}


def reference_markdown() -> str:
    """The configuration reference tables of README.md, written from the tables above."""
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

    parts = [
        ("`site:`", SITE_FIELDS, "site."),
        ("`paths:`", PATH_FIELDS, "paths."),
        ("`schedule:`", SCHEDULE_FIELDS, "schedule."),
        ("`arxiv:`", ARXIV_FIELDS, "arxiv."),
    ]
    lines: list[str] = []
    for title, fields, prefix in parts:
        lines += [f"#### {title}", "", *table(fields, prefix), ""]
    for kind, fields in CHANNEL_FIELDS.items():
        lines += [f"#### Channel `type: {kind}`", "", *table(fields, ""), ""]
        for f in fields:
            if f.children:
                lines += [f"`{f.name}:` block", "", *table(f.children, f"{f.name}."), ""]
    return "\n".join(lines).rstrip() + "\n"

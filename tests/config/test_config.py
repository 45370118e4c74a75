"""config.yaml: typed settings, unknown keys and wrong types refused with the key's path, ${ENV}."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import BASIC_CONFIG, write

from pipeline.config import channel_env_refs, load_config
from pipeline.errors import ConfigError


def test_bundled_config(example_config):
    site = example_config.site
    assert site.url == "https://digest.example.org/"
    assert site.language == "zh-CN"
    assert example_config.channels["feed"].options.get("items") == 20
    assert example_config.output_dir == example_config.root / "public"
    assert example_config.state_path == example_config.root / ".publish" / "state.db"
    assert example_config.catch_up == timedelta(days=2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASIC_CONFIG + "extra: 1\n", "extra: unknown top-level key"),
        (BASIC_CONFIG.replace("language: zh-CN", "langauge: zh-CN"), "site.langauge: unknown key"),
        (
            BASIC_CONFIG.replace("feed: {type: feed, items: 20}", "feed: {type: feed, items: many}"),
            "channels.feed.items: expected a whole number, found 'many'",
        ),
        (
            BASIC_CONFIG.replace("feed: {type: feed, items: 20}", "feed: {type: rss}"),
            "channels.feed.type: unknown channel type 'rss'",
        ),
        (
            BASIC_CONFIG.replace("feed: {type: feed, items: 20}", "mail: {type: email}"),
            "channels.mail.from: required key is missing",
        ),
        (
            BASIC_CONFIG.replace("https://digest.example.org/", "digest.example.org"),
            "site.url: 'digest.example.org' must be an absolute http(s) URL",
        ),
        (
            BASIC_CONFIG.replace("Asia/Shanghai", "Mars/Olympus"),
            "site.timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (BASIC_CONFIG.replace('"08:00"', '"8 am"'), "site.publish_time: '8 am' must be HH:MM"),
        (BASIC_CONFIG + "schedule: {catch_up: soon}\n", "schedule.catch_up: 'soon' is not a duration"),
        ("site: [broken\n", "config.yaml:1: invalid YAML"),
        (
            BASIC_CONFIG.replace("feed: {type: feed, items: 20}", "wechat: {type: wechat, mode: live}"),
            "channels.wechat.mode: 'live' is not one of draft, publish, broadcast, export",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, message):
    write(tmp_path / "config.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "config.yaml")
    assert message in str(caught.value)


def test_missing_config_has_a_hint(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "config.yaml")
    assert "publish init" in caught.value.hint


def test_env_values_are_read_when_used(tmp_path, monkeypatch):
    text = (
        BASIC_CONFIG
        + "  mail:\n    type: email\n    from: a@example.org\n    smtp: {host: smtp.example.org, password: '${SMTP_PW_FOR_TEST}'}\n"
    )
    write(tmp_path / "config.yaml", text)
    monkeypatch.delenv("SMTP_PW_FOR_TEST", raising=False)
    config = load_config(tmp_path / "config.yaml")  # loading does not need the variable
    smtp = config.channels["mail"].options.get("smtp")
    with pytest.raises(
        ConfigError, match=r"channels.mail.smtp.password refers to \$\{SMTP_PW_FOR_TEST\}, which is not set"
    ):
        smtp.get("password")
    monkeypatch.setenv("SMTP_PW_FOR_TEST", "s3cret")
    assert smtp.get("password") == "s3cret"
    assert smtp.raw("password") == "${SMTP_PW_FOR_TEST}"


def test_paths_are_relative_to_the_config_folder(tmp_path):
    write(tmp_path / "sub" / "config.yaml", BASIC_CONFIG + "paths: {output: site, issues: content/issues}\n")
    config = load_config(tmp_path / "sub" / "config.yaml")
    assert config.output_dir == (tmp_path / "sub" / "site").resolve()
    assert config.issues_dir == (tmp_path / "sub" / "content" / "issues").resolve()


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("schedule: {poll: -5}\n", "schedule.poll: -5 must be more than 0"),
        ("schedule: {poll: 0}\n", "schedule.poll: 0 must be more than 0"),
        ("arxiv: {timeout: 0}\n", "arxiv.timeout: 0 must be more than 0"),
        ("channels:\n  news: {type: feed, items: 0}\n", "channels.news.items: 0 must be at least 1"),
        (
            "channels:\n  mail: {type: email, from: a@example.org, smtp: {host: h, port: 70000}}\n",
            "channels.mail.smtp.port: 70000 must be at most 65535",
        ),
        (
            "channels:\n  mail: {type: email, from: a@example.org, connections: 0}\n",
            "channels.mail.connections: 0 must be at least 1",
        ),
        (
            "channels:\n  mail: {type: email, from: a@example.org, retry_delay: -1}\n",
            "channels.mail.retry_delay: -1 must be at least 0",
        ),
        (
            "channels:\n  mail: {type: email, from: 论文速递}\n",
            "channels.mail.from: '论文速递' is not an email address",
        ),
        (
            "channels:\n  mail: {type: email, from: a@example.org, reply_to: 编辑部}\n",
            "channels.mail.reply_to: '编辑部' is not an email address",
        ),
        (
            "channels:\n  hook: {type: webhook, url: 'https://h.example.org/', timeout: -1}\n",
            "channels.hook.timeout: -1 must be more than 0",
        ),
    ],
)
def test_numbers_out_of_range_and_bad_addresses_are_refused_with_the_key(tmp_path, block, message):
    base = BASIC_CONFIG.split("channels:")[0] if block.startswith("channels:") else BASIC_CONFIG
    write(tmp_path / "config.yaml", base + block)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "config.yaml")
    assert message in str(caught.value)


def test_values_in_range_and_addresses_with_names_load(tmp_path):
    text = BASIC_CONFIG + (
        "  mail: {type: email, from: '论文速递 <digest@example.org>', reply_to: '${REPLY_ADDR}', retry_delay: 0, max_errors: 0,"
        " smtp: {host: h, port: 465}}\nschedule: {poll: 0.5}\n"
    )
    write(tmp_path / "config.yaml", text)
    config = load_config(tmp_path / "config.yaml")  # a ${VAR} address is checked when it is read
    assert config.poll_seconds == 0.5
    assert config.channels["mail"].options.get("smtp").get("port") == 465


def test_env_refs_are_the_ones_the_channel_reads(tmp_path):
    text = BASIC_CONFIG + (
        "  relay:\n    type: email\n    from: a@example.org\n    unsubscribe_secret: '${UNSUB_KEY}'\n"
        "    smtp: {host: '${SMTP_HOST}', password: '${SMTP_PW}'}\n"
        "  outbox:\n    type: email\n    from: a@example.org\n    transport: maildir\n    smtp: {host: h, password: '${UNUSED_PW}'}\n"
        "  wx: {type: wechat, mode: export, app_secret: '${WX_SECRET}'}\n"
        "  wx2: {type: wechat, app_id: '${WX_ID}', app_secret: '${WX_SECRET}'}\n"
    )
    write(tmp_path / "config.yaml", text)
    channels = load_config(tmp_path / "config.yaml").channels
    assert sorted(channel_env_refs(channels["relay"])) == [
        ("channels.relay.smtp.host", "SMTP_HOST"),
        ("channels.relay.smtp.password", "SMTP_PW"),
        ("channels.relay.unsubscribe_secret", "UNSUB_KEY"),
    ]
    assert channel_env_refs(channels["outbox"]) == []  # mail goes to a Maildir: the smtp block is not read
    assert channel_env_refs(channels["wx"]) == []  # export mode needs no credentials
    assert channel_env_refs(channels["wx2"]) == [
        ("channels.wx2.app_id", "WX_ID"),
        ("channels.wx2.app_secret", "WX_SECRET"),
    ]


def test_an_alias_that_holds_itself_is_read_once_not_forever(newsletter):
    """`loop: &a [*a]` in config.yaml made every command spin at 100% CPU."""
    root = newsletter()
    config = root / "config.yaml"
    config.write_text(config.read_text("utf-8") + "loop: &a [*a]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert "loop: unknown top-level key" in str(refused.value)


def _by_parseaddr(value: str) -> bool:
    """The check as it was before the fast path: email.utils.parseaddr's address."""
    from email.utils import parseaddr

    local, _, domain = parseaddr(value)[1].partition("@")
    return bool(local and domain) and not any(ord(c) < 32 for c in value)


@pytest.mark.parametrize(
    "value",
    [
        "论文速递 <digest@example.org>",
        "digest@example.org",
        "  大模型前沿论文速递<news.letter+ai@mail.example.cn>  ",
        "Digest Editors <a_b%c@x-y.example.org>",
        "论文速递, 周刊 <digest@example.org>",  # a comma: two addresses
        '"论文速递" <digest@example.org>',
        "J. Smith <j@example.org>",
        "digest@example.org\n",
        "\tdigest@example.org",
        "a..b@example.org",
        "<@example.org>",
        "论文速递 <digest@>",
        "论文速递 (编辑部) <digest@example.org>",
        "digest@example.org <other@example.org>",
    ],
)
def test_an_address_is_judged_as_email_utils_judges_it(value):
    from pipeline.config.settings import is_address

    assert is_address(value) == _by_parseaddr(value)


def test_the_fast_address_check_never_accepts_what_email_utils_refuses():
    import random

    from pipeline.config.settings import _PLAIN_ADDRESS, is_address

    rng = random.Random(7)
    pieces = [*'ab.@<>_-+% ,;:"()[]\\\t\n\x7f\x85', "论文", "　", "x.y", "@e.org", "<a@b.cn>", "example.org"]
    fast = 0
    for _ in range(20_000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))
        if _PLAIN_ADDRESS.fullmatch(value.lstrip(" ")):
            fast += 1
            assert _by_parseaddr(value), value
        assert is_address(value) == _by_parseaddr(value), value
    assert fast > 100  # the fast path was taken often enough to mean something

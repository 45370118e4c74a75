"""config.yaml: typed settings, unknown keys and wrong types refused with the key's path, ${ENV}."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import BASIC_CONFIG, write
from pipeline.config import load_config
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
        (BASIC_CONFIG.replace("feed: {type: feed, items: 20}", "feed: {type: feed, items: many}"), "channels.feed.items: expected a whole number, found 'many'"),
        (BASIC_CONFIG.replace("feed: {type: feed, items: 20}", "feed: {type: rss}"), "channels.feed.type: unknown channel type 'rss'"),
        (BASIC_CONFIG.replace("feed: {type: feed, items: 20}", "mail: {type: email}"), "channels.mail.from: required key is missing"),
        (BASIC_CONFIG.replace("https://digest.example.org/", "digest.example.org"), "site.url: 'digest.example.org' must be an absolute http(s) URL"),
        (BASIC_CONFIG.replace("Asia/Shanghai", "Mars/Olympus"), "site.timezone: 'Mars/Olympus' is not an IANA time zone"),
        (BASIC_CONFIG.replace('"08:00"', '"8 am"'), "site.publish_time: '8 am' must be HH:MM"),
        (BASIC_CONFIG + "schedule: {catch_up: soon}\n", "schedule.catch_up: 'soon' is not a duration"),
        ("site: [broken\n", "config.yaml:1: invalid YAML"),
        (BASIC_CONFIG.replace("feed: {type: feed, items: 20}", "wechat: {type: wechat, mode: live}"), "channels.wechat.mode: 'live' is not one of draft, publish, export"),
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
    text = BASIC_CONFIG + "  mail:\n    type: email\n    from: a@example.org\n    smtp: {host: smtp.example.org, password: '${SMTP_PW_FOR_TEST}'}\n"
    write(tmp_path / "config.yaml", text)
    monkeypatch.delenv("SMTP_PW_FOR_TEST", raising=False)
    config = load_config(tmp_path / "config.yaml")  # loading does not need the variable
    smtp = config.channels["mail"].options.get("smtp")
    with pytest.raises(ConfigError, match=r"channels.mail.smtp.password refers to \$\{SMTP_PW_FOR_TEST\}, which is not set"):
        smtp.get("password")
    monkeypatch.setenv("SMTP_PW_FOR_TEST", "s3cret")
    assert smtp.get("password") == "s3cret"
    assert smtp.raw("password") == "${SMTP_PW_FOR_TEST}"


def test_paths_are_relative_to_the_config_folder(tmp_path):
    write(tmp_path / "sub" / "config.yaml", BASIC_CONFIG + "paths: {output: site, issues: content/issues}\n")
    config = load_config(tmp_path / "sub" / "config.yaml")
    assert config.output_dir == (tmp_path / "sub" / "site").resolve()
    assert config.issues_dir == (tmp_path / "sub" / "content" / "issues").resolve()

"""The webhook channel against a real recording HTTP server on 127.0.0.1 (fake_http)."""

from __future__ import annotations

import json
import time

import pytest
from conftest import NOW, paper_md, write
from fake_http import Answer, FakeHTTP

from pipeline.channels import http
from pipeline.config import load_config
from pipeline.ledger import Ledger
from pipeline.publish.publisher import publish_issue

ISSUE = "2025-03-01"
TITLE = "大模型论文速递 · 第41期 <!channel> & | 检索增强"
SUMMARY = "本期两篇：长上下文压缩与 <b>检索增强</b> 生成。"
LINK = f"https://digest.example.org/issues/{ISSUE}/"
SECRET_PATH = "/hooks/T000/B000/XXXXsecretXXXX"


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(http, "BACKOFF", 0.01)


@pytest.fixture
def site(newsletter, monkeypatch):
    """A factory: site(server, format) → Config with a webhook channel posting to server."""

    def make(server: FakeHTTP, fmt: str = "json"):
        monkeypatch.setenv("HOOK_URL", server.url + SECRET_PATH)
        root = newsletter(f"""\
site:
  title: 测试论文速递
  url: https://digest.example.org/
  timezone: Asia/Shanghai
channels:
  hook:
    type: webhook
    url: ${{HOOK_URL}}
    format: {fmt}
""")
        folder = root / "issues" / ISSUE
        write(
            folder / "issue.yaml",
            f"title: {json.dumps(TITLE, ensure_ascii=False)}\nsummary: {json.dumps(SUMMARY, ensure_ascii=False)}\ntags: [长上下文]\n",
        )
        write(folder / "01-snapkv.md", paper_md("SnapKV", arxiv="2404.14469", title_translated="SnapKV：按需压缩"))
        return load_config(root / "config.yaml")

    return make


def publish(config, **kwargs):
    [result] = publish_issue(config, ISSUE, ["hook"], now=NOW, **kwargs)
    return result


def delivery(config):
    with Ledger(config.state_path) as ledger:
        return ledger.delivery(ISSUE, "hook")


def test_json_payload_is_utf8_and_sent_once(site):
    with FakeHTTP() as server:
        config = site(server)
        result = publish(config)
        assert result.status == "done", result.detail
        [request] = server.requests
        assert request.path == SECRET_PATH and request.headers["content-type"].startswith("application/json")
        assert TITLE.encode("utf-8") in request.body  # Chinese as is, not \uXXXX
        body = request.json
        assert (body["title"], body["summary"], body["url"], body["id"]) == (TITLE, SUMMARY, LINK, ISSUE)
        assert body["papers"][0]["title_translated"] == "SnapKV：按需压缩" and body["tags"] == ["长上下文"]
        assert delivery(config)["state"] == "sent" and delivery(config)["response"].startswith("HTTP 200")
        assert publish(config).status == "already done"
        assert len(server.requests) == 1
        assert SECRET_PATH not in result.detail and "127.0.0.1" in result.detail


def test_slack_text_escapes_control_characters(site):
    with FakeHTTP() as server:
        assert publish(site(server, "slack")).status == "done"
        text = server.requests[0].json["text"]
        assert text.startswith(f"*<{LINK}|")
        assert "&lt;!channel&gt; &amp; ｜ 检索增强>*" in text  # no @channel ping, no broken link
        assert "&lt;b&gt;检索增强&lt;/b&gt;" in text


def test_discord_embed_without_mentions(site):
    with FakeHTTP(default=Answer(204, b"")) as server:
        assert publish(site(server, "discord")).status == "done"
        body = server.requests[0].json
        assert body["embeds"] == [{"title": TITLE, "url": LINK, "description": SUMMARY}]
        assert body["allowed_mentions"] == {"parse": []}


def test_feishu_post_message_and_its_refusal(site):
    with FakeHTTP(
        script=[Answer(200, json.dumps({"code": 19024, "msg": "Key Words Not Found"}))],
        default=Answer(200, json.dumps({"code": 0, "msg": "success", "data": {}})),
    ) as server:
        config = site(server, "feishu")
        result = publish(config)
        assert result.status == "failed" and "19024" in result.detail and "Key Words Not Found" in result.detail
        assert delivery(config)["state"] == "failed"
        assert publish(config).status == "done"
        post = server.requests[-1].json
        assert post["msg_type"] == "post"
        zh = post["content"]["post"]["zh_cn"]
        assert zh["title"] == TITLE
        assert zh["content"] == [[{"tag": "text", "text": SUMMARY}], [{"tag": "a", "text": "阅读全文", "href": LINK}]]


def test_429_waits_for_retry_after_then_sends(site):
    with FakeHTTP(script=[Answer(429, "slow down", {"Retry-After": "1"})]) as server:
        config = site(server)
        started = time.monotonic()
        result = publish(config)
        assert result.status == "done", result.detail
        assert time.monotonic() - started >= 0.9  # the server's Retry-After, not the 0.01s backoff
        assert len(server.requests) == 2 and server.requests[0].body == server.requests[1].body
        assert delivery(config)["attempts"] == 1 and delivery(config)["state"] == "sent"


def test_503_is_retried_with_backoff(site):
    with FakeHTTP(script=[Answer(503, "down"), Answer(502, "bad gateway")]) as server:
        assert publish(site(server)).status == "done"
        assert len(server.requests) == 3


def test_persistent_5xx_fails_and_is_recorded(site, monkeypatch):
    monkeypatch.setattr(http, "ATTEMPTS", 3)
    with FakeHTTP(default=Answer(500, "boom")) as server:
        config = site(server)
        result = publish(config)
        assert result.status == "failed" and "HTTP 500" in result.detail and "3 attempts" in result.detail
        assert SECRET_PATH not in result.detail
        assert len(server.requests) == 3
        row = delivery(config)
        assert row["state"] == "failed" and "HTTP 500" in row["error"]


def test_client_error_fails_at_once(site):
    with FakeHTTP(default=Answer(404, "no such hook")) as server:
        result = publish(site(server))
        assert result.status == "failed" and "HTTP 404" in result.detail and "no such hook" in result.detail
        assert len(server.requests) == 1


def test_retry_after_too_long_is_not_waited_for(site):
    with FakeHTTP(default=Answer(429, "", {"Retry-After": "86400"})) as server:
        started = time.monotonic()
        result = publish(site(server))
        assert result.status == "failed" and "86400" in result.detail
        assert time.monotonic() - started < 5 and len(server.requests) == 1


def test_sent_before_a_crash_is_not_sent_again(site):
    with FakeHTTP() as server:
        config = site(server)
        assert publish(config).status == "done"
        with Ledger(config.state_path) as ledger:  # as if killed after the POST, before the run was closed
            ledger.start_run(ISSUE, "hook", "x")
        result = publish(config)
        assert result.status == "done" and "already sent" in result.detail
        assert len(server.requests) == 1


def test_dry_run_names_the_host_only(site):
    with FakeHTTP() as server:
        [result] = publish_issue(site(server, "discord"), ISSUE, ["hook"], now=NOW, dry_run=True)
        assert result.status == "would send" and server.requests == []
        assert "discord" in result.plan[0] and "127.0.0.1" in result.plan[0] and SECRET_PATH not in result.plan[0]

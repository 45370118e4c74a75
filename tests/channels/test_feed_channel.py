"""The feed channel: built feeds checked and hashed, a WebSub hub (a real HTTP server) pinged after a change."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import feedparser
import pytest
from conftest import NOW, paper_md, write
from fake_http import Answer, FakeHTTP

from pipeline.channels import http
from pipeline.channels.base import Job
from pipeline.channels.feed import FeedChannel, feeds_hash
from pipeline.config import load_config
from pipeline.errors import ChannelError
from pipeline.ledger import Ledger
from pipeline.publish.publisher import load_one, publish_issue

SITE = "https://digest.example.org/"
FEED_URLS = [SITE + "rss.xml", SITE + "atom.xml", SITE + "feed.json"]


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(http, "BACKOFF", 0.01)


def add_issue(root, issue_id: str, title: str) -> None:
    write(root / "issues" / issue_id / "issue.yaml", f"title: {title}\nsummary: {title}的摘要。\n")
    write(root / "issues" / issue_id / "01-paper.md", paper_md("A Paper"))


@pytest.fixture
def site(newsletter):
    def make(hub: str | None = None):
        hub_line = f", websub_hub: '{hub}'" if hub else ""
        root = newsletter(f"""\
site:
  title: 测试论文速递
  url: {SITE}
  timezone: Asia/Shanghai
channels:
  feed: {{type: feed, items: 20{hub_line}}}
""")
        add_issue(root, "2025-03-01", "第41期：长上下文")
        return load_config(root / "config.yaml")

    return make


def publish(config, issue_id: str = "2025-03-01"):
    [result] = publish_issue(config, issue_id, ["feed"], now=NOW)
    return result


def pings(server: FakeHTTP) -> list[dict[str, list[str]]]:
    return [parse_qs(r.body.decode()) for r in server.requests]


def test_without_hub_the_feeds_are_checked_and_their_hash_recorded(site):
    config = site()
    result = publish(config)
    assert result.status == "done" and "feeds up to date" in result.detail
    with Ledger(config.state_path) as ledger:
        assert ledger.remote("2025-03-01", "feed")["feeds_hash"] == feeds_hash(config.output_dir)
    assert publish(config).status == "already done"


def test_hub_is_advertised_and_pinged_once_per_change(site):
    with FakeHTTP(default=Answer(204, b"")) as hub:
        config = site(hub.url + "/hub")
        assert publish(config).status == "done"
        assert pings(hub) == [{"hub.mode": ["publish"], "hub.url": [url]} for url in FEED_URLS]
        assert all(r.headers["content-type"] == "application/x-www-form-urlencoded" for r in hub.requests)
        # The feeds name the hub, so subscribers know where to subscribe.
        for name in ("rss.xml", "atom.xml"):
            parsed = feedparser.parse((config.output_dir / name).read_bytes())
            assert any(
                link.get("rel") == "hub" and link.get("href") == hub.url + "/hub" for link in parsed.feed.links
            ), name
        assert json.loads((config.output_dir / "feed.json").read_text("utf-8"))["hubs"] == [
            {"type": "WebSub", "url": hub.url + "/hub"}
        ]
        with Ledger(config.state_path) as ledger:
            assert ledger.counts("2025-03-01", "feed")["sent"] == 3
        # Nothing changed: no second ping.
        assert publish(config).status == "already done"
        assert len(hub.requests) == 3
        # A new issue changes the feeds: one more round of pings.
        add_issue(config.root, "2025-03-08", "第42期：检索增强")
        assert publish(config, "2025-03-08").status == "done"
        assert len(hub.requests) == 6
        # The older issue's run sees feeds it never recorded, but the hub already knows them.
        result = publish(config)
        assert result.status == "done" and "already notified" in result.detail
        assert len(hub.requests) == 6


def test_hub_429_is_retried_and_a_refusal_fails_then_retries_next_time(site):
    script = [Answer(429, "", {"Retry-After": "0"}), Answer(400, "bad topic")]
    with FakeHTTP(script=script, default=Answer(202, b"")) as hub:
        config = site(hub.url + "/hub")
        result = publish(config)
        assert result.status == "failed" and "HTTP 400" in result.detail and "bad topic" in result.detail
        assert len(hub.requests) == 2
        with Ledger(config.state_path) as ledger:
            assert ledger.delivery("2025-03-01", "feed", FEED_URLS[0])["state"] == "failed"
        result = publish(config)
        assert result.status == "done" and "pinged" in result.detail
        assert [p["hub.url"][0] for p in pings(hub)[2:]] == FEED_URLS


def test_missing_feeds_fail_with_a_hint(site):
    config = site()
    assert publish(config).status == "done"
    (config.output_dir / "atom.xml").unlink()
    with Ledger(config.state_path) as ledger:
        job = Job(
            load_one(config, "2025-03-01"),
            "feed",
            config,
            config.channels["feed"].options,
            ledger,
            config.output_dir / "issues" / "2025-03-01",
        )
        assert not FeedChannel().is_done(job)
        with pytest.raises(ChannelError, match=r"atom\.xml missing; run `publish build`"):
            FeedChannel().deliver(job)


def test_dry_run_says_whether_the_hub_would_be_pinged(site):
    with FakeHTTP(default=Answer(204, b"")) as hub:
        config = site(hub.url + "/hub")
        [result] = publish_issue(config, "2025-03-01", ["feed"], now=NOW, dry_run=True)
        assert any("POST hub.mode=publish" in line for line in result.plan) and hub.requests == []
        publish(config)
        [result] = publish_issue(config, "2025-03-01", ["feed"], now=NOW, dry_run=True)
        assert any("already told" in line for line in result.plan)

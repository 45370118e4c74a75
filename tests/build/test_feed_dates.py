"""Feed dates come from what the build remembers: an edit moves them, a rebuild does not."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import feedparser
import orjson
import yaml
from conftest import NOW, paper_md, write

from pipeline.build.builder import build
from pipeline.config import Config, load_config

FEEDS = ("rss.xml", "atom.xml", "feed.json", "papers.xml", "papers.json")
LATER = datetime(2026, 3, 1, 12, 30, 15, 999, tzinfo=timezone.utc)


def newsletter_with_three_issues(root: Path) -> Config:
    for day in ("2024-10-01", "2024-10-08", "2024-10-15"):
        folder = root / "issues" / day
        write(
            folder / "issue.yaml",
            yaml.safe_dump({"title": f"第 {day} 期", "summary": "本期摘要。"}, allow_unicode=True),
        )
        write(folder / "01-a.md", paper_md(f"论文甲 {day}", arxiv=None))
        write(folder / "02-b.md", paper_md(f"论文乙 {day}", arxiv=None))
    return load_config(root / "config.yaml")


def feed_files(config: Config) -> dict[str, bytes]:
    return {name: (config.output_dir / name).read_bytes() for name in FEEDS}


def dates(files: dict[str, bytes]) -> dict[str, dict[str, str]]:
    """Per feed: entry id → its updated time (date_modified in JSON Feed)."""
    atom = {e.id: e.updated for e in feedparser.parse(files["atom.xml"]).entries}
    papers = {e.id: e.updated for e in feedparser.parse(files["papers.xml"]).entries}
    return {
        "atom": atom,
        "json": {i["id"]: i["date_modified"] for i in json.loads(files["feed.json"])["items"]},
        "papers": papers,
        "papers.json": {i["id"]: i["date_modified"] for i in json.loads(files["papers.json"])["items"]},
    }


def test_an_edit_moves_only_that_items_dates_and_a_rebuild_keeps_the_bytes(newsletter):
    root = newsletter()
    config = newsletter_with_three_issues(root)
    build(config, now=NOW)
    before_files = feed_files(config)
    before = dates(before_files)
    assert before["atom"]["https://digest.example.org/issues/2024-10-08/"] == "2024-10-08T08:00:00+08:00"

    edited = root / "issues" / "2024-10-08" / "02-b.md"
    edited.write_text(edited.read_text("utf-8").replace("导语。", "改过的导语。"), "utf-8")
    build(config, now=LATER)
    after_files = feed_files(config)
    after = dates(after_files)
    issue = "https://digest.example.org/issues/2024-10-08/"
    paper = f"{issue}#paper-02-b"
    for feed in ("atom", "json"):
        assert after[feed][issue] == "2026-03-01T20:30:15+08:00" > before[feed][issue]
        assert {k: v for k, v in after[feed].items() if k != issue} == {
            k: v for k, v in before[feed].items() if k != issue
        }
    for feed in ("papers", "papers.json"):
        assert after[feed][paper] == "2026-03-01T20:30:16+08:00"  # the edit's time plus the paper's index
        assert {k: v for k, v in after[feed].items() if k != paper} == {
            k: v for k, v in before[feed].items() if k != paper
        }
    assert feedparser.parse(after_files["atom.xml"]).feed.updated == "2026-03-01T20:30:15+08:00"
    assert b"Sun, 01 Mar 2026 20:30:15 +0800" in after_files["rss.xml"]  # lastBuildDate

    build(config, now=datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert feed_files(config) == after_files
    build(config, now=datetime(2028, 1, 1, tzinfo=timezone.utc), force=True)
    assert feed_files(config) == after_files


def test_dates_survive_a_new_tool_version(newsletter):
    root = newsletter()
    config = newsletter_with_three_issues(root)
    build(config, now=NOW)
    edited = root / "issues" / "2024-10-15" / "issue.yaml"
    edited.write_text(edited.read_text("utf-8").replace("本期摘要。", "本期摘要（修订）。"), "utf-8")
    build(config, now=LATER)
    files = feed_files(config)
    manifest = config.state_dir / "build" / "manifest.json"
    data = orjson.loads(manifest.read_bytes())
    data["version"] = "0.0.0-older"  # everything is rendered again, the dates stay
    manifest.write_bytes(orjson.dumps(data))
    build(config, now=datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert feed_files(config) == files


def test_an_edit_before_the_publish_time_dates_it_at_the_publish_time(newsletter):
    root = newsletter()
    config = newsletter_with_three_issues(root)
    before_publication = datetime(2024, 9, 1, tzinfo=timezone.utc)
    build(config, now=before_publication)
    edited = root / "issues" / "2024-10-15" / "issue.yaml"
    edited.write_text(edited.read_text("utf-8").replace("本期摘要。", "本期摘要（修订）。"), "utf-8")
    build(config, now=before_publication)
    build(config, now=NOW)  # the feeds now show it: updated is not before published
    atom = feedparser.parse((config.output_dir / "atom.xml").read_bytes())
    assert [(e.published, e.updated) for e in atom.entries][0] == ("2024-10-15T08:00:00+08:00",) * 2


def test_a_removed_issue_is_forgotten_with_its_dates(newsletter):
    import shutil

    root = newsletter()
    config = newsletter_with_three_issues(root)
    build(config, now=NOW)
    shutil.rmtree(root / "issues" / "2024-10-01")
    build(config, now=NOW)
    data = orjson.loads((config.state_dir / "build" / "manifest.json").read_bytes())
    assert sorted(data["revisions"]) == ["2024-10-08", "2024-10-15"]

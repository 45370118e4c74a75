"""Email and WeChat files only while an issue may still be sent, or when it is named; the issue
page links only to the versions it has, and repeated builds give the same bytes."""

from __future__ import annotations

import json
import mailbox
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from conftest import NOW, paper_md, write

from pipeline.build import builder
from pipeline.build.builder import build
from pipeline.config import Config, load_config
from pipeline.publish.publisher import publish_issue
from pipeline.web.preview import Preview

SEND_FILES = ("email.html", "email.txt", "wechat.md", "wechat.html", "wechat.json")
DAYS = ("2024-10-01", "2024-10-08", "2024-10-15", "2024-10-22")
CONFIG = """\
site:
  title: 测试论文速递
  url: https://digest.example.org/
  language: zh-CN
  author: 测试编辑部
  timezone: Asia/Shanghai
  publish_time: "08:00"
channels:
  feed: {type: feed, items: 20}
  email: {type: email, from: 测试论文速递 <digest@example.org>, subscribers: subscribers.csv, maildir: outbox/maildir}
  wechat: {type: wechat, mode: export}
schedule:
  catch_up: 2d
"""


def make_archive(root: Path, days: tuple[str, ...] = DAYS) -> Config:
    for day in days:
        folder = root / "issues" / day
        meta = {"title": f"第 {day} 期：长上下文与检索", "summary": "本期两篇。", "tags": ["长上下文"]}
        write(folder / "issue.yaml", yaml.safe_dump(meta, allow_unicode=True))
        write(
            folder / "01-a.md",
            paper_md(f"论文甲 {day}", arxiv=None, body="导语：压缩缓存。\n\n## 研究背景\n\n内容。\n"),
        )
    write(root / "subscribers.csv", "email,name,status\nzhang.wei@example.com,张伟,active\n")
    return load_config(root / "config.yaml")


def send_files(config: Config, issue_id: str) -> set[str]:
    folder = config.output_dir / "issues" / issue_id
    return {name for name in SEND_FILES if (folder / name).is_file()}


def version_links(config: Config, issue_id: str) -> list[str]:
    """The hrefs of the page's 本期其他版本 line, each checked to exist next to the page."""
    page = (config.output_dir / "issues" / issue_id / "index.html").read_text("utf-8")
    [line] = [line for line in page.splitlines() if "本期其他版本" in line]
    hrefs = re.findall(r'href="([^"]+)"', line)
    for href in hrefs:
        assert (config.output_dir / "issues" / issue_id / href).is_file(), f"{issue_id} links to missing {href}"
    return hrefs


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def archive(newsletter, monkeypatch) -> Config:
    """Four weekly issues of 2024, long past the catch-up window at NOW; the newest two always
    get their email and WeChat files."""
    monkeypatch.setattr(builder, "SEND_WINDOW", 2)
    return make_archive(newsletter(CONFIG))


def test_old_issues_get_page_and_bibtex_the_newest_every_version(archive):
    report = build(archive, now=NOW)
    assert sorted(report.built) == list(DAYS)
    for old in DAYS[:2]:
        assert send_files(archive, old) == set()
        assert version_links(archive, old) == ["papers.bib"]
    for new in DAYS[2:]:
        assert send_files(archive, new) == set(SEND_FILES)
        assert version_links(archive, new) == ["email.html", "wechat.md", "papers.bib"]
    email = (archive.output_dir / "issues" / DAYS[-1] / "email.html").read_text("utf-8")
    assert "论文甲 2024-10-22" in email


def test_a_named_issue_gets_every_version_and_keeps_them_until_rendered_again(archive):
    build(archive, now=NOW)
    old = DAYS[0]
    report = build(archive, [old], now=NOW)
    assert report.built == [old]
    assert send_files(archive, old) == set(SEND_FILES)
    assert version_links(archive, old) == ["email.html", "wechat.md", "papers.bib"]

    again = build(archive, now=NOW)  # not named now, but unchanged: nothing is rendered or removed
    assert again.built == [] and again.written == []
    assert send_files(archive, old) == set(SEND_FILES)

    paper = archive.issues_dir / old / "01-a.md"
    paper.write_text(paper.read_text("utf-8").replace("内容。", "改过的内容。"), "utf-8")
    edited = build(archive, now=NOW)
    assert edited.built == [old]
    assert send_files(archive, old) == set()  # rendered again without them: the files go too
    assert version_links(archive, old) == ["papers.bib"]
    assert "改过的内容" in (archive.output_dir / "issues" / old / "index.html").read_text("utf-8")


def test_an_issue_the_scheduler_may_still_send_gets_them_and_keeps_them_after(archive, monkeypatch):
    monkeypatch.setattr(builder, "SEND_WINDOW", 1)
    # 2024-10-15 was due at 08:00 +08:00 on the 15th: a day before, within catch_up (2 days).
    day_after = datetime(2024, 10, 16, 0, 0, tzinfo=timezone.utc)
    build(archive, now=day_after)
    assert send_files(archive, "2024-10-22") == set(SEND_FILES)  # not due yet
    assert send_files(archive, "2024-10-15") == set(SEND_FILES)
    assert send_files(archive, "2024-10-08") == set()
    later = build(archive, now=NOW)  # past catch_up now, but its key holds: it is not rendered again
    assert "2024-10-15" not in later.built
    assert send_files(archive, "2024-10-15") == set(SEND_FILES)
    version_links(archive, "2024-10-15")


def test_a_new_issue_pushes_none_out_and_gets_every_version(archive):
    build(archive, now=NOW)
    make_archive(archive.root, ("2024-10-29",))
    report = build(archive, now=NOW)
    assert report.built == ["2024-10-29"]  # 2024-10-15 left the window; unchanged, it keeps its files
    assert send_files(archive, "2024-10-29") == set(SEND_FILES)
    assert send_files(archive, "2024-10-15") == set(SEND_FILES)


@pytest.mark.usefixtures("no_other_threads")  # which would keep the build in one process
def test_cold_builds_give_the_same_bytes_in_one_process_and_in_workers(newsletter, monkeypatch, tmp_path):
    monkeypatch.setattr(builder, "SEND_WINDOW", 2)
    config = make_archive(newsletter(CONFIG))
    monkeypatch.setenv("PUBLISH_BUILD_JOBS", "1")
    build(config, now=NOW)
    first = tree(config.output_dir)
    shutil.rmtree(config.output_dir)
    shutil.rmtree(config.state_dir)
    build(config, now=NOW)
    assert tree(config.output_dir) == first

    shutil.rmtree(config.output_dir)
    shutil.rmtree(config.state_dir)
    monkeypatch.setenv("PUBLISH_BUILD_JOBS", "2")
    monkeypatch.setattr(builder, "PARALLEL_MIN", 2)  # four issues: forked workers render them
    started = tmp_path / "workers"
    started.mkdir()
    monkeypatch.setattr(builder, "_start_worker", lambda: (started / str(os.getpid())).touch())
    build(config, now=NOW)
    assert tree(config.output_dir) == first
    assert len(list(started.iterdir())) == 2 and not (started / str(os.getpid())).exists()
    assert (config.output_dir / "issues" / DAYS[0] / "papers.bib").is_file()
    assert send_files(config, DAYS[0]) == set()


def test_publishing_an_old_issue_builds_and_sends_its_email_and_wechat(archive):
    build(archive, now=NOW)
    old = DAYS[0]
    assert send_files(archive, old) == set()
    results = publish_issue(archive, old, ["email", "wechat"], now=NOW)
    assert [(r.channel, r.status) for r in results] == [("email", "done"), ("wechat", "done")], [
        r.line() for r in results
    ]
    [message] = mailbox.Maildir(archive.root / "outbox" / "maildir", create=False)
    html = message.get_payload()[1].get_payload(decode=True).decode("utf-8")
    assert "论文甲 2024-10-01" in html
    exported = archive.root / "outbox" / "wechat" / old
    assert "论文甲 2024-10-01" in (exported / "article.html").read_text("utf-8")
    assert json.loads((archive.output_dir / "issues" / old / "wechat.json").read_text("utf-8"))
    assert version_links(archive, old) == ["email.html", "wechat.md", "papers.bib"]


def test_the_preview_shows_email_and_wechat_of_every_issue(example, monkeypatch):
    monkeypatch.setattr(builder, "SEND_WINDOW", 1)
    session = Preview(example / "config.yaml", now=lambda: NOW)
    session.rebuild()
    assert session.error is None
    issues = session.config.output_dir / "issues"
    for issue_id in ("2024-04-28", "2024-09-30"):
        assert (issues / issue_id / "email.html").is_file() and (issues / issue_id / "wechat.html").is_file()
    public = load_config(example / "config.yaml")
    build(public, now=NOW)  # the real build, beside it, gives the old issue only its page
    assert send_files(public, "2024-04-28") == set()
    assert send_files(public, "2024-09-30") == set(SEND_FILES)


def test_the_templates_compiled_before_the_workers_fork_are_all_an_issue_renders(example_config, example_issues):
    """Workers inherit ISSUE_TEMPLATES compiled; one missing would be compiled again in each."""
    from pipeline.build.outputs import ISSUE_OUTPUTS, ISSUE_TEMPLATES
    from pipeline.render import feeds
    from pipeline.render.context import RenderContext

    ctx = RenderContext(example_config, NOW)
    ctx.preload_templates(ISSUE_TEMPLATES)
    loaded = {name for _loader, name in ctx.templates.cache}
    assert loaded == set(ISSUE_TEMPLATES)
    for issue in example_issues.values():
        for render in ISSUE_OUTPUTS.values():
            assert render(issue, ctx)
        assert feeds.item_content(issue, ctx)
    assert {name for _loader, name in ctx.templates.cache} == loaded

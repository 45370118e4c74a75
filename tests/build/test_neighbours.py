"""Previous/next links of issue pages: right after a new issue, a title edit, a draft released
or a scheduled issue's time, with only the pages concerned written again."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import NOW, write

from pipeline.build.builder import build
from pipeline.config import Config, load_config
from tests.render.test_web_render import parse


@pytest.fixture(autouse=True)
def no_search(monkeypatch):
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")


def publish(config: Config, now: datetime = NOW, force: bool = False) -> list[str]:
    """``publish build``; the issue pages whose links were written."""
    report = build(config, now=now, force=force)
    written = [p.parent.name for p in report.written if p.name == "index.html" and p.parent.parent.name == "issues"]
    return sorted(set(written) - set(report.built) | {i for i in report.built if links(config, i)})


def links(config: Config, issue_id: str) -> dict[str, tuple[str, str]]:
    page = parse((config.output_dir / f"issues/{issue_id}/index.html").read_bytes())
    found = {}
    for a in page.find("a"):
        if a.attrs.get("rel") in ("prev", "next"):  # not the other versions' nofollow
            label = {"prev": "← 上一期", "next": "下一期 →"}[a.attrs["rel"]]
            assert a.text.startswith(label)
            found[a.attrs["rel"]] = (a.attrs["href"], a.text.removeprefix(label).strip())
    return found


def issue(root: Path, day: str, title: str, extra: str = "") -> None:
    write(root / f"issues/{day}/issue.yaml", f'title: "{title}"\n{extra}')


def test_links_follow_new_issues_edits_drafts_and_schedules(newsletter) -> None:
    root = newsletter()
    for day, title in (("2024-05-01", "第一期"), ("2024-05-08", "第二期"), ("2024-05-15", "第三期")):
        issue(root, day, title)
    config = load_config(root / "config.yaml")
    publish(config)
    assert links(config, "2024-05-08") == {
        "prev": ("../../issues/2024-05-01/", "第一期"),
        "next": ("../../issues/2024-05-15/", "第三期"),
    }
    assert links(config, "2024-05-01") == {"next": ("../../issues/2024-05-08/", "第二期")}
    assert links(config, "2024-05-15") == {"prev": ("../../issues/2024-05-08/", "第二期")}
    untouched = (config.output_dir / "issues/2024-05-01/index.html").stat().st_mtime_ns

    issue(root, "2024-05-22", "第四期")  # a new issue: its page and its older neighbour's change
    assert publish(config) == ["2024-05-15", "2024-05-22"]
    assert links(config, "2024-05-15")["next"] == ("../../issues/2024-05-22/", "第四期")
    assert links(config, "2024-05-22") == {"prev": ("../../issues/2024-05-15/", "第三期")}
    assert (config.output_dir / "issues/2024-05-01/index.html").stat().st_mtime_ns == untouched

    issue(root, "2024-05-08", "第二期（修订）")  # a title edit reaches both neighbours
    publish(config)
    assert links(config, "2024-05-01")["next"][1] == "第二期（修订）"
    assert links(config, "2024-05-15")["prev"][1] == "第二期（修订）"

    issue(root, "2024-05-29", "草稿", "draft: true\n")  # a draft is skipped and shows no links
    issue(root, "2024-06-05", "定时发布", "publish_at: 2026-02-01T08:00:00+08:00\n")
    publish(config)
    assert "next" not in links(config, "2024-05-22")
    assert links(config, "2024-05-29") == {} and links(config, "2024-06-05") == {}

    later = datetime(2026, 2, 2, tzinfo=timezone.utc)  # the scheduled issue's time came: no file changed
    publish(config, later)
    assert links(config, "2024-05-22")["next"] == ("../../issues/2024-06-05/", "定时发布")
    assert links(config, "2024-06-05") == {"prev": ("../../issues/2024-05-22/", "第四期")}


def test_an_unchanged_archive_writes_no_page(newsletter) -> None:
    root = newsletter()
    issue(root, "2024-05-01", "第一期")
    issue(root, "2024-05-08", "第二期")
    config = load_config(root / "config.yaml")
    publish(config)
    assert publish(config) == []


def test_a_template_without_markers_is_left_as_it_is(newsletter) -> None:
    root = newsletter()
    issue(root, "2024-05-01", "第一期")
    issue(root, "2024-05-08", "第二期")
    write(
        root / "templates/issue.html",
        '{% extends "base.html" %}{% block content %}<h1>{{ issue.title }}</h1>{% endblock %}',
    )
    config = load_config(root / "config.yaml")
    assert publish(config) == []
    assert links(config, "2024-05-01") == {}


def test_links_stay_through_forced_builds_and_config_edits(newsletter) -> None:
    """A page is staged without links, then with them: the second staging wins even when it
    equals the file on disk (it once left the linkless page in place on every other build)."""
    root = newsletter()
    issue(root, "2024-09-23", "第一期")
    issue(root, "2024-09-30", "第二期")
    publish(load_config(root / "config.yaml"))
    config = load_config(root / "config.yaml")
    pages = {day: (config.output_dir / f"issues/{day}/index.html") for day in ("2024-09-23", "2024-09-30")}
    first = {day: page.read_bytes() for day, page in pages.items()}
    assert links(config, "2024-09-30") and links(config, "2024-09-23")
    for _ in range(3):
        publish(config, force=True)
        assert {day: page.read_bytes() for day, page in pages.items()} == first
    with (root / "config.yaml").open("a", encoding="utf-8") as f:
        f.write("# a comment changes the config's bytes, so every issue is rendered again\n")
    publish(load_config(root / "config.yaml"))
    assert {day: page.read_bytes() for day, page in pages.items()} == first

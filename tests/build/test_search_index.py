"""`publish build` writes the Pagefind index of the public issue pages: only theirs, swapped in
whole, left alone when no page changed, and a warning (not a failure) without Pagefind."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest
from conftest import NOW, write

from pipeline.build import search
from pipeline.build.builder import build
from pipeline.config import load_config

pytestmark = pytest.mark.skipif(find_spec("pagefind") is None, reason="pip install 'pagefind[extended]'")


@pytest.fixture(autouse=True)
def with_search(monkeypatch):
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "1")


def indexed_pages(public: Path) -> int:
    entry = json.loads((public / "pagefind/pagefind-entry.json").read_text())
    return sum(language["page_count"] for language in entry["languages"].values())


def test_only_public_issue_pages_are_indexed_and_no_change_keeps_the_index(example: Path) -> None:
    write(example / "issues/2024-10-07/issue.yaml", 'title: "草稿"\ndraft: true\n')
    write(example / "issues/2099-01-05/issue.yaml", 'title: "还没到发布时间"\n')
    config = load_config(example / "config.yaml")
    report = build(config, now=NOW)
    public = config.output_dir
    assert not [p for p in report.problems if "search" in p.message.lower()]
    assert indexed_pages(public) == 2  # the two public issues: not the draft, not the one to come
    assert "zh-cn" in json.loads((public / "pagefind/pagefind-entry.json").read_text())["languages"]
    assert not (public.parent / ".public.pagefind").exists()  # the staging folder is gone
    before = (public / "pagefind").stat().st_ino

    build(config, now=NOW)
    assert (public / "pagefind").stat().st_ino == before  # nothing changed: not indexed again

    write(example / "issues/2024-10-07/issue.yaml", 'title: "草稿发布了"\n')
    build(config, now=NOW)
    assert (public / "pagefind").stat().st_ino != before and indexed_pages(public) == 3


def test_time_alone_can_change_what_is_searchable(example: Path) -> None:
    from datetime import datetime, timezone

    write(example / "issues/2026-03-01/issue.yaml", 'title: "三月的一期"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    assert indexed_pages(config.output_dir) == 2
    build(config, now=datetime(2026, 3, 2, tzinfo=timezone.utc))  # no file changed, the issue is due
    assert indexed_pages(config.output_dir) == 3


def test_without_pagefind_the_build_warns_and_goes_on(example: Path, monkeypatch) -> None:
    monkeypatch.setattr(search, "find_spec", lambda name: None)
    config = load_config(example / "config.yaml")
    report = build(config, now=NOW)
    assert (config.output_dir / "index.html").is_file() and not (config.output_dir / "pagefind").exists()
    [warning] = [p for p in report.problems if "Pagefind" in p.message]
    assert warning.severity == "warning" and "pip install" in warning.message


def test_a_failing_pagefind_is_a_warning_and_keeps_the_last_index(example: Path, monkeypatch) -> None:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    old = (config.output_dir / "pagefind/pagefind-entry.json").read_bytes()
    monkeypatch.setattr(search, "_run_pagefind", lambda site, into, ids: "Pagefind exited with 1: boom")
    write(example / "issues/2024-10-07/issue.yaml", 'title: "新的一期"\n')
    report = build(config, now=NOW)
    assert [p.message for p in report.problems if "search" in p.message] == [
        "search index not updated: Pagefind exited with 1: boom"
    ]
    assert (config.output_dir / "pagefind/pagefind-entry.json").read_bytes() == old


def test_the_switch_leaves_the_index_out(example: Path, monkeypatch) -> None:
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    assert not (config.output_dir / "pagefind").exists()


def test_builds_inside_skipped_leave_the_index_out(example: Path) -> None:
    config = load_config(example / "config.yaml")
    with search.skipped():
        build(config, now=NOW)
    assert not (config.output_dir / "pagefind").exists()
    build(config, now=NOW)
    assert (config.output_dir / "pagefind/pagefind.js").is_file()

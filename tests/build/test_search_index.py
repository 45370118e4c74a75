"""`publish build` writes the Pagefind index of the public issue pages: one bundle per year, only
theirs, the years whose pages changed indexed again and the others carried over, swapped in whole,
left alone when no page changed, and a warning (not a failure) without Pagefind."""

from __future__ import annotations

import json
import os
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


@pytest.fixture
def runs(monkeypatch) -> list[list[str]]:
    """The issue ids of each Pagefind run, one list per year indexed."""
    seen: list[list[str]] = []
    real = search._run_pagefind

    def counted(site: Path, into: Path, ids: list[str]) -> str | None:
        seen.append(ids)
        return real(site, into, ids)

    monkeypatch.setattr(search, "_run_pagefind", counted)
    return seen


def indexed_pages(public: Path, year: str | None = None) -> int:
    """The pages in one year's bundle, or in all of them."""
    years = [year] if year else shard_years(public)
    total = 0
    for each in years:
        entry = json.loads((public / f"pagefind/{each}/pagefind-entry.json").read_text())
        total += sum(language["page_count"] for language in entry["languages"].values())
    return total


def shard_years(public: Path) -> list[str]:
    return json.loads((public / "pagefind/shards.json").read_text())["years"]


def inode(public: Path, year: str) -> int:
    return (public / f"pagefind/{year}/pagefind.js").stat().st_ino


def test_only_public_issue_pages_are_indexed_and_no_change_keeps_the_index(example: Path) -> None:
    write(example / "issues/2024-10-07/issue.yaml", 'title: "草稿"\ndraft: true\n')
    write(example / "issues/2099-01-05/issue.yaml", 'title: "还没到发布时间"\n')
    config = load_config(example / "config.yaml")
    report = build(config, now=NOW)
    public = config.output_dir
    assert not [p for p in report.problems if "search" in p.message.lower()]
    assert shard_years(public) == ["2024"]  # no bundle for the year of the issue to come
    assert indexed_pages(public) == 2  # the two public issues: not the draft, not the one to come
    assert "zh-cn" in json.loads((public / "pagefind/2024/pagefind-entry.json").read_text())["languages"]
    assert not (public.parent / ".public.pagefind").exists()  # the staging folder is gone
    before = (public / "pagefind").stat().st_ino

    build(config, now=NOW)
    assert (public / "pagefind").stat().st_ino == before  # nothing changed: not indexed again

    write(example / "issues/2024-10-07/issue.yaml", 'title: "草稿发布了"\n')
    build(config, now=NOW)
    assert (public / "pagefind").stat().st_ino != before and indexed_pages(public) == 3


def test_one_bundle_per_year_newest_first_with_the_search_box_at_the_top(example: Path) -> None:
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期"\n')
    write(example / "issues/2022-12-26/issue.yaml", 'title: "二〇二二年的最后一期"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    assert shard_years(public) == ["2024", "2023", "2022"]
    assert [indexed_pages(public, year) for year in ("2024", "2023", "2022")] == [2, 1, 1]
    for name in search.UI_FILES:  # every page loads the box from pagefind/ itself
        assert (public / "pagefind" / name).read_bytes() == (public / "pagefind/2024" / name).read_bytes()
    assert not (public / "pagefind/pagefind.js").exists()  # no bundle at the top: only the years'


def test_an_edit_indexes_only_its_year_and_carries_the_others_over(example: Path, runs) -> None:
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    assert sorted(runs) == [["2023-05-08"], ["2024-04-28", "2024-09-30"]]
    old_2023, old_2024 = inode(public, "2023"), inode(public, "2024")

    runs.clear()
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期（修订）"\n')
    build(config, now=NOW)
    assert runs == [["2023-05-08"]]  # the 2024 issues are not read again
    assert inode(public, "2024") == old_2024  # carried over as a link to the same file
    assert inode(public, "2023") != old_2023
    assert shard_years(public) == ["2024", "2023"]

    runs.clear()
    write(example / "issues/2024-10-07/issue.yaml", 'title: "新的一期"\n')
    build(config, now=NOW)
    assert runs == [["2024-04-28", "2024-09-30", "2024-10-07"]]
    assert indexed_pages(public, "2024") == 3 and indexed_pages(public, "2023") == 1


def test_a_year_without_public_issues_disappears(example: Path, runs) -> None:
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    old_2024 = inode(public, "2024")

    runs.clear()
    write(example / "issues/2023-05-08/issue.yaml", 'title: "撤回为草稿"\ndraft: true\n')
    build(config, now=NOW)
    assert runs == []  # nothing to index: 2024 is carried over, 2023 left out
    assert shard_years(public) == ["2024"] and not (public / "pagefind/2023").exists()
    assert inode(public, "2024") == old_2024


def test_years_are_indexed_at_once_up_to_the_jobs_allowed(example: Path, monkeypatch) -> None:
    import threading
    import time

    for year in ("2021", "2022", "2023"):
        write(example / f"issues/{year}-03-01/issue.yaml", f'title: "{year} 年的一期"\n')
    running, most = 0, 0
    lock = threading.Lock()
    real = search._run_pagefind

    def watched(site: Path, into: Path, ids: list[str]) -> str | None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)  # long enough for the others to start when they may
        try:
            return real(site, into, ids)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(search, "_run_pagefind", watched)
    monkeypatch.setenv("PUBLISH_BUILD_JOBS", "2")
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    assert most == 2
    assert shard_years(config.output_dir) == ["2024", "2023", "2022", "2021"]


def test_time_alone_can_change_what_is_searchable(example: Path) -> None:
    from datetime import datetime, timezone

    write(example / "issues/2026-03-01/issue.yaml", 'title: "三月的一期"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    assert indexed_pages(config.output_dir) == 2
    build(config, now=datetime(2026, 3, 2, tzinfo=timezone.utc))  # no file changed, the issue is due
    assert indexed_pages(config.output_dir) == 3
    assert shard_years(config.output_dir) == ["2026", "2024"]


def test_without_pagefind_the_build_warns_and_goes_on(example: Path, monkeypatch) -> None:
    monkeypatch.setattr(search, "find_spec", lambda name: None)
    config = load_config(example / "config.yaml")
    report = build(config, now=NOW)
    assert (config.output_dir / "index.html").is_file() and not (config.output_dir / "pagefind").exists()
    [warning] = [p for p in report.problems if "Pagefind" in p.message]
    assert warning.severity == "warning" and "pip install" in warning.message


def test_a_failing_year_keeps_the_whole_last_index_and_runs_again_next_time(example: Path, monkeypatch) -> None:
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    old = {path: path.read_bytes() for path in (public / "pagefind").rglob("*") if path.is_file()}
    real = search._run_pagefind

    def failing_2024(site: Path, into: Path, ids: list[str]) -> str | None:
        return "Pagefind exited with 1: boom" if ids[0].startswith("2024") else real(site, into, ids)

    monkeypatch.setattr(search, "_run_pagefind", failing_2024)
    write(example / "issues/2024-10-07/issue.yaml", 'title: "新的一期"\n')
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期（修订）"\n')
    report = build(config, now=NOW)
    assert [p.message for p in report.problems if "search" in p.message] == [
        "search index not updated: 2024: Pagefind exited with 1: boom"
    ]
    now = {path: path.read_bytes() for path in (public / "pagefind").rglob("*") if path.is_file()}
    assert now == old  # 2023 was indexed, but nothing is swapped in: no index of two builds
    assert not (public.parent / ".public.pagefind").exists()

    monkeypatch.setattr(search, "_run_pagefind", real)
    report = build(config, now=NOW)  # no page changed since: the failed years are indexed all the same
    assert not [p for p in report.problems if "search" in p.message]
    assert indexed_pages(public, "2024") == 3


def test_a_single_failing_year_is_reported_as_it_is(example: Path, monkeypatch) -> None:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    old = (config.output_dir / "pagefind/2024/pagefind-entry.json").read_bytes()
    monkeypatch.setattr(search, "_run_pagefind", lambda site, into, ids: "Pagefind exited with 1: boom")
    write(example / "issues/2024-10-07/issue.yaml", 'title: "新的一期"\n')
    report = build(config, now=NOW)
    assert [p.message for p in report.problems if "search" in p.message] == [
        "search index not updated: Pagefind exited with 1: boom"
    ]
    assert (config.output_dir / "pagefind/2024/pagefind-entry.json").read_bytes() == old


def test_the_new_index_replaces_the_old_in_one_rename(example: Path, monkeypatch) -> None:
    """Readers of pagefind/ see the old folder or the new one, never one being filled."""
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    bundle = config.output_dir / "pagefind"
    renames: list[tuple[Path, Path]] = []
    real_exchange = search._exchange

    def exchange(first: Path, second: Path) -> bool:
        assert json.loads((first / "shards.json").read_text())["years"] == ["2024"]  # complete before the swap
        assert (first / "pagefind-ui.js").is_file() and (first / "2024/pagefind.js").is_file()
        assert (second / "2024/pagefind.js").is_file()  # the old one still whole
        renames.append((first, second))
        return real_exchange(first, second)

    monkeypatch.setattr(search, "_exchange", exchange)
    write(example / "issues/2024-10-07/issue.yaml", 'title: "新的一期"\n')
    build(config, now=NOW)
    assert renames and renames[0][1] == bundle
    assert indexed_pages(config.output_dir) == 3
    assert not [name for name in os.listdir(config.output_dir.parent) if name.startswith(".public.pagefind")]


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
    assert (config.output_dir / "pagefind/2024/pagefind.js").is_file()
    assert (config.output_dir / "pagefind/pagefind-ui.js").is_file()

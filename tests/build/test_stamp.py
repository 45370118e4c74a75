"""A rebuild with nothing to do answers from the build's stamp (pipeline.build.state.Stamp)
without reading the manifest; anything that would change an output takes the full way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, paper_md, write

from pipeline.build import builder, state
from pipeline.build.builder import build
from pipeline.config import load_config


@pytest.fixture
def letter(newsletter, monkeypatch):
    """Two public issues and one due a week after NOW; builds count their manifest reads."""
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")
    root = newsletter()
    for day, extra in (
        ("2025-12-01", ""),
        ("2025-12-08", ""),
        ("2026-01-08", "publish_at: 2026-01-08T08:00:00+00:00\n"),
    ):
        write(root / f"issues/{day}/issue.yaml", f'title: "{day} 期"\n{extra}')
        write(root / f"issues/{day}/01-a.md", paper_md(f"Paper {day}", arxiv=None))
    monkeypatch.setattr(builder, "SETTLE_NS", 0)  # the folders count as settled at once
    reads: list[str] = []
    real = state.Manifest.__init__

    def counting(self, config):
        reads.append("manifest")
        real(self, config)

    monkeypatch.setattr(state.Manifest, "__init__", counting)
    config = load_config(root / "config.yaml")
    first = build(config, now=NOW)
    assert len(first.built) == 3 and first.unlisted == ["2026-01-08"]
    reads.clear()
    return root, config, reads


def test_a_rebuild_with_nothing_to_do_reads_no_manifest_and_reports_as_before(letter) -> None:
    root, config, reads = letter
    report = build(config, now=NOW)
    assert reads == [] and report.built == [] and report.written == []
    assert report.skipped == ["2025-12-01", "2025-12-08", "2026-01-08"] and report.unlisted == ["2026-01-08"]


def test_an_issue_falling_due_puts_it_on_the_index(letter) -> None:
    root, config, reads = letter
    due = NOW + timedelta(days=8)
    report = build(config, now=due)
    assert reads == ["manifest"] and report.unlisted == []
    assert "2026-01-08" in (config.output_dir / "index.html").read_text("utf-8")
    reads.clear()
    assert build(config, now=due).unlisted == [] and reads == []  # and then it holds again


@pytest.mark.parametrize(
    "change",
    [
        "edit an entry",
        "add an issue",
        "remove an issue",
        "change the config",
        "delete a page",
        "delete a site file",
        "turn the search on",
    ],
)
def test_every_kind_of_change_takes_the_full_way(letter, monkeypatch, change: str) -> None:
    root, config, reads = letter
    if change == "edit an entry":
        entry = root / "issues/2025-12-08/01-a.md"
        entry.write_text(entry.read_text("utf-8") + "\n补充一句。\n", encoding="utf-8")
    elif change == "add an issue":
        write(root / "issues/2025-12-15/issue.yaml", 'title: "新的一期"\n')
        write(root / "issues/2025-12-15/01-a.md", paper_md("New", arxiv=None))
    elif change == "remove an issue":
        for path in (root / "issues/2025-12-01").iterdir():
            path.unlink()
        (root / "issues/2025-12-01").rmdir()
    elif change == "change the config":
        (root / "config.yaml").write_text(
            (root / "config.yaml").read_text("utf-8").replace("测试论文速递", "改名的速递"), encoding="utf-8"
        )
        config = load_config(root / "config.yaml")
    elif change == "delete a page":
        (config.output_dir / "issues/2025-12-01/index.html").unlink()
    elif change == "delete a site file":
        (config.output_dir / "feed.json").unlink()
    else:
        monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "1")
    report = build(config, now=NOW)
    assert reads == ["manifest"]
    assert report.built or report.written or change == "remove an issue"
    if change == "remove an issue":
        assert not (config.output_dir / "issues/2025-12-01").exists()
    reads.clear()
    assert build(config, now=NOW).written == [] and reads == []  # stamped again


def test_a_build_of_named_issues_or_a_forced_one_never_trusts_the_stamp(letter) -> None:
    root, config, reads = letter
    build(config, ["2025-12-01"], now=NOW)
    assert reads == ["manifest"]
    assert not (config.state_dir / "build/stamp.json").exists()  # the next full build checks everything
    build(config, now=NOW)
    assert reads == ["manifest", "manifest"]
    build(config, now=NOW, force=True)
    assert len(reads) == 3
    (config.state_dir / "build/stamp.json").write_text("{not json")
    build(config, now=NOW)
    assert len(reads) == 4


def test_an_unsettled_folder_is_never_taken_as_unchanged(letter, monkeypatch) -> None:
    root, config, reads = letter
    monkeypatch.setattr(builder, "SETTLE_NS", 10**18)  # every file changed "just now"
    build(config, now=NOW)
    assert reads == ["manifest"]
    assert Path(config.state_dir / "build/stamp.json").exists() is False


def test_a_manifest_written_by_another_build_or_an_earlier_clock_takes_the_full_way(letter) -> None:
    root, config, reads = letter
    manifest = config.state_dir / "build/manifest.json"
    manifest.write_bytes(manifest.read_bytes())  # as a build of an older version (which knows no stamp) would
    build(config, now=NOW)
    assert reads == ["manifest"]
    reads.clear()
    assert build(config, now=NOW).unlisted == ["2026-01-08"] and reads == []
    earlier = NOW - timedelta(days=30)  # before 2025-12-08: that issue is not public then
    report = build(config, now=earlier)
    assert reads == ["manifest"] and "2025-12-08" in report.unlisted
    assert "2025-12-08" not in (config.output_dir / "index.html").read_text("utf-8")

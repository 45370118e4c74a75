"""Checking again only what changed (pipeline.build.recheck), as the preview does after each
save: the findings are always those `publish check` gives for the whole archive."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from conftest import paper_md, write

from pipeline.build.check import check_issues
from pipeline.build.recheck import CheckMemory
from pipeline.config import load_config


@pytest.fixture
def archive(newsletter) -> Path:
    """Four issues: a plain one, one with a warning, one with an error, a draft."""
    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "第一期"\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("First", arxiv="2401.00001"))
    write(root / "issues/2024-05-08/issue.yaml", 'title: "第二期"\n')
    write(root / "issues/2024-05-08/01-b.md", paper_md("Second", arxiv="2401.00002", rating="8"))
    write(root / "issues/2024-05-08/02-c.md", paper_md("Third", arxiv="2401.00003", body="导语。\n\n## 空小节\n"))
    write(root / "issues/2024-05-15/issue.yaml", 'title: "第三期"\n')
    write(root / "issues/2024-05-15/01-d.md", paper_md("Broken", arxiv="2401.00004", rating="11"))
    write(root / "issues/2024-05-22/issue.yaml", 'title: "草稿"\ndraft: true\n')
    write(root / "issues/2024-05-22/01-e.md", paper_md("Draft paper", arxiv="2401.00005"))
    return root


def findings(problems) -> Counter:
    return Counter((str(p.path), p.line, p.message, p.severity) for p in problems)


def full_check(root: Path):
    report = check_issues(load_config(root / "config.yaml"))
    return findings(report.problems), sorted(issue.id for issue in report.issues)


def recheck(root: Path):
    result = CheckMemory(root / ".publish/preview/checked.json").check(load_config(root / "config.yaml"))
    return findings(result.problems), result.valid, result.checked


def test_the_findings_are_those_of_a_full_check_and_only_changed_issues_are_checked_again(archive: Path) -> None:
    problems, valid, checked = recheck(archive)
    assert (problems, valid) == full_check(archive)
    assert checked == ["2024-05-01", "2024-05-08", "2024-05-15", "2024-05-22"] and "2024-05-15" not in valid
    assert any("empty section" in message for _, _, message, _ in problems)
    assert recheck(archive)[2] == []  # a new start reads the memory: nothing to check

    entry = archive / "issues/2024-05-15/01-d.md"
    entry.write_text(paper_md("Fixed", arxiv="2401.00004", rating="7"), encoding="utf-8")
    problems, valid, checked = recheck(archive)
    assert checked == ["2024-05-15"] and "2024-05-15" in valid
    assert (problems, valid) == full_check(archive)


def test_a_touched_file_with_the_same_bytes_is_not_checked_again(archive: Path) -> None:
    recheck(archive)
    entry = archive / "issues/2024-05-01/01-a.md"
    entry.write_bytes(entry.read_bytes())
    os.utime(entry, ns=(1, 1))
    assert recheck(archive)[2] == []


def test_a_paper_added_to_an_earlier_issue_makes_the_later_one_warn_without_its_files_changing(archive: Path) -> None:
    recheck(archive)
    write(archive / "issues/2024-05-01/02-x.md", paper_md("Again", arxiv="2401.00002"))
    problems, valid, checked = recheck(archive)
    assert checked == ["2024-05-01", "2024-05-08"]  # the later issue, for its repeat warning
    assert any("already featured in issue 2024-05-01" in message for _, _, message, _ in problems)
    assert (problems, valid) == full_check(archive)
    (archive / "issues/2024-05-01/02-x.md").unlink()
    problems, valid, checked = recheck(archive)
    assert checked == ["2024-05-01", "2024-05-08"]
    assert not any("already featured" in message for _, _, message, _ in problems)


def test_a_draft_features_nothing_until_it_is_no_draft(archive: Path) -> None:
    write(archive / "issues/2024-05-29/issue.yaml", 'title: "第五期"\n')
    write(archive / "issues/2024-05-29/01-f.md", paper_md("Later", arxiv="2401.00005"))
    recheck(archive)
    write(archive / "issues/2024-05-22/issue.yaml", 'title: "不再是草稿"\n')
    problems, valid, checked = recheck(archive)
    assert checked == ["2024-05-22", "2024-05-29"]
    assert (problems, valid) == full_check(archive)
    assert any("already featured in issue 2024-05-22" in message for _, _, message, _ in problems)


def test_settings_change_checks_everything_and_a_removed_issue_is_forgotten(archive: Path) -> None:
    recheck(archive)
    config = archive / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("测试论文速递", "另一个名字"), encoding="utf-8")
    assert len(recheck(archive)[2]) == 4
    for path in sorted((archive / "issues/2024-05-15").iterdir()):
        path.unlink()
    (archive / "issues/2024-05-15").rmdir()
    problems, valid, checked = recheck(archive)
    assert checked == [] and (problems, valid) == full_check(archive)


def test_an_unreadable_memory_only_costs_a_full_check(archive: Path) -> None:
    recheck(archive)
    write(archive / ".publish/preview/checked.json", '{"2024-05-01": {"key": 1}}')
    problems, valid, checked = recheck(archive)
    assert len(checked) == 4 and (problems, valid) == full_check(archive)
    write(archive / ".publish/preview/checked.json", "not json")
    assert len(recheck(archive)[2]) == 4


def test_publish_check_of_the_archive_reuses_the_findings_of_unchanged_issues(archive: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import cli

    def check(*args: str):
        result = CliRunner().invoke(cli, ["--config", str(archive / "config.yaml"), "check", *args])
        return result.exit_code, result.stdout, result.stderr

    first = check()
    assert first[0] == 1 and "4 issues checked: 1 error, " in first[1] and "unchanged" not in first[1]
    again = check()
    assert again[0] == 1 and again[2] == first[2]  # the same findings, printed the same way
    assert again[1].replace(" (4 unchanged since the last check: their findings reused)", "") == first[1]
    assert again[1].count("email HTML") == 3  # each valid issue's sizes, kept with its findings
    entry = archive / "issues/2024-05-15/01-d.md"
    entry.write_text(paper_md("Fixed", arxiv="2401.00004", rating="7"), encoding="utf-8")
    fixed = check()
    assert fixed[0] == 0 and "4 issues checked: 0 errors, " in fixed[1]
    assert "(3 unchanged since the last check" in fixed[1] and fixed[1].count("email HTML") == 4
    fresh = check("--no-cache")
    assert fresh[1] == fixed[1].replace(" (3 unchanged since the last check: their findings reused)", "")
    assert fresh[2] == fixed[2]


@pytest.mark.usefixtures("no_other_threads")  # which would keep the check in one process
def test_many_issues_are_checked_in_worker_processes_with_the_same_findings(archive: Path, monkeypatch) -> None:
    from pipeline.build import builder
    from pipeline.build import recheck as module

    monkeypatch.setenv("PUBLISH_BUILD_JOBS", "2")
    monkeypatch.setattr(builder, "PARALLEL_MIN", 2)
    monkeypatch.setattr(module, "CHUNK", 1)
    pids = archive / "pids.txt"
    real = module.check_issue_set

    def noting_pid(*args):
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return real(*args)

    monkeypatch.setattr(module, "check_issue_set", noting_pid)
    config = load_config(archive / "config.yaml")
    found = module.check_each(config, ["2024-05-01", "2024-05-08", "2024-05-15", "2024-05-22"], {})
    checked_in = pids.read_text().split()
    assert len(checked_in) == 4 and str(os.getpid()) not in checked_in  # one issue per task, in workers
    pids.unlink()
    one_process = module._check_chunk(config, ["2024-05-01", "2024-05-08", "2024-05-15", "2024-05-22"], {})
    assert found == one_process and not found["2024-05-15"].valid and found["2024-05-08"].notes
    problems, valid, checked = recheck(archive)
    assert len(checked) == 4 and (problems, valid) == full_check(archive)


def test_an_issue_folder_turned_into_a_link_out_of_issues_is_reported_again(archive: Path) -> None:
    import shutil

    store = archive / "issues/_store"
    shutil.move(str(archive / "issues/2024-05-01"), store / "2024-05-01")
    (archive / "issues/2024-05-01").symlink_to(store / "2024-05-01")  # inside issues/: read
    recheck(archive)
    outside = archive.parent / "elsewhere"
    shutil.copytree(store / "2024-05-01", outside, copy_function=shutil.copy2)
    (archive / "issues/2024-05-01").unlink()
    (archive / "issues/2024-05-01").symlink_to(outside)  # the same bytes, from outside
    problems, valid, checked = recheck(archive)
    assert "2024-05-01" in checked and "2024-05-01" not in valid
    assert any("leads outside" in message for _, _, message, _ in problems)
    assert (problems, valid) == full_check(archive)


def test_a_moved_newsletter_names_its_files_where_they_are_now(archive: Path) -> None:
    recheck(archive)
    moved = archive.parent / "renamed"
    archive.rename(moved)
    problems, valid, checked = recheck(moved)
    assert len(checked) == 4 and (problems, valid) == full_check(moved)
    assert all(str(moved) in path for path, _, _, _ in problems if "issues" in path)

"""An issue's email and WeChat files rendered by a forked child while the build renders the
rest: the same files and build memory as one process, and an error reported by the build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import NOW

from pipeline.build import builder
from pipeline.build.builder import build
from pipeline.build.outputs import ISSUE_OUTPUTS
from pipeline.build.processes import Forked
from pipeline.config import load_config
from pipeline.errors import RenderError
from tests.build.test_send_outputs import CONFIG, DAYS, SEND_FILES, make_archive, send_files
from tests.build.test_site_split import fresh, staged, state, tree, two

# These tests fork from the test process (see conftest.no_other_threads).
pytestmark = pytest.mark.usefixtures("no_other_threads")


def record_pids(monkeypatch, folder: Path, fail: str | None = None, everywhere: bool = False) -> None:
    """Record the pid of each process that renders an issue's email; ``fail``: "raise" or "die"
    in the child (or, ``everywhere``, "raise" in the build's process too)."""
    folder.mkdir(exist_ok=True)
    render, parent = ISSUE_OUTPUTS["email"], os.getpid()

    def recorded(issue, ctx):
        (folder / str(os.getpid())).touch()
        if fail == "raise" and (everywhere or os.getpid() != parent):
            raise RenderError(f"issue {issue.id}: the email template is broken")
        if fail == "die" and os.getpid() != parent:
            os._exit(9)  # as a kill would: no result written
        return render(issue, ctx)

    monkeypatch.setitem(ISSUE_OUTPUTS, "email", recorded)


def one_process(config, monkeypatch) -> tuple[dict, dict]:
    monkeypatch.setattr(builder, "cpu_budget", lambda: 1)
    build(config, now=NOW)
    result = tree(config.output_dir), state(config)
    fresh(config)
    monkeypatch.setattr(builder, "cpu_budget", two)
    return result


@pytest.fixture
def archive(newsletter, monkeypatch):
    monkeypatch.setattr(builder, "SEND_WINDOW", 2)
    return make_archive(newsletter(CONFIG))


def test_the_email_and_wechat_files_come_from_a_child_with_the_bytes_of_one_process(archive, monkeypatch, tmp_path):
    expected_tree, expected_state = one_process(archive, monkeypatch)
    record_pids(monkeypatch, tmp_path / "pids")
    build(archive, now=NOW)
    assert tree(archive.output_dir) == expected_tree and state(archive) == expected_state
    rendered_in = {int(p.name) for p in (tmp_path / "pids").iterdir()}
    assert len(rendered_in) == 2 and os.getpid() not in rendered_in  # the two newest issues, each in a child
    assert send_files(archive, DAYS[-1]) == set(SEND_FILES) and staged(archive) == []

    # an edit: its files again from a child, as one process writes them
    paper = archive.issues_dir / DAYS[-1] / "01-a.md"
    paper.write_text(paper.read_text("utf-8").replace("内容。", "改过的内容。"), "utf-8")
    report = build(archive, now=NOW)
    assert report.built == [DAYS[-1]]
    email = (archive.output_dir / "issues" / DAYS[-1] / "email.html").read_text("utf-8")
    assert "改过的内容" in email and staged(archive) == []
    assert any(path.name == "email.html" for path in report.written)


@pytest.mark.parametrize("fail", ["raise", "die"])
def test_a_child_that_fails_or_dies_leaves_the_files_to_the_build(archive, monkeypatch, tmp_path, fail):
    expected_tree, expected_state = one_process(archive, monkeypatch)
    record_pids(monkeypatch, tmp_path / "pids", fail)
    build(archive, now=NOW)
    assert tree(archive.output_dir) == expected_tree and state(archive) == expected_state
    assert os.getpid() in {int(p.name) for p in (tmp_path / "pids").iterdir()}  # rendered here after all
    assert staged(archive) == []


def test_an_error_in_the_email_template_stops_the_build_and_writes_nothing(archive, monkeypatch, tmp_path):
    monkeypatch.setattr(builder, "cpu_budget", two)
    record_pids(monkeypatch, tmp_path / "pids", "raise", everywhere=True)
    with pytest.raises(RenderError, match=f"issue {DAYS[-2]}: the email template is broken"):
        build(archive, now=NOW)
    assert not archive.output_dir.exists() or not any(archive.output_dir.rglob("*.html"))
    assert staged(archive) == []


def test_files_an_issue_no_longer_gets_are_removed_when_a_child_renders_the_others(archive, monkeypatch):
    """Without a WeChat channel, an issue has no wechat-paste.html: rendered again (the config
    changed), the newest issues lose theirs, whose email and WeChat files came from children."""
    monkeypatch.setattr(builder, "cpu_budget", two)
    build(archive, now=NOW)
    paste = archive.output_dir / "issues" / DAYS[-1] / "wechat-paste.html"
    assert paste.is_file()
    config_file = archive.root / "config.yaml"
    config_file.write_text(config_file.read_text("utf-8").replace("  wechat: {type: wechat, mode: export}\n", ""))
    config = load_config(config_file)
    report = build(config, now=NOW)
    assert sorted(report.built) == list(DAYS) and not paste.exists()
    assert send_files(config, DAYS[-1]) == set(SEND_FILES) and staged(config) == []
    two_cpus = tree(config.output_dir), state(config)

    fresh(config)
    monkeypatch.setattr(builder, "cpu_budget", lambda: 1)
    build(config, now=NOW)
    assert (tree(config.output_dir), state(config)) == two_cpus


def test_a_build_that_stops_after_the_child_started_waits_for_it_and_leaves_no_file(archive, monkeypatch):
    monkeypatch.setattr(builder, "cpu_budget", two)
    build(archive, now=NOW)
    before = tree(archive.output_dir)
    paper = archive.issues_dir / DAYS[-1] / "01-a.md"
    paper.write_text(paper.read_text("utf-8").replace("内容。", "改过的内容。"), "utf-8")
    forked, start = [], Forked.start

    def noted(work):
        process = start(work)
        forked.append(process.pid)
        return process

    def broken(*_args):
        raise RenderError("the previous/next links could not be written")

    monkeypatch.setattr(Forked, "start", staticmethod(noted))
    monkeypatch.setattr(builder.neighbours, "link_pages", broken)  # run after the child started
    with pytest.raises(RenderError, match="previous/next"):
        build(archive, now=NOW)
    assert tree(archive.output_dir) == before and staged(archive) == []
    assert forked
    for pid in forked:  # each child was waited for
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

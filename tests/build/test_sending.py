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


def edit(config, day: str) -> None:
    paper = config.issues_dir / day / "01-a.md"
    paper.write_text(paper.read_text("utf-8").replace("内容。", "改过的内容。"), "utf-8")


SIX = tuple(f"2024-10-{day:02d}" for day in (1, 3, 5, 7, 9, 11))


def edits_and_names(config, monkeypatch, budget) -> list:
    """Three edited issues, two old ones named, one rendered again without its files, one
    that stops taking WeChat: what each build leaves, on ``budget`` CPUs."""
    monkeypatch.setattr(builder, "cpu_budget", budget)
    build(config, now=NOW)
    left = [(tree(config.output_dir), state(config))]
    for day in SIX[-3:]:
        edit(config, day)
    left.append((sorted(build(config, now=NOW).built), tree(config.output_dir), state(config)))
    left.append((sorted(build(config, list(SIX[:2]), now=NOW).built), tree(config.output_dir), state(config)))
    edit(config, SIX[0])
    left.append((sorted(build(config, now=NOW).built), tree(config.output_dir), send_files(config, SIX[0])))
    meta = config.issues_dir / SIX[-1] / "issue.yaml"
    meta.write_text(meta.read_text("utf-8") + "channels: [feed, email]\n", "utf-8")
    left.append((sorted(build(config, now=NOW).built), tree(config.output_dir), state(config)))
    assert staged(config) == []
    return left


def test_several_issues_rendered_in_the_build_s_process_give_the_files_of_one_process(newsletter, monkeypatch):
    monkeypatch.setattr(builder, "SEND_WINDOW", 2)
    config = make_archive(newsletter(CONFIG), SIX)
    one = edits_and_names(config, monkeypatch, lambda: 1)
    assert one[3][2] == set()  # the named old issue, rendered again unnamed, lost its files
    fresh(config)
    two_cpus = edits_and_names(make_archive(config.root, SIX), monkeypatch, two)
    for step, (expected, got) in enumerate(zip(one, two_cpus)):
        assert got == expected, step


def test_a_file_of_the_issue_named_like_an_output_is_not_copied_and_check_says_so(archive, monkeypatch):
    from pipeline.build.check import check_issues

    draft = archive.issues_dir / DAYS[-1] / "email.txt"
    draft.write_text("编辑手写的草稿\n", "utf-8")
    built = []
    for cpus in (lambda: 1, two):
        fresh(archive)
        monkeypatch.setattr(builder, "cpu_budget", cpus)
        build(archive, now=NOW)
        built.append((archive.output_dir / "issues" / DAYS[-1] / "email.txt").read_text("utf-8"))
    assert built[0] == built[1] and "编辑手写的草稿" not in built[0]  # the rendered text part, whoever renders it
    [warning] = [p for p in check_issues(archive).problems if p.path == draft]
    assert "not copied to the site" in warning.message and warning.severity == "warning"


def test_the_names_of_an_issue_s_files_are_those_its_outputs_write(example_config, example_issues):
    from pipeline.build.outputs import ISSUE_FILES
    from pipeline.render.context import RenderContext

    ctx = RenderContext(example_config, NOW)
    issue = example_issues["2024-09-30"]
    written = {path.rsplit("/", 1)[1] for render in ISSUE_OUTPUTS.values() for path in render(issue, ctx)}
    assert written == ISSUE_FILES


def test_a_child_that_dies_after_staging_leaves_no_temp_file(archive, monkeypatch):
    render, parent = ISSUE_OUTPUTS["wechat"], os.getpid()

    def dying(issue, ctx):  # after the email files are staged
        if os.getpid() != parent:
            os._exit(9)
        return render(issue, ctx)

    monkeypatch.setitem(ISSUE_OUTPUTS, "wechat", dying)
    monkeypatch.setattr(builder, "cpu_budget", two)
    build(archive, now=NOW)
    assert staged(archive) == [] and send_files(archive, DAYS[-1]) == set(SEND_FILES)


def test_a_progress_report_that_fails_still_waits_for_the_child(archive, monkeypatch):
    monkeypatch.setattr(builder, "cpu_budget", two)
    build(archive, now=NOW)
    edit(archive, DAYS[-1])
    forked, start = [], Forked.start

    def noted(work):
        process = start(work)
        forked.append(process.pid)
        return process

    def progress(_done, _total, issue_id):
        if issue_id == DAYS[-1]:
            raise BrokenPipeError("stderr closed")

    monkeypatch.setattr(Forked, "start", staticmethod(noted))
    with pytest.raises(BrokenPipeError):
        build(archive, now=NOW, progress=progress)
    assert forked and staged(archive) == []
    for pid in forked:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

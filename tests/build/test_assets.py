"""Files of an issue folder copied next to its pages: one taken out of the folder leaves the site
with the next build, whether the issue is rendered in the build's process or in a worker."""

from __future__ import annotations

import shutil

import pytest
from conftest import NOW

from pipeline.build import builder
from pipeline.build.builder import build
from pipeline.config import load_config
from pipeline.errors import IssueError
from tests.build.test_site_split import two

# These tests may fork from the test process (see conftest.no_other_threads).
pytestmark = pytest.mark.usefixtures("no_other_threads")

ISSUE = "2024-09-30"


def with_an_image_and_a_note(example):
    """The example's config and its issue folder, given ``images/图1.png`` and ``notes.txt``."""
    config = load_config(example / "config.yaml")
    folder = config.issues_dir / ISSUE
    (folder / "images").mkdir(exist_ok=True)
    shutil.copy(example / "assets" / "wechat-cover.png", folder / "images" / "图1.png")
    (folder / "notes.txt").write_text("编辑的备忘\n", "utf-8")
    return config, folder


@pytest.mark.parametrize("workers", [False, True], ids=["here", "workers"])
def test_a_file_taken_out_of_an_issue_folder_leaves_the_site(example, monkeypatch, workers):
    if workers:  # the two issues of the example rendered by forked workers
        monkeypatch.setattr(builder, "PARALLEL_MIN", 2)
        monkeypatch.setattr(builder, "cpu_budget", two)
    config, folder = with_an_image_and_a_note(example)
    build(config, now=NOW)
    public = config.output_dir / "issues" / ISSUE
    assert (public / "images" / "图1.png").is_file() and (public / "notes.txt").is_file()

    shutil.rmtree(folder / "images")
    build(config, now=NOW)
    assert not (public / "images").exists()  # the file, and the folder it left empty
    assert (public / "notes.txt").read_text("utf-8") == "编辑的备忘\n" and (public / "index.html").is_file()

    (folder / "notes.txt").unlink()
    build(config, now=NOW, force=True)
    assert not (public / "notes.txt").exists()
    assert (public / "index.html").is_file() and (config.output_dir / "issues" / "2024-04-28" / "index.html").is_file()


def test_a_web_page_or_script_in_an_issue_folder_is_not_copied_and_check_says_so(example):
    from pipeline.build.check import check_issues

    config = load_config(example / "config.yaml")
    folder = config.issues_dir / ISSUE
    (folder / "extra").mkdir()
    (folder / "extra" / "附录.HTML").write_text("<script>alert(1)</script>", "utf-8")
    (folder / "track.js").write_text("alert(1)", "utf-8")
    (folder / "data.csv").write_text("a,b\n1,2\n", "utf-8")
    build(config, now=NOW)
    public = config.output_dir / "issues" / ISSUE
    assert not (public / "extra").exists() and not (public / "track.js").exists()
    assert (public / "data.csv").is_file()  # any other file is copied as before
    warned = {p.path.name: p for p in check_issues(config).problems if "web page or a script" in p.message}
    assert set(warned) == {"附录.HTML", "track.js"}
    assert all(p.severity == "warning" for p in warned.values())
    assert "extra/附录.HTML is a web page" in warned["附录.HTML"].message
    (folder / "index.html").write_text("<p>草稿</p>", "utf-8")  # named like the issue's page: one warning
    assert len([p for p in check_issues(config).problems if p.path == folder / "index.html"]) == 1


def test_an_issue_built_before_copied_files_were_recorded_loses_what_it_no_longer_copies(example):
    import orjson

    config, folder = with_an_image_and_a_note(example)
    build(config, now=NOW)
    manifest = config.state_dir / "build" / "manifest.json"
    data = orjson.loads(manifest.read_bytes())
    for entry in data["issues"].values():
        del entry["assets"]  # as a manifest of the version before has it
    manifest.write_bytes(orjson.dumps(data))
    public = config.output_dir / "issues" / ISSUE
    (public / "附录.html").write_text("<script>alert(1)</script>", "utf-8")  # copied by that version
    (folder / "附录.html").write_text("<script>alert(1)</script>", "utf-8")
    (folder / "notes.txt").unlink()
    build(config, now=NOW)
    assert not (public / "notes.txt").exists() and not (public / "附录.html").exists()
    assert (public / "images" / "图1.png").is_file() and (public / "index.html").is_file()
    assert (public / "email.html").exists() == (public / "wechat.html").exists()  # the build's own stay


def test_a_file_renamed_in_case_only_is_there_under_its_new_name(example):
    config = load_config(example / "config.yaml")
    folder = config.issues_dir / ISSUE
    shutil.copy(example / "assets" / "wechat-cover.png", folder / "Fig.PNG")
    build(config, now=NOW)
    (folder / "Fig.PNG").rename(folder / "fig.png")
    build(config, now=NOW)
    public = config.output_dir / "issues" / ISSUE
    assert (public / "fig.png").read_bytes() == (example / "assets" / "wechat-cover.png").read_bytes()
    assert sorted(p.name for p in public.iterdir() if p.name.lower() == "fig.png") == ["fig.png"]


@pytest.mark.parametrize("workers", [False, True], ids=["here", "workers"])
def test_a_file_that_becomes_a_folder_and_back_is_copied_each_time(example, monkeypatch, workers):
    if workers:
        monkeypatch.setattr(builder, "PARALLEL_MIN", 2)
        monkeypatch.setattr(builder, "cpu_budget", two)
    config = load_config(example / "config.yaml")
    folder = config.issues_dir / ISSUE
    public = config.output_dir / "issues" / ISSUE
    (folder / "data").write_text("a,b\n", "utf-8")
    build(config, now=NOW)
    (folder / "data").unlink()
    (folder / "data").mkdir()
    (folder / "data" / "表1.csv").write_text("c,d\n", "utf-8")
    build(config, now=NOW)
    assert (public / "data" / "表1.csv").read_text("utf-8") == "c,d\n"
    shutil.rmtree(folder / "data")
    (folder / "data").write_text("e,f\n", "utf-8")
    build(config, now=NOW)
    assert (public / "data").read_text("utf-8") == "e,f\n"


def test_a_folder_or_file_named_like_an_output_in_any_case_is_not_copied_and_check_says_so(example):
    from pipeline.build.check import check_issues

    config = load_config(example / "config.yaml")
    folder = config.issues_dir / ISSUE
    (folder / "papers.bib").mkdir()
    shutil.copy(example / "assets" / "wechat-cover.png", folder / "papers.bib" / "x.png")
    (folder / "Search.JSON").write_text("{}", "utf-8")
    build(config, now=NOW)  # a cold build
    public = config.output_dir / "issues" / ISSUE
    assert "@misc{" in (public / "papers.bib").read_text("utf-8")  # the build's own BibTeX
    assert sorted(p.name for p in public.iterdir() if p.name.lower() == "search.json") == ["search.json"]
    build(config, now=NOW, force=True)
    assert (public / "papers.bib").is_file()
    warned = sorted(p.path.name for p in check_issues(config).problems if "has the name of a file" in p.message)
    assert warned == ["Search.JSON", "papers.bib"]


def test_a_failed_build_changes_nothing_in_the_copies_and_the_next_one_puts_them_back(example):
    config = load_config(example / "config.yaml")
    folder = config.issues_dir / ISSUE
    (folder / "data").mkdir()
    (folder / "data" / "x.csv").write_text("a,b\n", "utf-8")
    build(config, now=NOW)
    public = config.output_dir / "issues" / ISSUE
    other = config.issues_dir / "2024-04-28" / "issue.yaml"
    good = other.read_text("utf-8")
    other.write_text(good + "\nnot yaml: [\n", "utf-8")  # the other issue broken: the build stops
    shutil.rmtree(folder / "data")
    (folder / "data").write_text("c,d\n", "utf-8")
    with pytest.raises(IssueError):
        build(config, now=NOW)
    assert (public / "data" / "x.csv").read_text("utf-8") == "a,b\n"  # nothing written
    other.write_text(good, "utf-8")
    (folder / "data").unlink()
    (folder / "data").mkdir()
    (folder / "data" / "x.csv").write_text("a,b\n", "utf-8")
    build(config, now=NOW)
    assert (public / "data" / "x.csv").read_text("utf-8") == "a,b\n"


def test_a_stale_copy_is_never_removed_through_a_link_out_of_the_site(example, tmp_path):
    config = load_config(example / "config.yaml")
    folder = config.issues_dir / ISSUE
    (folder / "img").mkdir()
    (folder / "img" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    build(config, now=NOW)
    public = config.output_dir / "issues" / ISSUE
    outside = tmp_path / "shared-img"
    outside.mkdir()
    (outside / "x.png").write_bytes(b"kept")
    shutil.rmtree(public / "img")
    (public / "img").symlink_to(outside)  # an operator's link
    shutil.rmtree(folder / "img")
    build(config, now=NOW)
    assert (outside / "x.png").read_bytes() == b"kept"


def test_an_svg_that_can_run_a_script_is_not_copied_and_both_check_and_build_say_so(example):
    from pipeline.build.check import check_issues

    config = load_config(example / "config.yaml")
    folder = config.issues_dir / ISSUE
    (folder / "images").mkdir()
    plain = '<svg xmlns="http://www.w3.org/2000/svg"><text>图 1：online 与 one = 1 的对比</text></svg>'
    (folder / "images" / "图1.svg").write_text(plain, "utf-8")
    (folder / "images" / "图2.svg").write_text(plain.replace("<text>", '<text onLoad ="alert(1)">'), "utf-8")
    (folder / "images" / "图3.SVG").write_text(plain.replace("</svg>", "<script>alert(1)</script></svg>"), "utf-8")
    report = build(config, now=NOW)
    public = config.output_dir / "issues" / ISSUE / "images"
    assert sorted(p.name for p in public.iterdir()) == ["图1.svg"]  # "online", "one = 1": text, not attributes
    for problems in (report.problems, check_issues(config).problems):
        warned = sorted(p.path.name for p in problems if "can run a script" in p.message)
        assert warned == ["图2.svg", "图3.SVG"]

"""Hostile values and a hostile file system give `file:line: error` lines, never a traceback,
a hang, a crash or a file published from outside the newsletter folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NOW, REPO, paper_md, write

from pipeline.build.builder import build
from pipeline.build.check import check_issues
from pipeline.config import load_config
from pipeline.errors import ConfigError, IssueError

ISSUE = "2024-09-30"
SECRET = "从外面链接进来的机密文本"


@pytest.fixture
def news(newsletter) -> Path:
    root = newsletter()
    folder = root / "issues" / ISSUE
    write(folder / "issue.yaml", "title: 第 1 期\nsummary: 摘要。\n")
    write(folder / "01-palm.md", paper_md("Proof Automation", body="导语。\n\n## 研究背景\n\n内容。\n"))
    return root


def problems(root: Path) -> list[str]:
    report = check_issues(load_config(root / "config.yaml"))
    return [p.format(root) for p in report.problems if p.is_error]


def set_key(path: Path, key: str, value: str) -> None:
    text = path.read_text("utf-8")
    head, sep, body = text.partition("\n---\n") if text.startswith("---") else (text, "", "")
    lines = [line for line in head.split("\n") if not line.startswith(f"{key}:")]
    lines.insert(1 if sep else 0, f"{key}: {value}")
    path.write_text("\n".join(lines) + sep + body, encoding="utf-8")


@pytest.mark.parametrize(
    ("where", "key", "value", "expected"),
    [
        ("issue.yaml", "date", "2024-02-30", "'2024-02-30' is not a date or time (day is out of range for month)"),
        ("issue.yaml", "title", "!!int x", "YAML tags such as !!int are not supported"),
        ("issue.yaml", "publish_at", "2024-09-30T08:00:00+25:00", "its UTC offset must be within ±24:00"),
        ("issue.yaml", "date", "!!timestamp foo", "YAML tags such as !!timestamp are not supported"),
        ("issue.yaml", "cover", '"http://[::1"', "is not a valid URL"),
        ("issue.yaml", "tags", "&a [x]\nextra: *a", "YAML aliases (*name) are not supported"),
        ("issue.yaml", "tags", "{<<: {a: 1}}", "YAML merge keys (<<:) are not supported"),
        ("01-palm.md", "rating", ".inf", "rating: .inf is not a number to count with"),
        ("01-palm.md", "authors", "!!bool maybe", "YAML tags such as !!bool are not supported"),
        ("01-palm.md", "rating", "9" * 5000, "it has too many digits"),
        ("01-palm.md", "title", "!!python/object/apply:os.system ['true']", "YAML tags such as !!python/object"),
    ],
)
def test_a_hostile_value_is_an_error_at_its_line(news, where, key, value, expected):
    path = news / "issues" / ISSUE / where
    set_key(path, key, value)
    [error] = problems(news)
    line = 2 if where.endswith(".md") else 1  # where set_key put the key
    assert error.startswith(f"issues/{ISSUE}/{where}:{line}: error: ") and expected in error, error


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("![x](%00)", "image: '\\x00' has a name that cannot be a file name"),
        ("![x](images/" + "a" * 5000 + ".png)", "has a name too long for the file system"),
        ("*" * 20000 + "x" + "*" * 20000, "emphasis (* or _) nested 10000 levels deep, at most 12"),
    ],
)
def test_hostile_markdown_is_an_error_at_its_line(news, markdown, expected):
    entry = news / "issues" / ISSUE / "01-palm.md"
    entry.write_text(entry.read_text("utf-8") + "\n" + markdown + "\n", encoding="utf-8")
    [error] = problems(news)
    assert f"issues/{ISSUE}/01-palm.md:" in error and expected in error, error


def test_malformed_urls_in_markdown_build_cleanly(news):
    entry = news / "issues" / ISSUE / "01-palm.md"
    text = "\n[链接](http://[::1) ![图](http://[::1) [另一个](http://[::1]:99999/x)\n"
    entry.write_text(entry.read_text("utf-8") + text, encoding="utf-8")
    assert problems(news) == []
    build(load_config(news / "config.yaml"), now=NOW)
    assert (news / "public" / "issues" / ISSUE / "index.html").is_file()


def test_the_mjml_step_never_sees_the_nesting_that_crashed_it(news):
    """20,000 asterisks around a word once made mjml2html die with SIGSEGV (exit 139)."""
    entry = news / "issues" / ISSUE / "01-palm.md"
    entry.write_text(entry.read_text("utf-8") + "\n" + "*" * 20000 + "x" + "*" * 20000 + "\n", encoding="utf-8")
    for command in ("check", "build"):
        run = subprocess.run(
            [sys.executable, "-m", "pipeline", command],
            cwd=news,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert run.returncode == 1 and "Traceback" not in run.stderr, (command, run.returncode, run.stderr[-500:])
        assert "nested 10000 levels deep" in run.stdout + run.stderr


def outside(news: Path, name: str) -> Path:
    path = news.parent / name
    path.write_text(f"---\ntitle: {SECRET}\nauthors: [某人]\n---\n{SECRET}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("make", "name", "expected"),
    [
        (lambda f, n: (f / "09-dir.md").mkdir(), "09-dir.md", "09-dir.md is a folder, not a file"),
        (lambda f, n: os.symlink("/nonexistent/x.md", f / "09-x.md"), "09-x.md", "is a symbolic link to nothing"),
        (lambda f, n: os.symlink("09-x.md", f / "09-x.md"), "09-x.md", "is a loop of symbolic links"),
        (lambda f, n: os.mkfifo(f / "09-x.md"), "09-x.md", "is not a regular file (a pipe or a device)"),
        (lambda f, n: os.symlink(outside(n, "secret.md"), f / "09-x.md"), "09-x.md", "leads outside 2024-09-30/"),
        (lambda f, n: os.symlink(outside(n, "secret.txt"), f / "notes.txt"), "notes.txt", "leads outside 2024-09-30/"),
        (lambda f, n: os.symlink("/dev/zero", f / "zero.png"), "zero.png", "leads outside 2024-09-30/"),
        (lambda f, n: (f / "09-big.md").open("wb").truncate(3 * 1024 * 1024), "09-big.md", "at most 2.0 MB is read"),
    ],
)
def test_a_file_that_is_not_an_ordinary_file_of_the_issue_is_refused(news, make, name, expected):
    folder = news / "issues" / ISSUE
    make(folder, news)
    errors = problems(news)
    assert any(e.startswith(f"issues/{ISSUE}/{name}: error: ") and expected in e for e in errors), errors
    with pytest.raises(IssueError):
        build(load_config(news / "config.yaml"), now=NOW)
    public = news / "public"
    assert not public.exists() or not any(SECRET.encode() in p.read_bytes() for p in public.rglob("*") if p.is_file())


def test_issue_yaml_linked_to_dev_zero_is_refused_at_once(news):
    """Read until memory ran out (3.6 GB) before."""
    yaml_path = news / "issues" / ISSUE / "issue.yaml"
    yaml_path.unlink()
    os.symlink("/dev/zero", yaml_path)
    [error] = problems(news)
    assert "issue.yaml leads outside 2024-09-30/" in error


def test_an_issue_folder_linked_from_outside_is_refused(news):
    elsewhere = news.parent / "elsewhere"
    (news / "issues" / ISSUE).rename(elsewhere)
    os.symlink(elsewhere, news / "issues" / ISSUE)
    [error] = problems(news)
    assert error.startswith(f"issues/{ISSUE}: error: {ISSUE} leads outside issues/")


def test_a_folder_link_loop_inside_the_issue_is_not_followed(news):
    (news / "issues" / ISSUE / "images").mkdir()
    os.symlink(".", news / "issues" / ISSUE / "images" / "loop")
    [error] = problems(news)
    assert "images/loop: error: loop is a folder" in error or "loop" in error


def test_a_link_inside_the_issue_folder_is_fine(news):
    folder = news / "issues" / ISSUE
    (folder / "images").mkdir()
    (folder / "images" / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    os.symlink("images/fig.png", folder / "same.png")
    assert problems(news) == []
    build(load_config(news / "config.yaml"), now=NOW)
    assert (news / "public" / "issues" / ISSUE / "same.png").read_bytes() == b"\x89PNG\r\n\x1a\n"


def test_a_template_linked_from_outside_is_refused(news):
    (news / "templates").mkdir()
    secret = news.parent / "secret.html"
    secret.write_text(SECRET, encoding="utf-8")
    os.symlink(secret, news / "templates" / "issue.html")
    with pytest.raises(Exception) as refused:
        build(load_config(news / "config.yaml"), now=NOW)
    assert "the template leads outside templates/" in str(refused.value)
    public = news / "public"
    assert not public.exists() or not any(SECRET.encode() in p.read_bytes() for p in public.rglob("*") if p.is_file())


@pytest.mark.parametrize("output", ["/", "/etc", ".", "..", "issues", "afile"])
def test_paths_output_must_be_a_folder_of_its_own(news, output):
    (news / "afile").write_text("x")
    config = news / "config.yaml"
    config.write_text(config.read_text("utf-8") + f"paths:\n  output: {output}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert "paths.output:" in str(refused.value) and "name a folder of its own" in str(refused.value)


@pytest.mark.parametrize("output", ["public", "site/out", "../digest-public"])
def test_paths_output_inside_or_beside_the_newsletter_is_fine(news, output):
    config = news / "config.yaml"
    config.write_text(config.read_text("utf-8") + f"paths:\n  output: {output}\n", encoding="utf-8")
    assert load_config(config).output_dir == (news / output)


def test_a_rejected_folder_takes_part_in_no_cross_issue_check(news):
    """issues/2024-02-30 is no issue: its papers are not "already featured", and it is not counted."""
    rejected = news / "issues" / "2024-02-30"
    write(rejected / "issue.yaml", "title: 不存在的日子\n")
    write(rejected / "01-palm.md", paper_md("Proof Automation"))
    report = check_issues(load_config(news / "config.yaml"))
    messages = [p.format(news) for p in report.problems]
    assert any(m.startswith("issues/2024-02-30: error: folder name is not an issue id") for m in messages)
    assert not any("already featured" in m for m in messages), messages
    assert report.issue_count == 1


@pytest.mark.parametrize(
    ("written", "on_disk", "expected"),
    [
        ("images/Fig1.png", "fig1.png", "did you mean 'images/fig1.png'?"),
        ("images\\\\fig1.png", "fig1.png", "write paths with /, e.g. 'images/fig1.png'"),
        ("images/fig1.png", None, "is not an image, though its name ends in .png"),
    ],
)
def test_image_paths_that_are_almost_right_get_a_hint(news, written, on_disk, expected):
    images = news / "issues" / ISSUE / "images"
    images.mkdir()
    if on_disk:
        (images / on_disk).write_bytes(b"\x89PNG\r\n\x1a\n")
    else:
        (images / "fig1.png").write_text("这不是图片", encoding="utf-8")
    entry = news / "issues" / ISSUE / "01-palm.md"
    entry.write_text(entry.read_text("utf-8") + f"\n![图]({written})\n", encoding="utf-8")
    [error] = problems(news)
    assert expected in error, error

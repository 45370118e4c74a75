"""The `publish` command as a user meets it: exit codes, messages without tracebacks, help and docs."""

from __future__ import annotations

import os
import shutil
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from conftest import REPO, write
from pipeline.cli import cli


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_init_check_build_on_a_new_folder(tmp_path):
    result = run("init", "letter", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "letter"
    assert (folder / "config.yaml").is_file()
    check = run("check", cwd=folder)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1 issue checked: 0 errors," in check.stdout
    build = run("build", cwd=folder)
    assert build.returncode == 0, build.stderr
    [issue] = (folder / "issues").iterdir()
    assert (folder / "public" / "issues" / issue.name / "index.html").is_file()
    again = run("init", "letter", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_new_scaffolds_an_issue_and_refuses_to_overwrite(example):
    result = run("new", "2024-10-07", "--slug", "special", cwd=example)
    assert result.returncode == 0, result.stderr
    folder = example / "issues" / "2024-10-07-special"
    assert (folder / "issue.yaml").is_file() and (folder / "01-example.md").is_file()
    assert run("check", "2024-10-07-special", cwd=example).returncode == 0
    again = run("new", "2024-10-07", "--slug", "special", cwd=example)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = run("new", "2024-10-7", cwd=example)
    assert bad.returncode == 2 and "not an issue id" in bad.stderr


def test_check_reports_errors_with_exit_1_and_no_traceback(example):
    write(example / "issues/2024-09-30/04-bad.md", "---\ntitle: Bad\nauthors: []\nrating: 12\n---\n正文\n")
    result = run("check", cwd=example)
    assert result.returncode == 1
    assert "issues/2024-09-30/04-bad.md:4: error: rating: 12 is outside 0..10" in result.stderr
    assert "Traceback" not in result.stderr


def test_strict_turns_warnings_into_failure(example):
    text = (example / "issues/2024-09-30/issue.yaml").read_text()
    (example / "issues/2024-09-30/issue.yaml").write_text(re.sub(r"(?m)^summary:.*\n", "", text))
    assert run("check", cwd=example).returncode == 0
    strict = run("check", "--strict", cwd=example)
    assert strict.returncode == 1 and "no `summary:`" in strict.stderr


def test_check_reports_email_sizes(example):
    result = run("check", "2024-09-30", cwd=example)
    assert re.search(r"2024-09-30: email HTML [\d.]+ KB, [\d.]+ KB as sent", result.stdout), result.stdout


def test_failed_build_writes_nothing_and_keeps_the_last_good_outputs(example):
    assert run("build", cwd=example).returncode == 0
    public = example / "public"
    before = {p: p.read_bytes() for p in public.rglob("*") if p.is_file()}
    write(example / "issues/2024-09-30/01-palm.md", "---\ntitle: [broken\n---\n")
    result = run("build", cwd=example)
    assert result.returncode == 1
    assert "01-palm.md:2: error: invalid YAML" in result.stderr
    after = {p: p.read_bytes() for p in public.rglob("*") if p.is_file()}
    assert after == before  # the typo did not drop the issue from the feed
    assert not [p for p in public.rglob("*.tmp")]


@pytest.mark.parametrize("bad", ["../../etc", "2024-09-30/../../x", "nope"])
def test_bad_ids_are_usage_errors(example, bad):
    for command in (["build", bad], ["check", bad], ["issue", bad]):
        result = run(*command, cwd=example)
        assert result.returncode == 2, (command, result.stderr)
        assert "not an issue id" in result.stderr
        assert "Traceback" not in result.stderr


def test_unknown_issue_is_a_clear_error(example):
    result = run("issue", "2030-01-01", cwd=example)
    assert result.returncode == 2 and "no issue '2030-01-01'" in result.stderr


def test_missing_config_says_what_to_do(tmp_path):
    result = run("check", cwd=tmp_path)
    assert result.returncode == 1
    assert "no config.yaml here" in result.stderr and "publish init" in result.stderr


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, prefix + name + " "))
    return found


@pytest.mark.parametrize(("name", "command"), all_commands(cli))
def test_every_command_has_help_and_is_documented(name, command):
    assert command.help and command.help.strip(), f"`publish {name}` has no help text"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"publish {name}" in readme, f"`publish {name}` is not documented in README.md"


def test_help_is_fast_to_import():
    code = "import sys, pipeline.cli; print(sorted(m for m in ('jinja2', 'feedgen', 'mjml', 'markdown_it', 'requests', 'yaml') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.stdout.strip() == "[]", "heavy modules imported at start-up slow down every command"


def test_wechat_limits_are_warned_once_with_their_line(example):
    path = example / "issues/2024-09-30/issue.yaml"
    path.write_text(re.sub(r"(?m)^title:.*$", "title: " + "很长的标题" * 8, path.read_text()))
    result = run("check", "2024-09-30", cwd=example)
    lines = [line for line in result.stderr.splitlines() if "WeChat allows 32" in line]
    assert len(lines) == 1 and lines[0].startswith("issues/2024-09-30/issue.yaml:1: warning:"), result.stderr


def test_publish_logs_read_like_the_cli_and_the_scheduler_keeps_timestamps(example):
    path = example / "issues/2024-09-30/issue.yaml"
    path.write_text(re.sub(r"(?m)^title:.*$", "title: " + "很长的标题" * 8, path.read_text()))
    result = run("issue", "2024-09-30", "--channel", "wechat", cwd=example)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "32" in line]
    assert warned and all(line.startswith("warning: 2024-09-30: wechat:") for line in warned), result.stderr
    assert not re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d", result.stderr, re.M), result.stderr
    once = run("scheduler", "--once", "--clock", "2024-10-01T00:00:00+00:00", cwd=example)
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO pipeline\.", once.stderr, re.M), once.stderr


def test_outputs_are_readable_by_a_web_server(example):
    assert run("build", cwd=example).returncode == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in (example / "public").rglob("*") if p.is_file()}
    assert modes and all(mode & 0o044 == 0o044 for mode in modes.values()), modes


def test_a_template_override_added_later_takes_effect(example):
    assert run("build", cwd=example).returncode == 0  # warms the compiled-template cache
    page = example / "public/issues/2024-09-30/index.html"
    assert "自定义页面" not in page.read_text()
    write(example / "templates/issue.html", '{% extends "base.html" %}{% block content %}<p>自定义页面 {{ issue.title }}</p>{% endblock %}\n')
    assert run("build", cwd=example).returncode == 0
    assert "自定义页面" in page.read_text()
    (example / "templates/issue.html").unlink()
    assert run("build", cwd=example).returncode == 0
    assert "自定义页面" not in page.read_text()


def test_issue_twice_then_status_and_scheduler_once(example):
    first = run("issue", "2024-09-30", cwd=example)
    assert first.returncode == 0, first.stderr
    assert [line.split(":")[:2] for line in first.stdout.splitlines()] == [["feed", " done"], ["email", " done"], ["wechat", " done"]]
    second = run("issue", "2024-09-30", cwd=example)
    assert second.returncode == 0 and second.stdout.count("already done") == 3
    assert re.search(r"email: already done: at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00, 3 sent", second.stdout), second.stdout
    once = run("scheduler", "--once", "--clock", "2024-05-10T00:00:00+00:00", cwd=example)
    assert once.returncode == 0, once.stderr
    status = run("status", cwd=example).stdout
    # times in the site's zone (Asia/Shanghai), as the editors read them
    assert re.search(r"2024-09-30  email\s+done\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00  sent 3, failed 0, pending 0", status), status
    assert re.search(r"2024-04-28  email\s+skipped", status), status
    assert "why: due 2024-04-28T08:00:00+08:00, more than 2 days ago" in status
    assert len(list((example / "outbox" / "maildir" / "new").iterdir())) == 3  # the skipped issue sent nobody mail


def test_a_removed_issue_leaves_the_site_and_the_feeds(example):
    assert run("build", cwd=example).returncode == 0
    public = example / "public"
    assert (public / "issues/2024-04-28/index.html").is_file()
    shutil.rmtree(example / "issues/2024-04-28")
    assert run("build", cwd=example).returncode == 0
    assert not (public / "issues/2024-04-28").exists()
    assert "2024-04-28" not in (public / "index.html").read_text() and "2024-04-28" not in (public / "rss.xml").read_text()
    assert (public / "issues/2024-09-30/index.html").is_file()

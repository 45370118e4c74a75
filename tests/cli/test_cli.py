"""The `publish` command as a user meets it: exit codes, messages without tracebacks, help and docs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import REPO, write

from pipeline.cli import cli


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


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
    assert not list(public.rglob("*.tmp"))


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
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    assert result.stdout.strip() == "[]", "heavy modules imported at start-up slow down every command"


def test_the_config_and_the_feeds_do_not_import_the_email_package(example):
    # ~13 ms of every command (the config's addresses) and build (the RSS dates); sending needs it
    code = (
        "import sys, pathlib, pipeline.render.feeds, pipeline.config\n"
        "pipeline.config.load_config(pathlib.Path('config.yaml'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('email')))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=example, capture_output=True, text=True, env=env)
    assert result.stdout.strip() == "[]", result.stderr


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
    # first the check's warning, where to fix it; then the channel's, what it did
    assert len(warned) == 2, result.stderr
    assert warned[0].startswith("issues/2024-09-30/issue.yaml:1: warning: title has 40 characters; WeChat allows 32"), (
        result.stderr
    )
    assert warned[1].startswith("warning: 2024-09-30: wechat: title shortened from 40 to 32"), result.stderr
    assert not re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d", result.stderr, re.M), result.stderr
    once = run("scheduler", "--once", "--clock", "2024-10-01T00:00:00+00:00", cwd=example)
    # the site's zone (Asia/Shanghai) with its offset, as `publish status` shows times
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00 INFO pipeline\.", once.stderr, re.M), once.stderr


def test_outputs_are_readable_by_a_web_server(example):
    assert run("build", cwd=example).returncode == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in (example / "public").rglob("*") if p.is_file()}
    assert modes and all(mode & 0o044 == 0o044 for mode in modes.values()), modes


def test_a_template_override_added_later_takes_effect(example):
    assert run("build", cwd=example).returncode == 0  # warms the compiled-template cache
    page = example / "public/issues/2024-09-30/index.html"
    assert "自定义页面" not in page.read_text()
    write(
        example / "templates/issue.html",
        '{% extends "base.html" %}{% block content %}<p>自定义页面 {{ issue.title }}</p>{% endblock %}\n',
    )
    assert run("build", cwd=example).returncode == 0
    assert "自定义页面" in page.read_text()
    (example / "templates/issue.html").unlink()
    assert run("build", cwd=example).returncode == 0
    assert "自定义页面" not in page.read_text()


def test_issue_twice_then_status_and_scheduler_once(example):
    first = run("issue", "2024-09-30", cwd=example)
    assert first.returncode == 0, first.stderr
    assert [line.split(":")[:2] for line in first.stdout.splitlines()] == [
        ["feed", " done"],
        ["email", " done"],
        ["wechat", " done"],
    ]
    second = run("issue", "2024-09-30", cwd=example)
    assert second.returncode == 0 and second.stdout.count("already done") == 3
    assert re.search(r"email: already done: at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00, 3 sent", second.stdout), (
        second.stdout
    )
    once = run("scheduler", "--once", "--clock", "2024-05-10T00:00:00+00:00", cwd=example)
    assert once.returncode == 0, once.stderr
    status = run("status", cwd=example).stdout
    # times in the site's zone (Asia/Shanghai), as the editors read them
    assert re.search(
        r"2024-09-30  email\s+done\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00  sent 3, failed 0, pending 0", status
    ), status
    assert re.search(r"2024-04-28  email\s+skipped", status), status
    assert "why: due 2024-04-28 08:00:00 +08:00, more than 2 days ago" in status  # the form of every other time
    assert len(list((example / "outbox" / "maildir" / "new").iterdir())) == 3  # the skipped issue sent nobody mail


def test_a_removed_issue_leaves_the_site_and_the_feeds(example):
    assert run("build", cwd=example).returncode == 0
    public = example / "public"
    assert (public / "issues/2024-04-28/index.html").is_file()
    shutil.rmtree(example / "issues/2024-04-28")
    assert run("build", cwd=example).returncode == 0
    assert not (public / "issues/2024-04-28").exists()
    assert (
        "2024-04-28" not in (public / "index.html").read_text() and "2024-04-28" not in (public / "rss.xml").read_text()
    )
    assert (public / "issues/2024-09-30/index.html").is_file()


# ---------------------------------------------------------------- example text, --test-to, status, scheduler exit


def ready_scaffold(example: Path, day: str = "2024-10-07", slug: str = "scaffold") -> str:
    """`publish new DAY --slug SLUG --title 测试`, then `draft: true` deleted: the reviewer's steps."""
    assert run("new", day, "--slug", slug, "--title", "测试", cwd=example).returncode == 0
    path = example / "issues" / f"{day}-{slug}" / "issue.yaml"
    path.write_text(re.sub(r"(?m)^draft:.*\n", "", path.read_text("utf-8")), "utf-8")
    return f"{day}-{slug}"


def error_line(result: subprocess.CompletedProcess) -> str:
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return line


def maildir(example: Path) -> list:
    import email
    import email.policy

    folder = example / "outbox" / "maildir" / "new"
    return (
        [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(folder.iterdir())]
        if folder.is_dir()
        else []
    )


def test_an_issue_with_example_text_is_refused_naming_each_place(example):
    issue_id = ready_scaffold(example)
    folder = f"issues/{issue_id}"
    assert run("check", issue_id, cwd=example).returncode == 0  # only warnings: a fresh scaffold checks
    places = [
        f"{folder}/issue.yaml:2: error: summary is still the example text from `publish new`",
        f"{folder}/issue.yaml:3: error: intro is still the example text from `publish new`",
        f"{folder}/01-example.md:11: error: 7 paragraphs or list items are still example text from `publish new`, the first on this line",
    ]
    for extra in (["--dry-run"], []):
        result = run("issue", issue_id, *extra, cwd=example)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout == ""  # no channel ran
        for place in places:
            assert place in result.stderr.splitlines(), result.stderr
        assert "warning: summary is still" not in result.stderr  # each place once, as the error
        assert error_line(result) == (
            f"error: {issue_id} still holds example text from `publish new` (issue.yaml:2, issue.yaml:3, 01-example.md:11); "
            f"nothing was published — write your own text in those places or delete it, then `publish check {issue_id}`; "
            "`--test-to ADDRESS` mails you a preview as it is"
        )
        assert "Traceback" not in result.stderr
    assert maildir(example) == [] and run("status", issue_id, cwd=example).stdout.split()[3] == "refused"

    # A preview still works, example text and all, and its warnings are shown.
    preview = run("issue", issue_id, "--test-to", "编辑 <editor@example.org>", cwd=example)
    assert preview.returncode == 0, preview.stderr
    assert f"{folder}/issue.yaml:2: warning: summary is still the example text" in preview.stderr
    [copy] = maildir(example)
    assert copy["To"].addresses[0].addr_spec == "editor@example.org" and copy["Subject"] == "测试"
    assert "一两句话的导语" in copy.get_body(("plain",)).get_content()


def test_other_warnings_are_printed_by_issue_and_do_not_block(example):
    issue_id = ready_scaffold(example)
    folder = example / "issues" / issue_id
    long_title = "很长的标题" * 8
    write(folder / "issue.yaml", f"title: {long_title}\nsummary: 本期一篇关于自动化证明的论文。\n")
    write(
        folder / "01-example.md",
        "---\ntitle: Proof Automation\nauthors: [M Lu]\narxiv: '2501.01234'\n---\n用大模型自动生成 Coq 证明。\n\n## 研究背景\n\n形式化验证代价高。\n",
    )
    dry = run("issue", issue_id, "--dry-run", "--channel", "email", cwd=example)
    assert dry.returncode == 0, dry.stderr
    assert dry.stderr.splitlines() == [
        f"issues/{issue_id}/issue.yaml:1: warning: title has 40 characters; WeChat allows 32, it will be shortened there: shorten it"
    ]
    assert dry.stdout.startswith("email: would send\n  would send to 3 recipients")
    sent = run("issue", issue_id, "--channel", "email", cwd=example)
    assert sent.returncode == 0 and "WeChat allows 32" in sent.stderr
    assert [m["Subject"] for m in maildir(example)] == [long_title] * 3


def test_test_to_says_which_selection_lacks_an_email_channel(example):
    result = run("issue", "2024-09-30", "--channel", "feed", "--test-to", "editor@example.org", cwd=example)
    assert result.returncode == 2
    assert error_line(result) == (
        "error: --test-to mails a copy through an email channel, and the selected channels (feed) include none"
        " — drop --channel, or pick the email channel: --channel email"
    )
    path = example / "issues/2024-09-30/issue.yaml"
    path.write_text(path.read_text("utf-8") + "channels: [feed, wechat]\n", "utf-8")
    result = run("issue", "2024-09-30", "--test-to", "editor@example.org", cwd=example)
    assert (
        result.returncode == 2
        and "2024-09-30's channels (channels: in issue.yaml: feed, wechat) include none" in error_line(result)
    )
    assert error_line(result).endswith("— add --channel email to preview it anyway")
    picked = run("issue", "2024-09-30", "--channel", "email", "--test-to", "editor@example.org", cwd=example)
    assert picked.returncode == 0 and [m["To"] for m in maildir(example)] == ["editor@example.org"]


def test_an_unknown_channel_is_a_usage_error_before_the_schedule_is_looked_at(example):
    from datetime import date, timedelta

    day = (date.today() + timedelta(days=30)).isoformat()
    write(example / "issues" / day / "issue.yaml", "title: 未来的一期\nsummary: 还没到发送的时候。\n")
    write(example / "issues" / day / "01-paper.md", "---\ntitle: A Paper\nauthors: [张三]\n---\n导语。\n")
    result = run("issue", day, "--channel", "nosuch", cwd=example)
    assert result.returncode == 2
    assert (
        error_line(result)
        == "error: no channel named 'nosuch' in config.yaml — configured channels: feed, email, wechat"
    )
    assert not (example / "public").exists()  # refused before anything was built


def test_status_lists_scheduled_issues_and_aligns_slugged_ids(example):
    from datetime import date, timedelta

    day = (date.today() + timedelta(days=30)).isoformat()
    for issue_id in (day, f"{day}-b"):
        write(
            example / "issues" / issue_id / "issue.yaml", f"title: 未来的一期 {issue_id}\nsummary: 还没到发送的时候。\n"
        )
        write(example / "issues" / issue_id / "01-paper.md", "---\ntitle: A Paper\nauthors: [张三]\n---\n导语。\n")
    write(example / "issues" / f"{day}-draft" / "issue.yaml", "title: 草稿\ndraft: true\n")
    write(example / "issues" / f"{day}-draft" / "01-paper.md", "---\ntitle: A Paper\nauthors: [张三]\n---\n导语。\n")
    assert run("issue", "2024-09-30", cwd=example).returncode == 0
    lines = run("status", cwd=example).stdout.splitlines()
    rows = [line for line in lines if not line.startswith("    ")]
    assert rows[-2:] == [
        f"{day}    (all channels)  scheduled  {day} 08:00:00 +08:00",
        f"{day}-b  (all channels)  scheduled  {day} 08:00:00 +08:00",
    ], lines
    assert not any("draft" in row for row in rows)  # drafts are not scheduled
    # channel, state and time start at the same place on every row (columns are 2+ spaces apart)
    starts = {tuple(m.start() for m in re.finditer(r"(?<=  )\S", row))[:3] for row in rows}
    assert len(starts) == 1, rows
    one = run("status", day, cwd=example).stdout
    assert one == (
        f"{day}  (all channels)  scheduled  {day} 08:00:00 +08:00\n"
        f"    note: the scheduler sends it then; `publish issue {day} --now` sends it now\n"
    )
    assert run("status", f"{day}-draft", cwd=example).stdout.split()[3] == "draft"


def test_scheduler_once_exits_1_when_a_channel_failed(example):
    config = example / "config.yaml"
    plain = config.read_text("utf-8")
    config.write_text(
        plain.replace(
            "    maildir: outbox/maildir\n",
            "    maildir: outbox/maildir\n    smtp:\n      host: 127.0.0.1\n"
            "      port: 2525\n      security: none\n      username: 编辑\n      password: ${NOPE_PW}\n",
        ),
        "utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "NOPE_PW"}
    once = subprocess.run(
        [sys.executable, "-m", "pipeline", "scheduler", "--once", "--clock", "2024-09-30T09:00:00+08:00"],
        cwd=example,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert once.returncode == 1, once.stderr  # cron notices
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00"
    assert re.search(
        rf"^{stamp} WARNING pipeline\.scheduler: 2024-09-30 email: failed: .*\$\{{NOPE_PW\}}, which is not set",
        once.stderr,
        re.M,
    ), once.stderr
    assert re.search(rf"^{stamp} INFO pipeline\.scheduler: 2024-09-30 feed: done", once.stderr, re.M), once.stderr
    # Fixed (mail to the Maildir again): the next pass sends it and exits 0.
    config.write_text(plain, "utf-8")
    again = run("scheduler", "--once", "--clock", "2024-09-30T09:05:00+08:00", cwd=example)
    assert again.returncode == 0, again.stderr
    assert len(maildir(example)) == 3


def test_an_issue_with_example_text_stays_out_of_the_index_and_feeds(example):
    """Built for preview like a draft, but not listed or fed while `publish new`'s text is in it."""
    assert run("new", "2024-10-07", "--slug", "scaffold", cwd=example).returncode == 0
    yaml_path = example / "issues/2024-10-07-scaffold/issue.yaml"
    yaml_path.write_text(re.sub(r"(?m)^draft:.*\n", "", yaml_path.read_text("utf-8")), "utf-8")
    assert run("build", cwd=example).returncode == 0
    public = example / "public"
    assert (public / "issues/2024-10-07-scaffold/index.html").is_file()  # the preview
    for name in ("index.html", "rss.xml", "atom.xml", "feed.json"):
        assert "2024-10-07-scaffold" not in (public / name).read_text("utf-8"), name
    # Once the example text is replaced, the next build lists and feeds it.
    folder = yaml_path.parent
    yaml_path.write_text("title: 第 18 期\nsummary: 本期三篇论文讲长上下文。\n", "utf-8")
    write(
        folder / "01-example.md",
        "---\ntitle: Own Paper\nauthors: [张三]\narxiv: '2410.00001'\n---\n自己写的导语。\n\n## 研究背景\n\n自己写的背景。\n",
    )
    assert run("build", cwd=example).returncode == 0
    for name in ("index.html", "rss.xml", "atom.xml", "feed.json"):
        assert "2024-10-07-scaffold" in (public / name).read_text("utf-8"), name


def test_init_names_the_command_as_it_can_be_run(tmp_path):
    """After the quick start `publish` is .venv/bin/publish, not on PATH: the next steps say so."""
    import shlex

    program = Path(sys.executable).parent / "publish"
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(program), "init", "新刊"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    steps = done.stdout.splitlines()[-1].removeprefix("Next: ")
    assert f"{program.resolve()} check" in steps
    ran = subprocess.run(steps, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr  # the line works as printed, from where init was run
    assert (tmp_path / "新刊" / "public" / "index.html").is_file()
    assert "1 issue not on the index or in the feeds (a draft, or not due yet)" in ran.stdout  # the example is a draft
    assert shlex.split(steps)[1] == "新刊"


def run_entry(main_body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The console entry point `run` around a `main` that does ``main_body``."""
    code = (
        "import sys, threading, time, atexit\n"
        "from pathlib import Path\n"
        "import pipeline.cli as entry\n"
        f"folder = Path({str(tmp_path)!r})\n"
        f"def main():\n    {main_body}\n"
        "entry.main = main\n"
        "entry.run()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_the_entry_point_exits_with_the_code_and_all_output_of_the_command(tmp_path):
    done = run_entry("print('第一行'); sys.stdout.write('未换行'); sys.exit(3)", tmp_path)
    assert (done.returncode, done.stdout) == (3, "第一行\n未换行")
    done = run_entry("sys.exit('error: 出错了')", tmp_path)  # a message, as sys.exit prints it
    assert (done.returncode, done.stderr) == (1, "error: 出错了\n")
    done = run_entry("atexit.register(lambda: (folder / 'at-exit').write_text('ran'))", tmp_path)
    assert done.returncode == 0 and (tmp_path / "at-exit").read_text() == "ran"  # exit handlers still run


def test_the_entry_point_waits_for_threads_still_running(tmp_path):
    body = "threading.Thread(target=lambda: (time.sleep(0.3), (folder / 'done').touch())).start()"
    done = run_entry(body, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "done").is_file()


def test_the_entry_point_lets_a_profiler_write_its_data(tmp_path):
    """`python -m cProfile -o FILE -m pipeline …` (the benchmark's --profile) writes FILE after the program."""
    profile = tmp_path / "run.prof"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "pipeline", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert profile.is_file() and profile.stat().st_size > 0

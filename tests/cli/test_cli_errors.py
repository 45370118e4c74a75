"""A user's mistakes, as a new user makes them: one line `error: what — what to do`, the right exit
code (1 bad input, 2 usage) and never a traceback; dry runs that say what the real run would do."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, paper_md, write
from test_cli import all_commands

from pipeline.cli import cli

ISSUE = "2024-09-30"  # the bundled example's issue with three papers; 2024-04-28 has five


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NOPE_")}
    environment.update(PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def assert_user_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """Exit ``code``, one `error: … — …` line naming every fragment, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stdout + result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert " — " in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def with_smtp_secret(example: Path) -> Path:
    """The example's email channel sending through SMTP with the password in ${NOPE_PW}."""
    config = example / "config.yaml"
    text = config.read_text("utf-8").replace(
        "    maildir: outbox/maildir\n",
        "    maildir: outbox/maildir\n    smtp:\n      host: 127.0.0.1\n      port: 2525\n      security: none\n"
        "      username: 编辑\n      password: ${NOPE_PW}\n",
    )
    config.write_text(text, "utf-8")
    return config


def future_issue(example: Path, days: int = 30) -> str:
    """A ready (not draft) issue due ``days`` from today, at the site's 08:00 +08:00."""
    day = (date.today() + timedelta(days=days)).isoformat()
    write(example / "issues" / day / "issue.yaml", 'title: "未来的一期"\nsummary: 还没到发送的时候。\n')
    write(example / "issues" / day / "01-paper.md", paper_md("未来的论文"))
    return day


# ---------------------------------------------------------------- 1. ${VAR} secrets


def test_a_missing_secret_fails_its_channel_with_the_variable_named(example):
    with_smtp_secret(example)
    result = run("issue", ISSUE, cwd=example)
    assert result.returncode == 1
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["feed"].startswith("done") and lines["wechat"].startswith("done")
    assert lines["email"] == (
        "failed: channels.email.smtp.password refers to ${NOPE_PW}, which is not set in the environment"
        " — export NOPE_PW=… before running, or change channels.email.smtp.password in config.yaml"
    )
    assert "Traceback" not in result.stderr and "crashed" not in result.stderr
    status = run("status", ISSUE, cwd=example).stdout
    assert "last error: channels.email.smtp.password refers to ${NOPE_PW}" in status


def test_check_warns_about_secrets_the_channels_will_read(example):
    config = with_smtp_secret(example)
    line = config.read_text("utf-8").splitlines().index("      password: ${NOPE_PW}") + 1
    result = run("check", ISSUE, cwd=example)
    assert result.returncode == 0, result.stderr
    assert (
        f"config.yaml:{line}: warning: channel email: channels.email.smtp.password uses ${{NOPE_PW}}, "
        "which is not set in the environment; export NOPE_PW=… before publishing"
    ) in result.stderr
    assert "1 issue checked: 0 errors, 1 warning" in result.stdout
    assert run("check", ISSUE, "--strict", cwd=example).returncode == 1
    assert "NOPE_PW" not in run("check", ISSUE, cwd=example, env={"NOPE_PW": "口令"}).stderr


def test_check_refuses_out_of_range_numbers_with_the_key(example):
    config = example / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("  poll: 60", "  poll: -5"), "utf-8")
    result = run("check", cwd=example)
    assert result.returncode == 1 and "schedule.poll: -5 must be more than 0" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- 2. --test-to


def test_test_to_an_invalid_address_is_a_usage_error_before_anything_runs(example):
    result = run("issue", ISSUE, "--test-to", "not an address", cwd=example)
    assert_user_error(result, 2, "--test-to", "'not an address' is not an email address", "publish issue --help")
    assert not (example / "public").exists()  # refused before the build


# ---------------------------------------------------------------- 3. serve


def test_serve_on_a_port_in_use_says_so(example):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), cwd=example)
    assert_user_error(result, 1, f"port {port} is in use", "choose another with --port")


def test_serve_refuses_a_port_out_of_range_and_a_foreign_host(example):
    assert_user_error(run("serve", "--port", "99999", cwd=example), 2, "99999 is not in the range")
    assert_user_error(
        run("serve", "--host", "192.0.2.1", "--port", "0", cwd=example),
        1,
        "192.0.2.1 is not an address of this machine",
        "--host 127.0.0.1",
    )


# ---------------------------------------------------------------- 4. init


def test_init_on_an_existing_file_is_refused(tmp_path):
    (tmp_path / "期刊").write_text("不是文件夹", "utf-8")
    assert_user_error(run("init", "期刊", cwd=tmp_path), 1, "期刊 is a file, not a folder")
    assert_user_error(run("init", "期刊/sub", cwd=tmp_path), 1, "期刊 is a file, not a folder")


def test_init_writes_nothing_when_one_file_is_in_the_way(tmp_path):
    write(tmp_path / "letter" / "subscribers.csv", "email,name\nreader@example.org,读者\n")
    assert_user_error(run("init", "letter", cwd=tmp_path), 1, "subscribers.csv already exists; nothing was written")
    assert sorted(p.name for p in (tmp_path / "letter").iterdir()) == ["subscribers.csv"]


# ---------------------------------------------------------------- 5. --config anywhere


def test_config_is_accepted_before_and_after_the_command(example, tmp_path):
    config = str(example / "config.yaml")
    runner = CliRunner()
    for args in (
        ["--config", config, "check", ISSUE],
        ["check", ISSUE, "--config", config],
        ["check", "--config", config, ISSUE],
        ["--config", str(tmp_path / "nope.yaml"), "check", "--config", config, ISSUE],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        assert "1 issue checked: 0 errors" in result.output
    wrong = runner.invoke(cli, ["--config", config, "check", "--config", str(tmp_path / "nope.yaml")])
    assert wrong.exit_code == 1 and "nope.yaml: no config.yaml here" in str(wrong.exception)  # the command's own wins
    listing = runner.invoke(cli, ["subscribers", "count", "--config", config])
    assert listing.exit_code == 0 and re.search(r"total\s+0", listing.output)


def test_config_after_the_command_from_another_folder(example, tmp_path):
    result = run("check", ISSUE, "--config", str(example / "config.yaml"), cwd=tmp_path)
    assert result.returncode == 0 and "1 issue checked" in result.stdout, result.stderr


@pytest.mark.parametrize(("name", "command"), [(n, c) for n, c in all_commands(cli) if n != "init"])
def test_every_command_takes_config(name, command):
    assert "--config" in [opt for param in command.params for opt in param.opts], f"`publish {name}` has no --config"


# ---------------------------------------------------------------- 6. dry runs


def test_dry_run_after_a_send_says_already_done_like_the_real_run(example):
    assert run("issue", ISSUE, cwd=example).returncode == 0
    real = run("issue", ISSUE, cwd=example)
    dry = run("issue", ISSUE, "--dry-run", cwd=example)
    assert dry.returncode == 0
    assert dry.stdout == real.stdout
    assert [line.split(":")[1].strip() for line in dry.stdout.splitlines()] == ["already done"] * 3
    assert "would send" not in dry.stdout and "0 recipients" not in dry.stdout


def test_dry_run_before_a_send_names_the_recipients(example):
    result = run("issue", ISSUE, "--dry-run", "--channel", "email", cwd=example)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("email: would send\n  would send to 3 recipients via maildir")
    assert "张伟 <zhang.wei@example.com>" in result.stdout
    assert not (example / "outbox" / "maildir").exists()


def test_dry_run_with_test_to_names_only_that_address(example):
    result = run("issue", ISSUE, "--dry-run", "--test-to", "编辑 <Editor@Example.org>", cwd=example)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "email: would send",
        f"  would send one test copy to editor@example.org via maildir {example / 'outbox/maildir'}; nothing recorded",
    ]
    assert "zhang.wei" not in result.stdout and "recipients" not in result.stdout


def test_dry_run_reports_a_missing_secret_as_the_real_run_would(example):
    with_smtp_secret(example)
    result = run("issue", ISSUE, "--dry-run", "--channel", "email", cwd=example)
    assert result.returncode == 1
    assert result.stdout.startswith("email: failed: channels.email.smtp.password refers to ${NOPE_PW}")


# ---------------------------------------------------------------- 7. not yet due, drafts


def test_an_issue_not_yet_due_is_refused_without_now(example):
    day = future_issue(example)
    line = assert_user_error(
        run("issue", day, cwd=example),
        1,
        f"{day} is scheduled for {day} 08:00 +08:00; the scheduler sends it then",
        "to send it now, add --now",
    )
    assert line.endswith("add --now")
    assert_user_error(run("issue", day, "--dry-run", cwd=example), 1, "is scheduled for")  # as the real run
    assert not (example / "outbox" / "maildir").exists()
    preview = run("issue", day, "--test-to", "editor@example.org", cwd=example)
    assert preview.returncode == 0 and "test copy sent to editor@example.org" in preview.stdout
    sent = run("issue", day, "--now", cwd=example)
    assert sent.returncode == 0, sent.stderr
    assert re.search(r"^email: done: .*3 of 3 sent in all", sent.stdout, re.M), sent.stdout
    assert len(list((example / "outbox" / "maildir" / "new").iterdir())) == 1 + 3


def test_a_draft_is_refused_with_a_hint_even_with_now(example):
    day = future_issue(example, days=-1)
    path = example / "issues" / day / "issue.yaml"
    path.write_text(path.read_text("utf-8") + "draft: true\n", "utf-8")
    for extra in ([], ["--now"], ["--dry-run"]):
        assert_user_error(
            run("issue", day, *extra, cwd=example), 1, f"{day} is a draft", "remove `draft: true`", "--test-to"
        )
    assert run("issue", day, "--test-to", "editor@example.org", cwd=example).returncode == 0


def test_issue_help_documents_now():
    result = CliRunner().invoke(cli, ["issue", "--help"])
    assert "--now" in result.output and "publish_at" in result.output


def test_scheduler_clock_is_checked(example):
    assert_user_error(run("scheduler", "--once", "--clock", "明天", cwd=example), 2, "'明天' is not an ISO time")
    assert_user_error(run("scheduler", "--once", "--clock", "2024-05-10T00:00:00", cwd=example), 2, "has no UTC offset")


# ---------------------------------------------------------------- 8. status, counts


def test_status_of_an_unknown_issue_is_an_error_like_bib_and_issue(example):
    for command in ("status", "bib", "issue"):
        assert_user_error(run(command, "2099-01-01", cwd=example), 2, "no issue '2099-01-01'")
    # never sent, and due longer ago than catch_up: the scheduler leaves it, and status says so
    assert run("status", ISSUE, cwd=example).stdout == (
        f"{ISSUE}  (all channels)  not sent  {ISSUE} 08:00:00 +08:00\n"
        f"    note: due more than 2 days ago: the scheduler leaves it; `publish issue {ISSUE}` sends it\n"
    )


def test_counts_are_deduplicated_and_in_plural_form(example, tmp_path):
    check = run("check", ISSUE, ISSUE, cwd=example)
    assert check.returncode == 0 and "1 issue checked: 0 errors, " in check.stdout
    both = run("check", cwd=example)
    assert "2 issues checked: 0 errors, " in both.stdout
    assert (
        run("bib", ISSUE, "-o", str(tmp_path / "a.bib"), cwd=example).stdout
        == f"wrote 3 entries to {tmp_path / 'a.bib'}\n"
    )
    write(example / "issues/2024-10-07/issue.yaml", 'title: "单篇一期"\n')
    write(example / "issues/2024-10-07/01-one.md", paper_md("唯一的论文"))
    assert (
        run("bib", "2024-10-07", "-o", str(tmp_path / "b.bib"), cwd=example).stdout
        == f"wrote 1 entry to {tmp_path / 'b.bib'}\n"
    )


# ---------------------------------------------------------------- 9. build of named issues


def test_build_of_named_issues_says_what_happened_to_each(example):
    first = run("build", ISSUE, cwd=example)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == f"{ISSUE}: built"
    assert "also built 1 other issue not built before: 2024-04-28" in first.stdout
    again = run("build", ISSUE, ISSUE, cwd=example)
    assert again.stdout == f"{ISSUE}: unchanged\n0 files changed in {example / 'public'}\n"


def test_build_of_named_issues_leaves_broken_others_out(example):
    write(example / "issues/2024-10-07/issue.yaml", 'title: "坏的一期"\n')
    write(example / "issues/2024-10-07/01-bad.md", "---\ntitle: [未闭合\n---\n正文\n")
    named = run("build", ISSUE, cwd=example)
    assert named.returncode == 0, named.stderr
    assert "issues/2024-10-07: warning: not built: this issue has errors" in named.stderr
    assert (example / "public/issues" / ISSUE / "index.html").is_file()
    assert not (example / "public/issues/2024-10-07").exists()
    before = {p: p.read_bytes() for p in (example / "public").rglob("*") if p.is_file()}
    selected = run("build", ISSUE, "2024-10-07", cwd=example)
    assert selected.returncode == 1 and "01-bad.md:2: error" in selected.stderr
    assert {p: p.read_bytes() for p in (example / "public").rglob("*") if p.is_file()} == before


def test_a_state_database_error_no_command_foresaw_is_one_line(example, monkeypatch, capsys):
    import sqlite3

    from pipeline.cli import main

    def broken(*_args, **_kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(cli.commands["status"], "callback", broken)
    monkeypatch.setattr(sys, "argv", ["publish", "--config", str(example / "config.yaml"), "status"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "the state database cannot be used (database disk image is malformed)" in err and "Traceback" not in err

"""The subscriber list: address rules, CSV import where suppressions win, and the CLI."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import os
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.audience import subscribers
from pipeline.audience.subscribers import InvalidAddress, normalize_address
from pipeline.cli import cli
from pipeline.ledger import Ledger


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger(tmp_path / "state.db") as opened:
        yield opened


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("  Zhang.Wei@Example.COM ", "zhang.wei@example.com"),
        ("张伟 <zhang.wei@example.com>", "zhang.wei@example.com"),
        ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "zhang@example.com"),  # typed with a Chinese input method
        ("li.na@例子.中国", "li.na@xn--fsqu00a.xn--fiqs8s"),
        ("\u200bwang@example.org\u3000", "wang@example.org"),
        ("mailto:chen@example.net", "chen@example.net"),
        ("o'neil+digest@example.org", "o'neil+digest@example.org"),
    ],
)
def test_addresses_are_normalised(written, stored):
    assert normalize_address(written) == stored


@pytest.mark.parametrize(
    "written",
    [
        "",
        "zhang",
        "a@b@example.com",
        "zhang@localhost",
        "zhang wei@example.com",
        "zhang@exa_mple.com",
        ".zhang@example.com",
        "zhang@-example.com",
        "zhang@example.123",
        "张伟@example.com",
        "x" * 65 + "@example.com",
    ],
)
def test_invalid_addresses_are_refused_with_a_reason(written):
    with pytest.raises(InvalidAddress) as caught:
        normalize_address(written)
    assert str(caught.value)


def test_import_adds_updates_merges_and_reports_each_skip(ledger, tmp_path):
    subscribers.add(ledger, "li.na@example.net", "李娜")
    path = write_csv(
        tmp_path / "list.csv",
        "\ufeffemail,name,status\n"  # a BOM, as Excel writes it
        "zhang.wei@example.com,张伟,active\n"
        "Li.Na@Example.NET,李娜（新）,\n"
        "not-an-address,某人,active\n"
        "ZHANG.WEI@example.com,张伟（重复）,active\n"
        "former@example.org,已退订读者,unsubscribed\n"
        "wang@example.org,王芳,paused\n"
        "\n",
    )
    report = subscribers.import_csv(ledger, path)
    assert (report.added, report.updated, report.merged) == (2, 1, 1)
    assert [(line, reason.split(":")[0]) for line, _, reason in report.skipped] == [
        (4, "invalid address"),
        (7, "unknown status"),
    ]
    assert subscribers.get(ledger, "zhang.wei@example.com").name == "张伟"  # the first row of a duplicate wins
    assert subscribers.get(ledger, "li.na@example.net").name == "李娜（新）"
    assert subscribers.get(ledger, "former@example.org").status == "unsubscribed"
    assert subscribers.counts(ledger) == {"pending": 0, "active": 2, "unsubscribed": 1, "bounced": 0, "complained": 0}


def test_subscribed_and_confirmed_rows_import_as_active(ledger, tmp_path):
    # The email channel sends to these rows; an import that skipped them would drop the people.
    path = write_csv(
        tmp_path / "list.csv",
        "email,name,status\nzhang.san@example.com,张三,Confirmed\nli.si@example.net,李四,subscribed\n",
    )
    report = subscribers.import_csv(ledger, path)
    assert (report.added, report.skipped) == (2, [])
    assert [(s.email, s.status) for s in subscribers.active(ledger)] == [
        ("li.si@example.net", "active"),
        ("zhang.san@example.com", "active"),
    ]


def test_an_import_never_reactivates_a_suppressed_address(ledger, tmp_path):
    subscribers.add(ledger, "zhang.wei@example.com", "张伟")
    subscribers.unsubscribe(ledger, "zhang.wei@example.com", "one-click")
    subscribers.suppress(ledger, "gone@example.org", "bounced", method="bounce", reason="5.1.1 user unknown")
    path = write_csv(
        tmp_path / "list.csv", "email,name,status\nZhang.Wei@example.com,张伟,active\ngone@example.org,,active\n"
    )
    report = subscribers.import_csv(ledger, path)
    assert report.added == report.updated == 0
    assert sorted(reason.split(":")[0] for _, _, reason in report.skipped) == ["bounced", "unsubscribed"]
    assert "one-click" in report.skipped[0][2]
    assert subscribers.get(ledger, "zhang.wei@example.com").status == "unsubscribed"
    assert list(subscribers.active(ledger)) == []
    # A second import is just as firm, and a CSV suppression overrides an active row.
    subscribers.add(ledger, "li.na@example.net")
    write_csv(path, "email,status\nli.na@example.net,complained\nzhang.wei@example.com,active\n")
    second = subscribers.import_csv(ledger, path)
    assert second.updated == 1 and len(second.skipped) == 1
    assert subscribers.get(ledger, "li.na@example.net").status == "complained"


def test_a_stronger_suppression_replaces_a_weaker_one_only(ledger):
    assert subscribers.unsubscribe(ledger, "a@example.org", "page")
    assert subscribers.suppress(ledger, "a@example.org", "complained", method="complaint")
    assert not subscribers.suppress(ledger, "a@example.org", "bounced", method="bounce")
    assert not subscribers.unsubscribe(ledger, "a@example.org", "one-click")
    assert subscribers.get(ledger, "a@example.org").status == "complained"
    assert [e["event"] for e in subscribers.events(ledger, "a@example.org")] == ["unsubscribed", "complained"]


def test_a_signup_never_downgrades_an_active_address_and_confirm_activates(ledger):
    subscribers.add(ledger, "active@example.org", "读者")
    assert subscribers.request_signup(ledger, "active@example.org") == "none"
    assert subscribers.get(ledger, "active@example.org").status == "active"
    assert subscribers.request_signup(ledger, "new@example.org", "新读者") == "confirm"
    assert subscribers.get(ledger, "new@example.org").status == "pending"
    subscribers.unsubscribe(ledger, "left@example.org", "one-click")
    assert subscribers.request_signup(ledger, "left@example.org") == "confirm"
    assert subscribers.get(ledger, "left@example.org").status == "unsubscribed"  # until the owner confirms
    subscribers.suppress(ledger, "spam@example.org", "complained", method="complaint")
    assert subscribers.request_signup(ledger, "spam@example.org") == "none"
    assert subscribers.confirm(ledger, "new@example.org")
    assert not subscribers.confirm(ledger, "new@example.org")
    sub = subscribers.get(ledger, "new@example.org")
    assert (sub.status, sub.name) == ("active", "新读者")
    assert [(e["event"], e["method"]) for e in subscribers.events(ledger, "new@example.org")] == [
        ("pending", "web"),
        ("active", "confirm"),
    ]


def test_export_round_trips_through_import(ledger, tmp_path):
    subscribers.add(ledger, "zhang.wei@example.com", "张伟, PhD")
    subscribers.unsubscribe(ledger, "former@example.org", "cli")
    buffer = io.StringIO()
    assert subscribers.export_csv(ledger, buffer) == 2
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [
        ("former@example.org", "", "unsubscribed"),
        ("zhang.wei@example.com", "张伟, PhD", "active"),
    ]
    with Ledger(tmp_path / "other.db") as other:
        report = subscribers.import_csv(other, write_csv(tmp_path / "export.csv", buffer.getvalue()))
        assert report.added == 2 and not report.skipped
        assert subscribers.get(other, "former@example.org").suppressed


def saved_ago(path: Path, seconds: int) -> Path:
    """Give a file the modification time it would have if saved ``seconds`` ago."""
    moment = time.time() - seconds
    os.utime(path, (moment, moment))
    return path


def test_the_configured_list_does_not_undo_a_later_rename(ledger, tmp_path):
    # The email channel merges its CSV before every send (explicit=False); an import or
    # `add --name` made after the file was saved is newer and must stay.
    configured = saved_ago(
        write_csv(tmp_path / "subscribers.csv", "email,name\nzhang.wei@example.com,张伟\nli.na@example.net,\n"), 3600
    )
    subscribers.import_csv(ledger, configured)
    subscribers.import_csv(
        ledger, write_csv(tmp_path / "rename.csv", "email,name\nzhang.wei@example.com,张伟（博士）\n"), explicit=True
    )
    subscribers.add(ledger, "li.na@example.net", "李娜")
    report = subscribers.import_csv(ledger, configured)
    assert (report.updated, report.unchanged) == (0, 2)
    assert [(s.email, s.name) for s in subscribers.active(ledger)] == [
        ("li.na@example.net", "李娜"),
        ("zhang.wei@example.com", "张伟（博士）"),
    ]
    # Saved again after the rename, the configured file is the newer change and wins; an
    # empty stored name is always filled.
    write_csv(configured, "email,name\nzhang.wei@example.com,张伟老师\nwang.fang@example.org,王芳\n")
    subscribers.add(ledger, "wang.fang@example.org")
    saved_ago(configured, -5)
    report = subscribers.import_csv(ledger, configured)
    assert report.updated == 2
    assert subscribers.get(ledger, "zhang.wei@example.com").name == "张伟老师"
    assert subscribers.get(ledger, "wang.fang@example.org").name == "王芳"


def test_an_explicit_import_sets_names_even_from_an_old_file(ledger, tmp_path):
    subscribers.add(ledger, "zhang.wei@example.com", "张伟")
    old = saved_ago(write_csv(tmp_path / "backup.csv", "email,name\nzhang.wei@example.com,张伟（旧备份）\n"), 86400)
    assert subscribers.import_csv(ledger, old).unchanged == 1  # as the configured list: older than the row
    assert subscribers.import_csv(ledger, old, explicit=True).updated == 1
    assert subscribers.get(ledger, "zhang.wei@example.com").name == "张伟（旧备份）"


# the command line -----------------------------------------------------------------------------


def run(example: Path, *args: str):
    result = CliRunner().invoke(
        cli, ["--config", str(example / "config.yaml"), "subscribers", *args], catch_exceptions=False
    )
    return result


def test_cli_import_add_remove_list_count_export(example: Path, tmp_path: Path):
    result = run(example, "import", str(example / "subscribers.csv"))
    assert result.exit_code == 0, result.output
    assert "4 added, 0 updated, 0 unchanged, 0 skipped" in result.output
    assert (
        run(example, "add", "New.Reader@Example.org", "--name", "新读者").output.strip()
        == "new.reader@example.org: added (active), name 新读者"
    )
    assert "unsubscribed" in run(example, "remove", "zhang.wei@example.com").output
    listed = run(example, "list", "--status", "active").output
    assert "new.reader@example.org" in listed and "新读者" in listed and "zhang.wei" not in listed
    counted = dict(line.split() for line in run(example, "count").output.splitlines())
    assert counted["active"] == "3" and counted["unsubscribed"] == "2" and counted["total"] == "5"
    out = tmp_path / "out.csv"
    assert "exported 5 subscriber" in run(example, "export", str(out)).output  # "subscribers" or "subscriber(s)"
    assert out.read_bytes().startswith(b"\xef\xbb\xbfemail,name,status,source")
    assert run(example, "export").output.count("\n") == 6


def test_cli_export_to_a_file_is_excel_csv_utf8_and_imports_back(example: Path, tmp_path: Path):
    run(example, "import", str(example / "subscribers.csv"))
    run(example, "add", "wang.fang@example.org", "--name", "王芳，研究员")
    out = tmp_path / "名单.csv"
    run(example, "export", str(out))
    data = out.read_bytes()
    # The byte-order mark is what makes Excel read UTF-8 rather than GBK on Chinese Windows.
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {r["email"]: r["name"] for r in rows}["wang.fang@example.org"] == "王芳，研究员"
    stdout = run(example, "export").output
    assert not stdout.startswith("\ufeff") and stdout == data.decode("utf-8-sig")  # scripts get plain UTF-8
    # Round trip: forget everyone, import the exported file, and the list is as it was.
    for row in rows:
        run(example, "remove", "--forget", row["email"])
    assert "0 subscribers" in run(example, "export", str(tmp_path / "empty.csv")).output
    result = run(example, "import", str(out))
    assert result.exit_code == 0 and f"{len(rows)} added, 0 updated, 0 unchanged, 0 skipped" in result.output
    again = list(csv.DictReader(io.StringIO(run(example, "export").output)))
    assert [(r["email"], r["name"], r["status"]) for r in again] == [(r["email"], r["name"], r["status"]) for r in rows]


def test_cli_remove_of_an_unknown_address_says_so_and_keeps_the_suppression(example: Path, tmp_path: Path):
    output = run(example, "remove", "Nobody@Example.com").output
    assert "nobody@example.com: was not on the list" in output and "unsubscribed" in output and "--forget" in output
    path = write_csv(tmp_path / "later.csv", "email,name\nnobody@example.com,无名氏\n")
    assert "0 added, 0 updated, 0 unchanged, 1 skipped" in run(example, "import", str(path)).output
    assert run(example, "remove", "nobody@example.com").output.startswith(
        "nobody@example.com: already unsubscribed since "
    )
    run(example, "add", "zhang.san@example.com", "--name", "张三")
    assert (
        run(example, "remove", "zhang.san@example.com").output.strip()
        == "zhang.san@example.com: unsubscribed (was active)"
    )


def test_cli_list_shows_source_and_dates(example: Path):
    run(example, "import", str(example / "subscribers.csv"))
    run(example, "add", "wang.fang@example.org", "--name", "王芳")
    lines = run(example, "list").output.splitlines()
    assert lines[0].split() == ["email", "status", "source", "added", "changed", "name"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["wang.fang@example.org"][1:3] == ["active", "cli"] and rows["wang.fang@example.org"][-1] == "王芳"
    assert rows["zhang.wei@example.com"][1:3] == ["active", "csv:subscribers.csv"]
    assert all(len(rows[e][3]) == 10 and rows[e][3][4] == "-" for e in rows)  # dates as YYYY-MM-DD


def test_a_send_keeps_a_name_changed_by_import_after_the_list_was_saved(example: Path, tmp_path: Path):
    saved_ago(example / "subscribers.csv", 3600)
    path = write_csv(tmp_path / "rename.csv", "email,name\nzhang.wei@example.com,张伟教授\n")
    assert "4 added" in run(example, "import", str(example / "subscribers.csv")).output
    assert "1 updated" in run(example, "import", str(path)).output
    result = CliRunner().invoke(
        cli, ["--config", str(example / "config.yaml"), "issue", "2024-09-30", "--channel", "email", "--now"]
    )
    assert result.exit_code == 0, result.output
    with _ledger_of(example) as ledger:
        assert subscribers.get(ledger, "zhang.wei@example.com").name == "张伟教授"
    to_headers = [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)["To"]
        for f in (example / "outbox" / "maildir" / "new").iterdir()
    ]
    assert any("张伟教授" in str(header) and "zhang.wei@example.com" in str(header) for header in to_headers), (
        to_headers
    )


def _ledger_of(example: Path) -> Ledger:
    from pipeline.config import load_config

    return Ledger(load_config(example / "config.yaml").state_path)


def test_cli_refuses_to_add_a_suppressed_address_without_resubscribe(example: Path):
    run(example, "remove", "zhang.wei@example.com")
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--config", str(example / "config.yaml"), "subscribers", "add", "zhang.wei@example.com"]
    )
    assert result.exit_code != 0 and "unsubscribed" in str(result.exception)
    assert (
        run(example, "add", "zhang.wei@example.com", "--resubscribe").output.strip()
        == "zhang.wei@example.com: updated (active)"
    )


def test_cli_import_reports_skips_by_reason(example: Path, tmp_path: Path):
    run(example, "remove", "li.na@example.net")
    path = write_csv(tmp_path / "list.csv", "email,name\nli.na@example.net,李娜\nbroken@,坏地址\n")
    output = run(example, "import", str(path)).output
    assert "0 added, 0 updated, 0 unchanged, 2 skipped" in output
    assert "skipped 1: unsubscribed" in output and "skipped 1: invalid address" in output
    assert "line 3: broken@: invalid address" in output


# the state database ---------------------------------------------------------------------------


def test_the_state_database_and_its_wal_files_are_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask, under which SQLite alone would make them 644
    try:
        path = tmp_path / ".publish" / "state.db"
        with Ledger(path) as ledger:
            subscribers.add(ledger, "zhang.san@example.com", "张三")
            files = [path, path.with_name("state.db-wal"), path.with_name("state.db-shm")]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
        assert modes == {"state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600}
    finally:
        os.umask(old)


def test_an_existing_database_keeps_its_mode(tmp_path):
    path = tmp_path / "state.db"
    Ledger(path).close()
    path.chmod(0o640)  # shared with a group on purpose, e.g. a web server's
    with Ledger(path) as ledger:
        subscribers.add(ledger, "li.si@example.net", "李四")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_cli_add_takes_the_name_written_with_the_address(example: Path):
    """`subscribers add "赵磊 <zhao.lei@example.com>"` kept only the address."""
    output = run(example, "add", "赵磊 <Zhao.Lei@Example.com>").output.strip()
    assert output == "zhao.lei@example.com: added (active), name 赵磊"
    assert (
        run(example, "add", "Zhao Lei <zhao.lei@example.com>", "--name", "赵 磊").output.strip().endswith("name 赵 磊")
    )  # --name wins

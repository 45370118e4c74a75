"""The subscriber list: address rules, CSV import where suppressions win, and the CLI."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import subscribers
from pipeline.cli import cli
from pipeline.ledger import Ledger
from pipeline.subscribers import InvalidAddress, normalize_address


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


@pytest.mark.parametrize("written", ["", "zhang", "a@b@example.com", "zhang@localhost", "zhang wei@example.com", "zhang@exa_mple.com",
                                     ".zhang@example.com", "zhang@-example.com", "zhang@example.123", "张伟@example.com", "x" * 65 + "@example.com"])
def test_invalid_addresses_are_refused_with_a_reason(written):
    with pytest.raises(InvalidAddress) as caught:
        normalize_address(written)
    assert str(caught.value)


def test_import_adds_updates_merges_and_reports_each_skip(ledger, tmp_path):
    subscribers.add(ledger, "li.na@example.net", "李娜")
    path = write_csv(tmp_path / "list.csv", "\ufeffemail,name,status\n"  # a BOM, as Excel writes it
                     "zhang.wei@example.com,张伟,active\n"
                     "Li.Na@Example.NET,李娜（新）,\n"
                     "not-an-address,某人,active\n"
                     "ZHANG.WEI@example.com,张伟（重复）,active\n"
                     "former@example.org,已退订读者,unsubscribed\n"
                     "wang@example.org,王芳,paused\n"
                     "\n")
    report = subscribers.import_csv(ledger, path)
    assert (report.added, report.updated, report.merged) == (2, 1, 1)
    assert [(line, reason.split(":")[0]) for line, _, reason in report.skipped] == [(4, "invalid address"), (7, "unknown status")]
    assert subscribers.get(ledger, "zhang.wei@example.com").name == "张伟"  # the first row of a duplicate wins
    assert subscribers.get(ledger, "li.na@example.net").name == "李娜（新）"
    assert subscribers.get(ledger, "former@example.org").status == "unsubscribed"
    assert subscribers.counts(ledger) == {"pending": 0, "active": 2, "unsubscribed": 1, "bounced": 0, "complained": 0}



def test_subscribed_and_confirmed_rows_import_as_active(ledger, tmp_path):
    # The email channel sends to these rows; an import that skipped them would drop the people.
    path = write_csv(tmp_path / "list.csv", "email,name,status\nzhang.san@example.com,张三,Confirmed\nli.si@example.net,李四,subscribed\n")
    report = subscribers.import_csv(ledger, path)
    assert (report.added, report.skipped) == (2, [])
    assert [(s.email, s.status) for s in subscribers.active(ledger)] == [("li.si@example.net", "active"), ("zhang.san@example.com", "active")]

def test_an_import_never_reactivates_a_suppressed_address(ledger, tmp_path):
    subscribers.add(ledger, "zhang.wei@example.com", "张伟")
    subscribers.unsubscribe(ledger, "zhang.wei@example.com", "one-click")
    subscribers.suppress(ledger, "gone@example.org", "bounced", method="bounce", reason="5.1.1 user unknown")
    path = write_csv(tmp_path / "list.csv", "email,name,status\nZhang.Wei@example.com,张伟,active\ngone@example.org,,active\n")
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
    assert [(e["event"], e["method"]) for e in subscribers.events(ledger, "new@example.org")] == [("pending", "web"), ("active", "confirm")]


def test_export_round_trips_through_import(ledger, tmp_path):
    subscribers.add(ledger, "zhang.wei@example.com", "张伟, PhD")
    subscribers.unsubscribe(ledger, "former@example.org", "cli")
    buffer = io.StringIO()
    assert subscribers.export_csv(ledger, buffer) == 2
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [("former@example.org", "", "unsubscribed"), ("zhang.wei@example.com", "张伟, PhD", "active")]
    with Ledger(tmp_path / "other.db") as other:
        report = subscribers.import_csv(other, write_csv(tmp_path / "export.csv", buffer.getvalue()))
        assert report.added == 2 and not report.skipped
        assert subscribers.get(other, "former@example.org").suppressed


# the command line -----------------------------------------------------------------------------


def run(example: Path, *args: str):
    result = CliRunner().invoke(cli, ["--config", str(example / "config.yaml"), "subscribers", *args], catch_exceptions=False)
    return result


def test_cli_import_add_remove_list_count_export(example: Path, tmp_path: Path):
    result = run(example, "import", str(example / "subscribers.csv"))
    assert result.exit_code == 0, result.output
    assert "4 added, 0 updated, 0 unchanged, 0 skipped" in result.output
    assert run(example, "add", "New.Reader@Example.org", "--name", "新读者").output.strip() == "new.reader@example.org: added (active)"
    assert "unsubscribed" in run(example, "remove", "zhang.wei@example.com").output
    listed = run(example, "list", "--status", "active").output
    assert "new.reader@example.org" in listed and "新读者" in listed and "zhang.wei" not in listed
    counted = dict(line.split() for line in run(example, "count").output.splitlines())
    assert counted["active"] == "3" and counted["unsubscribed"] == "2" and counted["total"] == "5"
    out = tmp_path / "out.csv"
    assert "exported 5 subscriber" in run(example, "export", str(out)).output  # "subscribers" or "subscriber(s)"
    assert out.read_text(encoding="utf-8").startswith("email,name,status,source")
    assert run(example, "export").output.count("\n") == 6


def test_cli_refuses_to_add_a_suppressed_address_without_resubscribe(example: Path):
    run(example, "remove", "zhang.wei@example.com")
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(example / "config.yaml"), "subscribers", "add", "zhang.wei@example.com"])
    assert result.exit_code != 0 and "unsubscribed" in str(result.exception)
    assert run(example, "add", "zhang.wei@example.com", "--resubscribe").output.strip() == "zhang.wei@example.com: updated (active)"


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

"""The ledger refuses what is not a ledger and turns storage faults into a LedgerError that says
what to do; nothing recorded before a fault is lost.

Faults are real where the machine allows them: ``chattr +i`` (root ignores permission bits),
else ``chmod`` checked for effect; a full disk is a small tmpfs, or SQLite's own limit on
the file's size (``PRAGMA max_page_count``), which fails writes with SQLITE_FULL as a full
disk does.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from faults import fill, small_disk, unwritable

from pipeline.errors import LedgerError
from pipeline.ledger import Ledger

ISSUE = "2024-09-30"


def a_ledger_with_one_send(path: Path) -> None:
    with Ledger(path) as ledger:
        ledger.record(ISSUE, "email", "zhang.wei@example.com", "sent", response="250 OK")


# ---- what is not a ledger -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "the file is empty: 0 bytes"),
        ("张伟,zhang.wei@example.com\n".encode(), "the file is not an SQLite database"),
    ],
    ids=["空文件", "不是数据库"],
)
def test_a_file_that_is_not_a_ledger_is_refused_and_left_as_it_is(tmp_path, content, why):
    path = tmp_path / "state.db"
    path.write_bytes(content)
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert str(caught.value) == f"{path} is not a publish ledger ({why})"
    assert caught.value.hint == "restore it from a backup, or move it away to start a new ledger"
    assert path.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


def test_an_sqlite_file_without_the_ledger_tables_is_refused_and_not_written(tmp_path):
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE 订阅者 (email TEXT)")
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=r"is not a publish ledger \(an SQLite database without the ledger's tables"):
        Ledger(path)
    assert path.read_bytes() == before


def test_a_missing_ledger_is_created_private_and_whole(tmp_path):
    path = tmp_path / "state" / "state.db"
    a_ledger_with_one_send(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".new")] == []  # no draft left behind
    with Ledger(path) as ledger:
        assert ledger.counts(ISSUE, "email")["sent"] == 1


# ---- storage faults: one LedgerError, what was recorded stays -----------------------------


def test_a_full_database_says_so_and_keeps_what_was_recorded(tmp_path):
    path = tmp_path / "state.db"
    a_ledger_with_one_send(path)
    with Ledger(path) as ledger:
        pages = ledger.db.execute("PRAGMA page_count").fetchone()[0]
        ledger.db.execute(f"PRAGMA max_page_count={pages}")  # SQLITE_FULL on the next new page
        with pytest.raises(LedgerError) as caught:
            for n in range(2000):
                ledger.record(ISSUE, "email", f"读者{n}@example.com", "sent", response="250 OK " + "x" * 200)
        assert "is full" in str(caught.value) and "free some space" in (caught.value.hint or "")
        ledger.db.execute("PRAGMA max_page_count=1073741823")
        ledger.record(ISSUE, "email", "li.na@example.net", "sent")  # usable again once there is room
    with Ledger(path) as ledger:
        assert ledger.delivery(ISSUE, "email", "zhang.wei@example.com")["state"] == "sent"


def test_a_full_disk_says_so_and_keeps_what_was_recorded(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        path = disk / "state.db"
        a_ledger_with_one_send(path)
        with Ledger(path) as ledger:
            fill(disk)
            with pytest.raises(LedgerError) as caught:
                for n in range(5000):
                    ledger.record(ISSUE, "email", f"读者{n}@example.com", "sent", response="250 OK " + "x" * 500)
            assert "is full" in str(caught.value), caught.value
            (disk / "filler").unlink()
        with Ledger(path) as ledger:
            assert ledger.delivery(ISSUE, "email", "zhang.wei@example.com")["state"] == "sent"


def test_a_read_only_ledger_says_how_to_make_it_writable(tmp_path):
    path = tmp_path / "state.db"
    a_ledger_with_one_send(path)
    with unwritable(path), pytest.raises(LedgerError) as caught, Ledger(path) as ledger:
        ledger.record(ISSUE, "email", "li.na@example.net", "sent")
    assert "cannot be written" in str(caught.value) and "writable" in (caught.value.hint or "")
    with Ledger(path) as ledger:
        assert ledger.counts(ISSUE, "email")["sent"] == 1


def test_a_state_folder_that_cannot_be_written(tmp_path):
    folder = tmp_path / "state"
    folder.mkdir()
    with unwritable(folder), pytest.raises(LedgerError) as caught:
        Ledger(folder / "state.db")
    assert "cannot create the state database" in str(caught.value)
    assert "a folder the user that runs publish can write" in (caught.value.hint or "")

"""Subscriber files as spreadsheets save them: encodings, delimiters and headers, for the
import command and for the email channel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.audience import subscribers
from pipeline.audience.csvfile import CsvFileError, delimiter, read_rows
from pipeline.audience.recipients import iter_recipients
from pipeline.config import load_config
from pipeline.errors import ChannelError
from pipeline.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
ROWS = [("zhang.san@example.com", "张三"), ("li.si@example.net", "李四"), ("wang.wu@example.org", "王五（研究生）")]


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger(tmp_path / "state.db") as opened:
        yield opened


def table(separator: str = ",", header: str = "email,name") -> str:
    lines = [header.replace(",", separator)] + [f"{email}{separator}{name}" for email, name in ROWS]
    return "\r\n".join(lines) + "\r\n"  # Excel ends lines with CRLF


def publish(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command as a user runs it (its own process, so main()'s error handling is real)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


# encodings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "separator"),
    [("utf-8", ","), ("utf-8-sig", ","), ("utf-16", "\t"), ("utf-16-be", "\t")],
    ids=["utf-8", "utf-8 with BOM (Excel CSV UTF-8)", "utf-16 (Excel Unicode text)", "utf-16 big-endian"],
)
def test_utf8_and_utf16_files_import_with_their_chinese_names(ledger, tmp_path, encoding, separator):
    data = table(separator).encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # the byte-order mark that makes it unambiguous
    path = tmp_path / "subs.csv"
    path.write_bytes(data)
    report = subscribers.import_csv(ledger, path)
    assert (report.added, report.skipped) == (3, [])
    assert [(s.email, s.name) for s in subscribers.listing(ledger)] == sorted(ROWS)


def test_a_gbk_file_is_refused_at_the_line_of_its_first_bad_byte_and_nothing_is_imported(ledger, tmp_path):
    # The first data row is ASCII, so the first non-UTF-8 byte is on line 3.
    text = "email,name\r\nann@example.org,Ann\r\nzhang.san@example.com,张三\r\nli.si@example.net,李四\r\n"
    path = tmp_path / "subs.csv"
    path.write_bytes(text.encode("gbk"))
    with pytest.raises(CsvFileError) as caught:
        subscribers.import_csv(ledger, path)
    assert str(caught.value).startswith(f"{path}:3: not UTF-8 text")
    assert "CSV UTF-8" in str(caught.value) and "nothing was imported" in caught.value.hint
    assert list(subscribers.listing(ledger)) == []


def test_the_bad_line_is_right_far_into_a_large_file(tmp_path):
    # TextIOWrapper decodes 8 KB ahead; the line must be the bad byte's, not the reader's.
    lines = ["email,name"] + [f"reader{n}@example.org,读者{n}" for n in range(2000)]
    data = ("\n".join(lines) + "\n").encode() + "late@example.org,迟到\n".encode("gb18030")
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    rows = read_rows(path)
    with pytest.raises(CsvFileError, match=rf"big\.csv:{len(lines) + 1}: not UTF-8 text"):
        for _ in rows:
            pass


def test_bare_carriage_returns_count_as_line_ends(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(
        "email,name\rzhang.san@example.com,张三\rli.si@example.net,".encode() + "李四".encode("gbk") + b"\r"
    )
    with pytest.raises(CsvFileError, match=r"mac\.csv:3: not UTF-8"):
        list(read_rows(path))


def test_a_utf16_file_without_its_mark_is_refused_not_read_as_garbage(tmp_path):
    path = tmp_path / "subs.csv"
    path.write_bytes(table("\t").encode("utf-16-le"))
    with pytest.raises(CsvFileError, match=r"subs\.csv:1: a NUL character"):
        list(read_rows(path))


# delimiters and headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("email,name", ","),
        ("email;name", ";"),
        ("email\tname", "\t"),
        ('"email";"name, title"', ";"),
        ("mail;name", ";"),
        ("zhang.san@example.com;张三", ";"),
        ("email", ","),
        ("zhang.san@example.com", ","),
    ],
)
def test_the_delimiter_comes_from_the_first_line(line, expected):
    assert delimiter(line) == expected


def test_a_semicolon_file_imports(ledger, tmp_path):
    path = tmp_path / "subs.csv"
    path.write_text(table(";", "email;name"), encoding="utf-8-sig")
    report = subscribers.import_csv(ledger, path)
    assert report.added == 3 and not report.skipped
    assert subscribers.get(ledger, "wang.wu@example.org").name == "王五（研究生）"


def test_a_header_without_email_names_the_columns_found_and_the_expected_header(ledger, tmp_path):
    path = tmp_path / "subs.csv"
    path.write_text(table(";", "mail;姓名"), encoding="utf-8")
    with pytest.raises(CsvFileError) as caught:
        subscribers.import_csv(ledger, path)
    assert str(caught.value) == f"{path}:1: no `email` column in the first line (found columns: 'mail', '姓名')"
    assert "email;name;status" in caught.value.hint  # in the file's own delimiter
    assert list(subscribers.listing(ledger)) == []


def test_a_file_without_header_still_imports_when_it_starts_with_an_address(ledger, tmp_path):
    path = tmp_path / "subs.csv"
    path.write_text("zhang.san@example.com;张三\nli.si@example.net;李四;unsubscribed\n", encoding="utf-8")
    report = subscribers.import_csv(ledger, path)
    assert report.added == 2
    assert subscribers.get(ledger, "zhang.san@example.com").name == "张三"
    assert subscribers.get(ledger, "li.si@example.net").status == "unsubscribed"


def test_rows_report_the_line_they_start_on(tmp_path):
    path = tmp_path / "subs.csv"
    path.write_text(
        'email,name\n\nzhang.san@example.com,"张三\n（多行备注）"\nli.si@example.net,李四\n', encoding="utf-8"
    )
    assert [(line, row["email"]) for line, row in read_rows(path)] == [
        (3, "zhang.san@example.com"),
        (5, "li.si@example.net"),
    ]


def test_a_malformed_csv_names_its_line(tmp_path):
    path = tmp_path / "subs.csv"
    path.write_text('email,name\nzhang.san@example.com,"' + "长" * 200_000 + '"\n', encoding="utf-8")
    with pytest.raises(CsvFileError, match=r"subs\.csv:2: malformed CSV"):
        list(read_rows(path))


# the email channel reads the same files -------------------------------------------------------


def test_the_email_channel_names_the_line_of_a_bad_byte(example):
    (example / "subscribers.csv").write_bytes("email,name\nzhang.san@example.com,张三\n".encode("gbk"))
    config = load_config(example / "config.yaml")
    with Ledger(config.state_path) as ledger, pytest.raises(ChannelError) as caught:
        list(iter_recipients(config, config.channels["email"].options, ledger))
    assert str(caught.value).startswith(f"{example / 'subscribers.csv'}:2: not UTF-8 text")
    with Ledger(config.state_path) as ledger:
        assert list(subscribers.listing(ledger)) == []


def test_the_email_channel_reads_a_semicolon_utf16_file(example):
    (example / "subscribers.csv").write_bytes(table(";").encode("utf-16"))
    config = load_config(example / "config.yaml")
    with Ledger(config.state_path) as ledger:
        recipients = list(iter_recipients(config, config.channels["email"].options, ledger))
    assert {(r.email, r.name) for r in recipients} == set(ROWS)  # the merge lists them twice; the snapshot dedupes


def test_the_email_channel_wants_an_email_column(example):
    (example / "subscribers.csv").write_text(table(";", "mail;name"), encoding="utf-8")
    config = load_config(example / "config.yaml")
    with (
        Ledger(config.state_path) as ledger,
        pytest.raises(ChannelError, match=r"subscribers\.csv:1: no `email` column .*'mail', 'name'"),
    ):
        list(iter_recipients(config, config.channels["email"].options, ledger))


# as a user runs it ----------------------------------------------------------------------------


def test_cli_import_of_gbk_and_semicolon_files_fails_cleanly_then_utf8_works(tmp_path):
    assert publish("init", "nl", cwd=tmp_path).returncode == 0
    root = tmp_path / "nl"
    (root / "gbk.csv").write_bytes(table().encode("gbk"))
    result = publish("subscribers", "import", "gbk.csv", cwd=root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert 'gbk.csv:2: not UTF-8 text: in Excel use "Save As → CSV UTF-8"' in result.stderr
    (root / "semi.csv").write_text(table(";", "mail;name"), encoding="utf-8")
    result = publish("subscribers", "import", "semi.csv", cwd=root)
    assert (
        result.returncode == 1
        and "no `email` column in the first line (found columns: 'mail', 'name')" in result.stderr
    )
    assert publish("subscribers", "count", cwd=root).stdout.split()[-1] == "0"
    (root / "utf8.csv").write_text(table(";", "email;name"), encoding="utf-8-sig")
    result = publish("subscribers", "import", "utf8.csv", cwd=root)
    assert result.returncode == 0 and "3 added" in result.stdout
    assert "王五（研究生）" in publish("subscribers", "list", cwd=root).stdout

"""A state database that is damaged, read-only, in an unwritable folder or on a full disk:
`publish` says so on one line, ``error: … — …``, exits 1, and loses nothing.

Root ignores permission bits, so a file or folder is made unwritable with ``chattr +i`` (or
``chmod`` where that has an effect); a full disk is a small tmpfs. Where the machine allows
neither, the test is skipped with the reason.
"""

from __future__ import annotations

import mailbox
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from faults import fill, small_disk, unwritable

FIRST, SECOND = "2024-09-30", "2024-04-28"
NOT_A_LEDGER = "restore it from a backup, or move it away to start a new ledger"


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pipeline", "--config", str(root / "config.yaml"), *args]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def one_error(result: subprocess.CompletedProcess) -> str:
    """The single ``error: … — …`` line of a failed command (warnings about the issue may precede it)."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and " — " in errors[0], result.stderr
    assert result.stderr.rstrip().endswith(errors[0])
    return errors[0]


def mailed(root: Path) -> list[str]:
    if not (root / "outbox" / "maildir").exists():
        return []
    box = mailbox.Maildir(root / "outbox" / "maildir", factory=None, create=False)
    return sorted(box[key]["To"] for key in box.keys())


def checkpoint(path: Path) -> None:
    """Fold the WAL into the file, so that opening it needs new -wal and -shm files."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)


def set_state(root: Path, state: Path) -> None:
    data = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    data["paths"]["state"] = str(state)
    (root / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture
def sent_once(example: Path) -> Path:
    """The example with its first issue mailed (to the Maildir), so the ledger has records to lose."""
    assert run(example, "issue", FIRST, "--channel", "email").returncode == 0
    return example


def test_an_empty_state_db_is_refused_instead_of_starting_over(sent_once):
    state = sent_once / ".publish" / "state.db"
    checkpoint(state)
    state.write_bytes(b"")
    before = mailed(sent_once)
    for command in (["issue", SECOND, "--channel", "email"], ["issue", FIRST, "--channel", "email"], ["status"]):
        line = one_error(run(sent_once, *command))
        assert line == f"error: {state} is not a publish ledger (the file is empty: 0 bytes) — {NOT_A_LEDGER}"
    assert mailed(sent_once) == before and state.stat().st_size == 0  # nobody mailed, the file left to restore


def test_a_read_only_state_db_gives_one_line_and_a_later_run_sends_once(sent_once):
    state = sent_once / ".publish" / "state.db"
    checkpoint(state)
    before = mailed(sent_once)
    with unwritable(state):
        line = one_error(run(sent_once, "issue", SECOND, "--channel", "email"))
        assert "cannot be written" in line and "writable by the user that runs publish" in line
        assert mailed(sent_once) == before
    assert run(sent_once, "issue", SECOND, "--channel", "email").returncode == 0
    assert len(mailed(sent_once)) == 2 * len(before)  # each reader once per issue


def test_a_state_folder_that_cannot_be_written_gives_one_line(sent_once):
    state = sent_once / ".publish" / "state.db"
    checkpoint(state)
    with unwritable(state.parent):
        line = one_error(run(sent_once, "issue", SECOND, "--channel", "email"))
        assert f"make the folder {state.parent} writable" in line
        assert f"make the folder {state.parent} writable" in one_error(run(sent_once, "subscribers", "count"))


def test_a_new_state_folder_that_cannot_be_made_gives_one_line(example, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    set_state(example, locked / "state" / "state.db")
    with unwritable(locked):
        one_error(run(example, "issue", FIRST, "--channel", "email"))
        line = one_error(run(example, "subscribers", "count"))
        assert "cannot create the state database" in line and f"make {locked / 'state'}" in line
    assert mailed(example) == []


def test_a_full_disk_under_the_ledger_gives_one_line_and_loses_nothing(example, tmp_path):
    with small_disk(tmp_path / "disk", "512k") as disk:
        set_state(example, tmp_path / "disk" / "state.db")
        assert run(example, "issue", FIRST, "--channel", "email").returncode == 0
        before = mailed(example)
        filler = fill(disk)
        one_error(run(example, "issue", SECOND, "--channel", "email"))
        line = one_error(run(example, "subscribers", "add", "xin.duzhe@example.org"))
        assert "is full" in line and "free some space" in line
        assert mailed(example) == before
        filler.unlink()
        assert run(example, "issue", SECOND, "--channel", "email").returncode == 0
        assert len(mailed(example)) == 2 * len(before)
        assert "sent 3" in run(example, "status", FIRST).stdout

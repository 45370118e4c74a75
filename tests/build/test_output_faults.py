"""An output folder that cannot be written, or a full disk under it: `publish build` says so on one
line, exits 1, and the previous outputs stay as they were."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from faults import fill, small_disk, unwritable


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def one_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert " — " in line, line
    return line


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def edit_an_issue(root: Path) -> None:
    issue = root / "issues" / "2024-09-30" / "issue.yaml"
    issue.write_text(issue.read_text("utf-8").replace("title:", "title: 改过的", 1), encoding="utf-8")


def test_an_output_folder_that_cannot_be_written_gives_one_line_and_keeps_the_outputs(example):
    assert run(example, "build").returncode == 0
    before = snapshot(example / "public")
    edit_an_issue(example)
    with unwritable(example / "public" / "issues" / "2024-09-30"):
        line = one_error(run(example, "build"))
    assert "free some space or fix the permissions" in line
    assert snapshot(example / "public") == before


def test_a_full_disk_under_the_output_gives_one_line_and_keeps_the_outputs(example, tmp_path):
    shutil.copytree(example, tmp_path / "small" / "news")
    root = tmp_path / "small" / "news"
    with small_disk(tmp_path / "small" / "news" / "public", "2m") as public:
        assert run(root, "build").returncode == 0
        before = snapshot(public)
        edit_an_issue(root)
        (root / "issues" / "2024-09-30" / "images").mkdir(exist_ok=True)
        filler = fill(public)
        line = one_error(run(root, "build", "--force"))
        assert "No space left on device" in line or "disk" in line
        filler.unlink()
        after = snapshot(public)
        assert after == before
        assert list(public.rglob("*.tmp")) == []

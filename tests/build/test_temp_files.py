"""A killed build never leaves temp files among the outputs, and the next build removes its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import NOW, REPO, paper_md, write

from pipeline.atomic import Staging
from pipeline.build.builder import build
from pipeline.config import load_config


def dead_pid() -> int:
    """A pid that was just used and is no longer running."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def stray(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


def many_issues(root: Path, count: int) -> None:
    for n in range(count):
        folder = root / "issues" / f"2024-{1 + n // 28:02d}-{1 + n % 28:02d}"
        write(folder / "issue.yaml", f"title: 第 {n} 期\nsummary: 摘要。\n")
        for p in range(3):
            write(folder / f"0{p + 1}-paper.md", paper_md(f"Paper {n}-{p}", arxiv=f"2409.{14000 + n * 3 + p:05d}"))


def test_a_build_puts_its_temp_files_beside_the_output_folder_not_in_it(newsletter):
    root = newsletter()
    many_issues(root, 2)
    staging = Staging(root / "public")
    staging.add("issues/x/index.html", "内容".encode())
    [(tmp, target)] = staging.take()
    assert tmp.parent == root / ".public.staging" and target == root / "public" / "issues" / "x" / "index.html"
    tmp.unlink()


def test_the_next_build_removes_temp_files_of_dead_builds_and_keeps_a_live_ones(newsletter):
    root = newsletter()
    many_issues(root, 2)
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    spool = root / ".public.staging"
    dead, alive = dead_pid(), os.getppid()  # the parent of this test process is running
    (spool / f"{dead}-0.tmp").write_bytes(b"half")
    (spool / f"{alive}-0.tmp").write_bytes(b"in progress")
    write(root / "issues" / "2024-01-01" / "issue.yaml", "title: 改过的标题\n")
    build(config, now=NOW)
    assert sorted(p.name for p in spool.iterdir()) == [f"{alive}-0.tmp"]
    assert stray(root / "public") == []


def test_temp_files_an_older_version_left_in_the_outputs_are_removed_once(newsletter):
    root = newsletter()
    many_issues(root, 1)
    public = root / "public" / "issues" / "2024-01-01"
    public.mkdir(parents=True)
    dead = dead_pid()
    (public / f".index.html.{dead}-7.tmp").write_text("half")
    (root / "public" / f".rss.xml.{dead}-8.tmp").write_text("half")
    build(load_config(root / "config.yaml"), now=NOW)
    assert stray(root / "public") == []


def test_builds_killed_at_random_moments_leave_nothing_in_public_after_the_next_build(newsletter):
    root = newsletter()
    many_issues(root, 40)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pipeline", "build", "--force"]
    kills = 0
    for delay in (0.3, 0.5, 0.7, 0.9, 1.1, 1.4):
        child = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        if (root / "public").exists():
            assert stray(root / "public") == []  # never among the outputs, even mid-build
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert stray(root / "public") == []
    spool = root / ".public.staging"
    assert not spool.exists() or list(spool.iterdir()) == []
    assert kills >= 1  # the machine was not so fast that nothing was killed

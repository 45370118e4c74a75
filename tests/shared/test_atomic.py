"""Atomic writes: whole files or nothing, readable modes, and names that never clobber."""

from __future__ import annotations

import os
import stat

import pytest

from pipeline import atomic
from pipeline.atomic import Staging, write_atomic


def test_write_atomic_replaces_whole_file_with_ordinary_mode(tmp_path):
    target = tmp_path / "期刊" / "index.html"
    write_atomic(target, "旧内容".encode())
    write_atomic(target, "新内容 ✓".encode(), durable=False)
    assert target.read_text("utf-8") == "新内容 ✓"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["index.html"]  # no temp file left


def test_a_leftover_temp_file_is_never_overwritten(tmp_path, monkeypatch):
    """A temp file left by a killed process with the same pid keeps its bytes; a new name is used."""
    monkeypatch.setattr(atomic, "_names", iter(range(5)))
    leftover = tmp_path / f".feed.xml.{os.getpid()}-0.tmp"
    leftover.write_bytes(b"left by a crash")
    staging = Staging(tmp_path)
    staging.add("feed.xml", "订阅".encode())
    assert leftover.read_bytes() == b"left by a crash"
    assert staging.commit() == [tmp_path / "feed.xml"]
    assert (tmp_path / "feed.xml").read_text("utf-8") == "订阅"


def test_staging_writes_nothing_until_commit_and_discard_leaves_old_bytes(tmp_path):
    (tmp_path / "a.html").write_bytes(b"good")
    staging = Staging(tmp_path)
    staging.add("a.html", b"new")
    staging.add("issues/2024-09-30/index.html", b"page")
    assert (tmp_path / "a.html").read_bytes() == b"good"
    assert staging.read("a.html") == b"new"
    staging.discard()
    assert (tmp_path / "a.html").read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.html"]


def test_unchanged_file_is_not_rewritten(tmp_path):
    staging = Staging(tmp_path)
    staging.add("a.html", b"same")
    staging.commit()
    before = (tmp_path / "a.html").stat().st_mtime_ns
    staging.add("a.html", b"same")
    assert staging.commit() == []
    assert (tmp_path / "a.html").stat().st_mtime_ns == before


def test_failed_write_removes_its_temp_file(tmp_path, monkeypatch):
    def broken(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "_write_all", broken)
    with pytest.raises(OSError):
        Staging(tmp_path).add("a.html", b"x")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "b.html", b"x")
    assert list(tmp_path.iterdir()) == []

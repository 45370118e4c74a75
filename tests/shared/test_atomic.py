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


def test_a_staged_file_is_rewritten_in_place_from_the_kept_prefix(tmp_path):
    page = "<html>第 1 期：长上下文<!-- nav --><!-- /nav --></html>".encode()
    staging = Staging(tmp_path)
    staging.add("issues/2024-09-30/index.html", page)
    spooled = sorted(staging.spool.iterdir())
    kept = page.index(b"<!-- nav -->")
    for links in ("<a href='../2024-09-23/'>上一期</a>" * 3, ""):  # longer, then shorter: truncated
        new = page[:kept] + f"<!-- nav -->{links}<!-- /nav --></html>".encode()
        staging.rewrite("issues/2024-09-30/index.html", new, kept)
        assert sorted(staging.spool.iterdir()) == spooled  # the same temp file, no new one
        assert staging.read("issues/2024-09-30/index.html") == new
    staging.commit()
    assert (tmp_path / "issues/2024-09-30/index.html").read_bytes() == new
    assert list(staging.spool.iterdir()) == []


def test_rewriting_a_file_not_staged_stages_it_and_bytes_already_in_place_are_kept(tmp_path):
    staging = Staging(tmp_path)
    staging.add("a.html", b"<p>same</p>")
    staging.commit()
    before = (tmp_path / "a.html").stat().st_mtime_ns
    staging.rewrite("a.html", b"<p>new</p>", 3)  # not staged in this build: staged anew
    assert (tmp_path / "a.html").read_bytes() == b"<p>same</p>" and staging.read("a.html") == b"<p>new</p>"
    staging.rewrite("a.html", b"<p>same</p>", 3)  # staged, but back to what is in place: dropped
    assert staging.changed == [] and list(staging.spool.iterdir()) == []
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


def test_the_reading_rule_s_quick_answer_never_differs_from_the_full_rule(tmp_path, monkeypatch):
    """file_problem answers plain paths with one lstat per level (atomic._plainly_inside); on
    links at every level, pipes, `..`, relative spellings and an `inside` of "." it must say
    exactly what resolving both paths says."""
    import itertools
    from pathlib import Path

    root = tmp_path / "tree"
    (root / "in/a/b").mkdir(parents=True)
    (root / "out/d").mkdir(parents=True)
    for name in ("in/f", "in/a/f", "in/a/b/f", "out/f", "out/d/f"):
        (root / name).write_text("x")
    os.mkfifo(root / "in/fifo")
    links = {
        "in/to_out": "../out/f",
        "in/to_out_dir": "../out",
        "in/a/to_in": "../f",
        "in/a/to_b": "b",
        "in/dangling": "nope",
        "in/loop": "loop",
        "in/to_fifo": "fifo",
        "in_link": "in",
        "in/a/up": "..",
        "in/to_root": "/",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    monkeypatch.chdir(root)
    names = ["a", "b", "f", "fifo", "..", ".", "to_out", "to_out_dir", "to_in", "to_b", "dangling", "loop"]
    names += ["to_fifo", "up", "to_root", "missing"]
    insides = [root / "in", Path("in"), root / "in_link", Path("in_link"), Path("."), root / "in/a", root]
    prefixes = [str(root / "in"), "in", str(root / "in_link"), "/", "", "/etc"]
    cases = 0
    for inside, prefix in itertools.product(insides, prefixes):
        for depth in (0, 1, 2, 3):
            for parts in itertools.islice(itertools.product(names, repeat=depth), 120):
                path = Path(os.path.join(prefix, *parts)) if parts or prefix else Path(".")
                for folder in (False, True):
                    quick = atomic.file_problem(path, inside, folder)
                    with monkeypatch.context() as off:
                        off.setattr(atomic, "_plainly_inside", lambda *_: False)
                        full = atomic.file_problem(path, inside, folder)
                    assert quick == full, (path, inside, folder)
                    cases += 1
    assert cases > 5000
    assert atomic.file_problem(Path("/etc/passwd"), Path(".")) is not None

"""The memory of site-output parts (pipeline.build.parts): a part whose inputs are as before
is kept without reading its files once their stat is known, and any change to a file, by hand
or otherwise, makes it render again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import NOW, paper_md, write

from pipeline.build import parts
from pipeline.build.builder import build
from pipeline.build.parts import PartMemo
from pipeline.config import load_config
from pipeline.render.context import KEPT, RenderContext

PAGE = "tags/长上下文/index.html"


@pytest.fixture
def setup(newsletter, monkeypatch):
    """A context over an empty newsletter, a renderer that counts its calls, and reads counted."""
    root = newsletter()
    config = load_config(root / "config.yaml")
    ctx = RenderContext(config, NOW)
    rendered: list[str] = []
    reads: list[str] = []
    real_digest = parts._digest
    monkeypatch.setattr(parts, "_digest", lambda data: reads.append("read") or real_digest(data))

    def render(text: str):
        def make() -> dict[str, bytes]:
            rendered.append(text)
            return {PAGE: text.encode()}

        return make

    def commit(files: dict) -> None:  # what the build's staging does with a rendered part
        for relative, data in files.items():
            if data is not KEPT:
                path = config.output_dir / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)

    return config, ctx, render, rendered, reads, commit


def test_a_kept_part_is_read_until_its_file_settles_then_only_stat_ed(setup, monkeypatch) -> None:
    config, ctx, render, rendered, reads, commit = setup
    memo = PartMemo(ctx, "tags")
    files = memo.files("长上下文", b"inputs", render("第一版"))
    assert files == {PAGE: "第一版".encode()} and rendered == ["第一版"]
    commit(files)
    memo.save()

    # Just written: its times could hide a write in the same tick, so the bytes are checked.
    memo = PartMemo(ctx, "tags")
    reads.clear()
    assert memo.files("长上下文", b"inputs", render("第二版")) == {PAGE: KEPT}
    assert rendered == ["第一版"] and len(reads) == 1
    memo.save()
    assert memo.new["长上下文"][1][PAGE][1] is None  # not settled: no stat recorded

    monkeypatch.setattr(parts, "SETTLE_NS", 0)  # as if two seconds had passed
    memo = PartMemo(ctx, "tags")
    reads.clear()
    assert memo.files("长上下文", b"inputs", render("第二版")) == {PAGE: KEPT}
    assert len(reads) == 1  # checked once more, and now its stat is recorded
    memo.save()
    assert memo.new["长上下文"][1][PAGE][1] is not None

    memo = PartMemo(ctx, "tags")
    reads.clear()
    assert memo.files("长上下文", b"inputs", render("第二版")) == {PAGE: KEPT}
    assert reads == [] and rendered == ["第一版"]  # kept on its stat alone


def test_a_file_changed_after_its_stat_was_recorded_renders_the_part_again(setup, monkeypatch) -> None:
    config, ctx, render, rendered, reads, commit = setup
    monkeypatch.setattr(parts, "SETTLE_NS", 0)
    memo = PartMemo(ctx, "tags")
    commit(memo.files("长上下文", b"inputs", render("第一版")))
    memo.save()
    memo = PartMemo(ctx, "tags")
    assert memo.files("长上下文", b"inputs", render("x")) == {PAGE: KEPT}
    memo.save()
    page = config.output_dir / PAGE
    stat = page.stat()
    page.write_bytes("手改版".encode())  # same size, by hand
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its old mtime back
    memo = PartMemo(ctx, "tags")
    assert memo.files("长上下文", b"inputs", render("重新渲染")) == {PAGE: "重新渲染".encode()}
    page.unlink()
    memo.save()
    memo = PartMemo(ctx, "tags")
    assert memo.files("长上下文", b"inputs", render("再一次")) == {PAGE: "再一次".encode()}


def test_a_memory_from_before_stats_were_kept_still_keeps_its_parts(setup) -> None:
    config, ctx, render, rendered, reads, commit = setup
    memo = PartMemo(ctx, "tags")
    commit(memo.files("长上下文", b"inputs", render("第一版")))
    key, files = memo.new["长上下文"]
    memo.new = {"长上下文": [key, {path: kept[0] for path, kept in files.items()}]}  # {path: digest}
    memo.save()
    assert PartMemo(ctx, "tags").files("长上下文", b"inputs", render("x")) == {PAGE: KEPT}
    (config.output_dir / PAGE).write_bytes(b"changed")
    assert PartMemo(ctx, "tags").files("长上下文", b"inputs", render("新")) == {PAGE: "新".encode()}


def test_an_edit_rebuild_leaves_kept_tag_pages_untouched_and_equal_to_a_full_render(newsletter, monkeypatch) -> None:
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")
    monkeypatch.setattr(parts, "SETTLE_NS", 0)
    root = newsletter()
    for day in ("2024-05-01", "2024-05-08"):
        write(root / f"issues/{day}/issue.yaml", f'title: "{day} 期"\ntags: ["长上下文"]\n')
        write(root / f"issues/{day}/01-a.md", paper_md(f"Paper {day}", arxiv=None, tags="[甲标签, 乙标签]"))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    later = NOW.replace(month=2)
    entry = root / "issues/2024-05-08/01-a.md"
    entry.write_text(entry.read_text("utf-8") + "\n补充一句。\n", encoding="utf-8")
    build(config, now=later)  # checks the kept pages' bytes and records their stat
    page = config.output_dir / "tags/甲标签/index.html"
    before = page.stat().st_mtime_ns
    entry.write_text(entry.read_text("utf-8") + "\n又一句。\n", encoding="utf-8")
    build(config, now=later)
    assert page.stat().st_mtime_ns == before  # kept: neither read back nor written
    tag_files = sorted(p for p in (config.output_dir / "tags").rglob("*") if p.is_file())
    kept = {p: p.read_bytes() for p in tag_files}
    for memory in (config.state_dir / "build").glob("*-parts.json"):
        memory.unlink()
    build(config, now=later, force=True)
    assert {p: p.read_bytes() for p in tag_files} == kept
    assert Path(page).read_text("utf-8").count("Paper 2024-05-0") == 2


def test_the_drawn_link_preview_image_is_kept_and_drawn_again_when_its_file_changes(newsletter, monkeypatch) -> None:
    from pipeline.render import web

    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "一期"\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("Paper A", arxiv=None))
    config = load_config(root / "config.yaml")
    drawn: list[int] = []
    real = web.og_image_png
    monkeypatch.setattr(web, "og_image_png", lambda: drawn.append(1) or real())
    image = config.output_dir / "og-image.png"
    build(config, now=NOW)
    assert len(drawn) == 1 and image.read_bytes() == real()
    build(config, now=NOW, force=True)  # every output rendered again, the image kept
    assert len(drawn) == 1
    image.write_bytes(b"not a png")
    build(config, now=NOW, force=True)
    assert len(drawn) == 2 and image.read_bytes() == real()
    image.unlink()
    build(config, now=NOW)
    assert len(drawn) == 3 and image.read_bytes() == real()

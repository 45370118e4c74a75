"""Golden outputs of a whole build of tests/fixtures/golden.

When an output changes on purpose, regenerate the expected files and review the diff:

    UPDATE_GOLDEN=1 python -m pytest tests/build/test_golden.py
    git diff tests/fixtures/golden/expected
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, NOW

from pipeline.build.builder import build
from pipeline.config import load_config

GOLDEN = FIXTURES / "golden"
EXPECTED = GOLDEN / "expected"
EXPECTED_YEAR_PAGES = GOLDEN / "expected-year-pages"  # the tag pages when every tag has year pages


def built_files(tmp_path: Path) -> dict[str, bytes]:
    root = tmp_path / "golden"
    shutil.copytree(GOLDEN, root, ignore=shutil.ignore_patterns("expected*"))
    build(load_config(root / "config.yaml"), now=NOW)
    out = root / "public"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_build_matches_golden_outputs(tmp_path):
    matches_golden(built_files(tmp_path), EXPECTED)


def test_tag_year_pages_match_their_golden_copies(tmp_path, monkeypatch):
    from pipeline.render import pages

    monkeypatch.setattr(pages, "TAG_PAGE_LINES", 0)  # every tag: its own page and one per year
    files = built_files(tmp_path)
    matches_golden({name: data for name, data in files.items() if name.startswith("tags/")}, EXPECTED_YEAR_PAGES)


def matches_golden(files: dict[str, bytes], expected_folder: Path) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(expected_folder, ignore_errors=True)
        for name, data in files.items():
            (expected_folder / name).parent.mkdir(parents=True, exist_ok=True)
            (expected_folder / name).write_bytes(data)
        pytest.skip(
            f"golden outputs regenerated; review `git diff {expected_folder.relative_to(FIXTURES.parent.parent)}`"
        )
    expected = {
        p.relative_to(expected_folder).as_posix(): p.read_bytes()
        for p in sorted(expected_folder.rglob("*"))
        if p.is_file()
    }
    assert sorted(files) == sorted(expected), "the set of output files changed"
    for name, data in files.items():
        assert data == expected[name], (
            f"{name} differs from its golden copy (UPDATE_GOLDEN=1 to regenerate after review)"
        )


def test_build_is_byte_identical_when_repeated(tmp_path):
    first = built_files(tmp_path / "a")
    second = built_files(tmp_path / "b")
    assert first == second

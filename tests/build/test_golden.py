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


def built_files(tmp_path: Path) -> dict[str, bytes]:
    root = tmp_path / "golden"
    shutil.copytree(GOLDEN, root, ignore=shutil.ignore_patterns("expected"))
    build(load_config(root / "config.yaml"), now=NOW)
    out = root / "public"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_build_matches_golden_outputs(tmp_path):
    files = built_files(tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(EXPECTED, ignore_errors=True)
        for name, data in files.items():
            (EXPECTED / name).parent.mkdir(parents=True, exist_ok=True)
            (EXPECTED / name).write_bytes(data)
        pytest.skip("golden outputs regenerated; review `git diff tests/fixtures/golden/expected`")
    expected = {p.relative_to(EXPECTED).as_posix(): p.read_bytes() for p in sorted(EXPECTED.rglob("*")) if p.is_file()}
    assert sorted(files) == sorted(expected), "the set of output files changed"
    for name, data in files.items():
        assert data == expected[name], (
            f"{name} differs from its golden copy (UPDATE_GOLDEN=1 to regenerate after review)"
        )


def test_build_is_byte_identical_when_repeated(tmp_path):
    first = built_files(tmp_path / "a")
    second = built_files(tmp_path / "b")
    assert first == second

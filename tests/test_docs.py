"""The README documents what the code declares."""

from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
from update_readme import updated  # noqa: E402


def test_config_reference_matches_the_field_tables():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert updated(text) == text, "README's configuration reference is stale: run python scripts/update_readme.py"


def test_readme_quick_start_has_exactly_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [block for block in quick.split("```sh\n")[1:]]
    assert len(commands) == 2
    assert "publish issue 2024-09-30" in commands[0]
    assert "tests/run.sh" in commands[1]
    assert "tests/run.sh" in (REPO / ".ci" / "run").read_text()

"""The README documents what the code declares."""

from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
from update_readme import updated


def test_config_reference_matches_the_field_tables():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert updated(text) == text, "README's configuration reference is stale: run python scripts/update_readme.py"


def test_readme_quick_start_has_exactly_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = list(quick.split("```sh\n")[1:])
    assert len(commands) == 2
    assert "publish issue 2024-09-30" in commands[0]
    assert "tests/run.sh" in commands[1]
    assert "tests/run.sh" in (REPO / ".ci" / "run").read_text()


def test_readme_links_resolve_inside_the_repository():
    """A clone has every document the README points to (no links out of the tree)."""
    import re

    text = (REPO / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)  # examples, not links
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t and not t.startswith("#")]
    assert "docs/FORMAT.md" in targets
    for target in targets:
        path = (REPO / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(REPO) and path.exists(), f"README links to {target}, which a clone does not have"

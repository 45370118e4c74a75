"""The README's commands as a new editor runs them on a fresh newsletter, offline: `init`, `new`,
the README's own `publish add` example (against a local server that answers as the arXiv API
does), `import` of the two seed digests, then `check`, `build`, `bib`, `status` and
`subscribers count`, each through the real `publish` command."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO
from test_arxiv import FakeArxiv, with_arxiv


def publish(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def readme_command(starting: str) -> list[str]:
    """The arguments of the README's example command that starts with ``starting``."""
    text = (REPO / "README.md").read_text("utf-8")
    [command] = sorted(set(re.findall(rf"`({re.escape(starting)}[^`]*)`", text)), key=len)[-1:]
    return shlex.split(command)[1:]


@pytest.fixture
def api():
    server = FakeArxiv()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_new_editor_follows_the_readme_offline(tmp_path: Path, api: FakeArxiv):
    assert publish(tmp_path, "init", "news").returncode == 0
    news = tmp_path / "news"
    config = news / "config.yaml"
    config.write_text(with_arxiv(config.read_text("utf-8"), api.url), encoding="utf-8")

    add = readme_command("publish add ")
    day = add[1]
    assert publish(news, "new", day).returncode == 0
    added = publish(news, *add)
    assert added.returncode == 0, added.stderr
    assert {p.name for p in (news / "issues" / day).glob("0*.md")} >= {"01-example.md"}
    assert len(list((news / "issues" / day).glob("0*.md"))) == 3  # the example entry and the two papers

    for digest in sorted((FIXTURES / "digests").glob("00*_*.txt")):  # the two seeds: one issue each
        imported = publish(news, "import", str(digest))
        assert imported.returncode == 0, imported.stderr

    checked = publish(news, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert " 0 errors" in checked.stdout
    assert publish(news, "build").returncode == 0
    assert (news / "public" / "index.html").is_file()
    bib = publish(news, "bib", day)
    assert bib.returncode == 0 and "2409.14274" in bib.stdout and "2409.14381" in bib.stdout
    assert publish(news, "status").returncode == 0
    assert publish(news, "subscribers", "count").returncode == 0

"""`publish add` and drafts: a paper counts as featured once an issue that is meant to go out has
it, not because the example entry of a scaffolded draft names it (against a fake arXiv API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BASIC_CONFIG
from test_arxiv import FakeArxiv, with_arxiv

from pipeline.authoring import arxiv
from pipeline.authoring.add import add_papers
from pipeline.authoring.scaffold import new_issue
from pipeline.config import load_config


@pytest.fixture
def api():
    server = FakeArxiv()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def root(newsletter, api, monkeypatch) -> Path:
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)
    return newsletter(with_arxiv(BASIC_CONFIG, api.url))


def featuring_2409_14274(config, day: str) -> Path:
    """A scaffolded issue whose example entry is the paper the fake API knows (2409.14274)."""
    folder = new_issue(config, day)
    entry = folder / "01-example.md"
    entry.write_text(entry.read_text("utf-8").replace("1706.03762", "2409.14274"), encoding="utf-8")
    return folder


def test_the_readme_example_of_publish_add_works_on_a_fresh_scaffold(root: Path, api: FakeArxiv) -> None:
    """The README adds 2409.14274: the example entry of `publish new` is another paper."""
    config = load_config(root / "config.yaml")
    new_issue(config, "2024-10-07")
    report = add_papers(config, "2024-10-07", ["2409.14274"])
    assert [r.error for r in report.results] == [None]


def test_a_draft_scaffold_does_not_block_its_example_paper(root: Path, api: FakeArxiv) -> None:
    config = load_config(root / "config.yaml")
    featuring_2409_14274(config, "2024-09-30")  # a draft
    report = add_papers(config, "2024-10-07", ["2409.14274"])
    assert [r.error for r in report.results] == [None]
    assert report.results[0].path == root / "issues/2024-10-07/01-proof-automation-large-language-models.md"
    assert api.asked == [["2409.14274"]]


def test_the_same_issue_still_refuses_a_paper_it_has(root: Path, api: FakeArxiv) -> None:
    config = load_config(root / "config.yaml")
    featuring_2409_14274(config, "2024-09-30")
    report = add_papers(config, "2024-09-30", ["2409.14274v2"])
    assert [r.error for r in report.results] == ["2409.14274v2: already in issue 2024-09-30 (01-example.md)"]
    assert api.requests == []


def test_a_published_issue_still_needs_again(root: Path, api: FakeArxiv) -> None:
    config = load_config(root / "config.yaml")
    folder = featuring_2409_14274(config, "2024-09-30")
    (folder / "issue.yaml").write_text(
        (folder / "issue.yaml").read_text("utf-8").replace("draft: true", "draft: false"), encoding="utf-8"
    )
    refused = add_papers(config, "2024-10-07", ["2409.14274"]).results[0]
    assert (refused.error, refused.hint) == (
        "2409.14274: already featured in issue 2024-09-30",
        "pass --again to add it anyway",
    )
    assert api.requests == []
    assert add_papers(config, "2024-10-07", ["2409.14274"], again=True).results[0].error is None
